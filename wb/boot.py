"""Stage 4, boot: an initramfs with the guest init, the plan and the tests, in QEMU.

The host owns every deadline: a guest that panics, wedges or stops before its
plan is done is killed and reported with its last console lines, never waited
on forever.
"""

import os
import re
import selectors
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass

from .errors import WorkbenchError
from .util import run, write_atomic

PANIC_MARKERS = ("Kernel panic - not syncing", "---[ end Kernel panic")
# The guest init's last line: the plan ran to its end.
END_MARKER = re.compile(r"^# init: done, \d+ failed", re.M)
# How long a guest that printed END_MARKER gets to power off by itself.
POWER_OFF_GRACE_S = 10


def _newc(name, mode, data=b"", rdev=(0, 0), ino=1):
    """One record of a newc cpio archive, the format the kernel unpacks."""
    name_b = name.encode() + b"\0"
    fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0)
    hdr = b"070701" + b"".join(b"%08X" % f for f in fields)
    out = hdr + name_b
    out += b"\0" * (-len(out) % 4)
    out += data + b"\0" * (-len(data) % 4)
    return out


def make_initramfs(path, init, plan, files, splats=""):
    """init: path of the static PID 1; plan: text; files: {guest path: host
    path}; splats: the text of /splats, the patterns of the dmesg test."""
    entries = [("dev", 0o040755), ("proc", 0o040755), ("sys", 0o040755),
               ("tmp", 0o041777), ("bin", 0o040755)]
    blob = b""
    ino = 1
    for name, mode in entries:
        blob += _newc(name, mode, ino=ino)
        ino += 1
    blob += _newc("dev/console", 0o020600, rdev=(5, 1), ino=ino)
    ino += 1
    with open(init, "rb") as f:
        blob += _newc("init", 0o100755, f.read(), ino=ino)
    ino += 1
    blob += _newc("plan", 0o100644, plan.encode(), ino=ino)
    ino += 1
    blob += _newc("splats", 0o100644, splats.encode(), ino=ino)
    for guest_path in sorted(files):
        ino += 1
        with open(files[guest_path], "rb") as f:
            blob += _newc(guest_path.lstrip("/"), 0o100755, f.read(), ino=ino)
    blob += _newc("TRAILER!!!", 0, ino=0)
    blob += b"\0" * (-len(blob) % 512)
    write_atomic(path, blob)


def build_init(layout, arch, out_dir):
    """Compile guest/init.c statically for arch, if it changed."""
    src = os.path.join(layout.guest, "init.c")
    out = os.path.join(out_dir, f"init-{arch.name}")
    if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(src):
        return out
    os.makedirs(out_dir, exist_ok=True)
    run([arch.cross_compile + "gcc", "-static", "-O2", "-Wall", "-Wextra", "-Werror",
         "-o", out + ".tmp", src], f"compiling the guest init for {arch.name}")
    os.replace(out + ".tmp", out)
    return out


@dataclass
class BootResult:
    status: str                 # "done", "panic", "timeout", "died"
    console: str
    seconds: float

    def last_lines(self, n=25):
        return "\n".join(self.console.rstrip("\n").splitlines()[-n:])


def accel_args(accel):
    """QEMU's -accel for a user's ACCEL= (empty: QEMU's default), e.g.
    tcg,thread=single, which runs every vCPU on one host thread."""
    if not accel:
        return ()
    if not re.fullmatch(r"(tcg|kvm)(,[a-z0-9-]+=[A-Za-z0-9.-]+)*", accel):
        raise WorkbenchError(
            f"ACCEL={accel} is not a QEMU accelerator with options: give e.g. "
            "ACCEL=tcg,thread=single (every vCPU on one host thread) or ACCEL=kvm")
    return ("-accel", accel)


def qemu_command(arch, image, initrd, cmdline=(), smp=None, mem="2G", extra=()):
    """The QEMU command line that boots image with initrd: smp defaults to the
    arch's, extra comes after the arch's own qemu_args."""
    cmd = [arch.qemu, "-M", arch.machine, "-cpu", arch.cpu]
    if arch.bios:
        cmd += ["-bios", arch.bios]
    append = [f"console={arch.console}", f"earlycon={arch.earlycon}", "panic=-1",
              "rdinit=/init"] + list(arch.cmdline) + list(cmdline)
    cmd += ["-smp", str(smp or arch.smp), "-m", mem, "-nic", "none", "-no-reboot", "-display", "none",
            "-monitor", "none", "-serial", "stdio", "-kernel", image, "-initrd", initrd,
            "-append", " ".join(append)] + list(arch.qemu_args) + list(extra)
    return cmd


def boot(cmd, log_path, timeout, on_line=None):
    """Run QEMU until the guest powers off, panics or runs out of time.

    QEMU runs in its own session, so it is killed here on every way out,
    Ctrl-C included, and the console log is renamed into place either way.
    """
    if not shutil.which(cmd[0]):
        raise WorkbenchError(f"{cmd[0]} is not installed; run 'make setup'")
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    start = time.monotonic()
    deadline = start + timeout
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    chunks, pending, status, panic_at, done_at = [], b"", None, None, None
    try:
        with open(log_path + ".partial", "wb") as log, selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while True:
                now = time.monotonic()
                if panic_at and now > panic_at + 5:
                    status = "panic"
                    break
                # The plan ran to its end, but a machine without a way to
                # power off (x86 without ACPI) only halts: stop it here.
                if done_at and now > done_at + POWER_OFF_GRACE_S:
                    break
                if now > deadline:
                    status = "timeout"
                    break
                if not sel.select(timeout=min(1.0, deadline - now)):
                    continue
                data = os.read(proc.stdout.fileno(), 65536)
                if not data:
                    break
                log.write(data)
                log.flush()
                chunks.append(data)
                pending += data
                *lines, pending = pending.split(b"\n")
                for raw in lines:
                    line = raw.decode(errors="replace").rstrip("\r")
                    if on_line:
                        on_line(line)
                    if any(m in line for m in PANIC_MARKERS) and not panic_at:
                        panic_at = time.monotonic()
                    if END_MARKER.match(line) and not done_at:
                        done_at = time.monotonic()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        if os.path.exists(log_path + ".partial"):
            os.replace(log_path + ".partial", log_path)
    console = b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")
    if status is None:
        if panic_at or any(m in console for m in PANIC_MARKERS):
            status = "panic"
        elif END_MARKER.search(console):
            status = "done"
        else:
            status = "died"
    return BootResult(status, console, time.monotonic() - start)


def explain(result, what, log_path, timeout):
    """A one-paragraph account of a boot that did not finish its plan."""
    why = {"panic": "the guest kernel panicked",
           "timeout": f"the guest did not finish within {timeout} s and was killed",
           "died": "QEMU exited before the guest finished its plan"}.get(
               result.status, "the guest did not print the KTAP header")
    return (f"{what}: {why}. Console log: {log_path}\n--- last console lines ---\n"
            f"{result.last_lines()}")
