"""Small helpers every stage uses: progress lines, atomic files, commands."""

import hashlib
import os
import subprocess
import sys
import tempfile
import time

from .errors import WorkbenchError

_T0 = time.monotonic()


def switched_off(value):
    """A make variable set to a word that means off: 0, no, n, off, false."""
    return (value or "").strip().lower() in ("0", "no", "n", "off", "false")


def switched_on(value):
    """A make variable that is set, and not to a word that means off."""
    return bool((value or "").strip()) and not switched_off(value)


def elapsed():
    s = int(time.monotonic() - _T0)
    return f"{s // 60:d}:{s % 60:02d}"


def progress(stage, message):
    """One line per step, with the time since the command started."""
    print(f"[{elapsed():>6}] {stage:<8} {message}", flush=True)


def write_atomic(path, data):
    """Write a file so that readers see the old content or the new, never half."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".",
                               prefix="." + os.path.basename(path) + ".")
    try:
        with os.fdopen(fd, mode) as f:
            f.write(data)
        # mkstemp makes 0600 files; results and patches are for everyone to read.
        os.chmod(tmp, 0o644 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tail(path, lines=25):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def run(cmd, what, log=None, cwd=None, env=None, check=True):
    """Run a command; on failure raise a WorkbenchError naming `what`.

    With `log`, output goes to that file and its tail is quoted on failure, so
    long builds stay quiet on success and explain themselves on failure.
    """
    full_env = dict(os.environ, **(env or {}))
    try:
        if log:
            os.makedirs(os.path.dirname(log), exist_ok=True)
            with open(log, "a") as f:
                f.write("$ " + " ".join(map(str, cmd)) + "\n")
                f.flush()
                proc = subprocess.run(cmd, cwd=cwd, env=full_env, stdout=f,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            out = ""
        else:
            proc = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True,
                                  text=True, stdin=subprocess.DEVNULL)
            out = proc.stdout + proc.stderr
    except FileNotFoundError:
        raise WorkbenchError(f"{what}: command not found: {cmd[0]}",
                             "Run 'make setup' to install the workbench's dependencies.")
    if check and proc.returncode != 0:
        detail = tail(log) if log else out[-3000:]
        where = f"\nFull log: {log}" if log else ""
        raise WorkbenchError(f"{what} failed (exit {proc.returncode}).\n"
                             f"--- last lines ---\n{detail.rstrip()}{where}")
    return proc.returncode, out


def read_table(path, nfields, usage):
    """[(lineno, fields)] of a data file: '#' comments and blank lines skipped,
    each line split on white space into exactly nfields, the last taking the
    rest of the line.  A short line is an error naming file:line and usage.
    A missing file is an empty table."""
    rows = []
    try:
        with open(path) as f:
            for lineno, text in enumerate(f, 1):
                text = text.strip()
                if not text or text.startswith("#"):
                    continue
                fields = text.split(None, nfields - 1)
                if len(fields) < nfields:
                    raise WorkbenchError(f"{path}:{lineno}: expected '{usage}'")
                rows.append((lineno, fields))
    except FileNotFoundError:
        pass
    return rows


def die(err):
    print(f"error: {err}", file=sys.stderr, flush=True)
    sys.exit(1)
