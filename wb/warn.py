"""make check, W=1 and sparse: the series adds no compiler or sparse warning.

For each target, the directories the series changes (touched_dirs says which)
are compiled with `make W=1 C=1 DIR/` on base and on patched, and every
warning patched has that base does not fails, naming the patches that change
the warning's file.  Warnings are compared on file, tool and message: line
and column numbers move with every patch, and so do other numbers in
messages (frame sizes, array bounds), so they are left out.  Multiplicity
counts: a header warning printed once more than on base is a new one.

Each kernel compiles in its own object directory, `.out-<config>+w1`, a
direct child of its tree like the others (layout.out), so ccache hits
across base and patched; `make prepare` first, then the directories' objects
are removed, so that both kernels compile exactly the same set of files and
print every warning, whatever the directory held before.
"""

import collections
import os
import re
import shutil
from dataclasses import dataclass

from . import build
from .arches import target as get_target
from .errors import WorkbenchError
from .results import Record
from .util import progress, run

OUT_SUFFIX = "+w1"
# The kernel test robot's sparse flags: name the tool on every line, and
# never stop after 100 warnings in a noisy file.
SPARSE_FLAGS = "-fdiagnostic-prefix -fmax-warnings=unlimited -fmax-errors=unlimited"
# kbuild's words when scripts/checker-valid.sh rejects sparse: C= is then
# dropped and nothing is checked.  Debian bookworm's sparse 0.6.4 lacks
# __typeof_unqual__, which 7.2 needs.
REFUSED = re.compile(r"C=\d specified, but (\S+) is not available or not up to date")

DIAG = re.compile(r"^(?P<file>[^\s:][^:]*?):(?P<line>\d+):(?:\d+:)? (?P<sparse>sparse: ?)?"
                  r"(?P<rest>.*)$")
# "cc1: warning: ...", "foo.o: warning: objtool: ...": no line number.
FILE_DIAG = re.compile(r"^(?P<file>[^\s:]+): (?P<sev>warning|error): (?P<msg>.*)$")
SEVERITY = re.compile(r"^(warning|error): (.*)$")
NUMBER = re.compile(r"\b\d+\b")

# A file under one of these is compiled as part of ARCH's KVM (virt/kvm is
# built by arch/<arch>/kvm/Makefile, with objects in virt/kvm/ of O=).
KVM_GENERIC = ("virt/kvm/",)
SOURCES = (".c", ".S")


@dataclass
class Diag:
    file: str           # relative to the source tree
    line: int
    tool: str           # "gcc" or "sparse"
    severity: str       # "warning" or "error"
    message: str        # with sparse's "expected/got" lines appended
    text: str           # the first line, as printed

    @property
    def key(self):
        return (self.file, self.tool, self.severity, NUMBER.sub("N", self.message))

    @property
    def check(self):
        return "sparse" if self.tool == "sparse" else "gcc W=1"


def norm_path(path):
    """'../arch/x/kvm/mmu.c' (kbuild with O= a child of the tree) -> 'arch/x/kvm/mmu.c'."""
    while path.startswith(("../", "./")):
        path = path.split("/", 1)[1]
    return path


def diagnostics(text):
    """[Diag] of a build log: gcc's and sparse's warnings and errors.

    Notes, "In function" lines and make's own messages are not diagnostics.
    sparse's indented continuation lines ("expected ...", "got ...") are
    appended to the warning at the same position, even when -j interleaves.
    """
    out, at = [], {}
    for raw in text.splitlines():
        m = DIAG.match(raw)
        if m:
            where = (m.group("file"), m.group("line"))
            rest = m.group("rest")
            sev = SEVERITY.match(rest)
            if sev:
                d = Diag(norm_path(m.group("file")), int(m.group("line")),
                         "sparse" if m.group("sparse") else "gcc", sev.group(1),
                         sev.group(2).strip(), raw.strip())
                out.append(d)
                at[where] = d
            elif rest[:1].isspace() and where in at:
                at[where].message += " | " + rest.strip()
            continue
        m = FILE_DIAG.match(raw)
        if m:
            out.append(Diag(norm_path(m.group("file")), 0, "gcc", m.group("sev"),
                            m.group("msg").strip(), raw.strip()))
    return out


def new_diagnostics(base, patched):
    """The diagnostics of patched beyond base's, per key (file, tool, message)."""
    excess = collections.Counter(d.key for d in patched)
    excess.subtract(collections.Counter(d.key for d in base))
    new = []
    for d in patched:
        if excess[d.key] > 0:
            new.append(d)
            excess[d.key] -= 1
    return new


def touched_dirs(paths, kernel_arch):
    """The directories to compile with W=1 C=1 for an arch, given the files
    the series changes (sorted, with a trailing slash).

    Anything of KVM -- arch/<arch>/kvm/**, virt/kvm/**, and every header
    (.h) the arch can see -- is checked by compiling arch/<arch>/kvm/, which
    also compiles virt/kvm and includes the headers.  Another C or assembly
    file is checked by compiling its own directory.  Documentation, tools/,
    Kconfig and other architectures' files compile nothing here.
    """
    kvm = f"arch/{kernel_arch}/kvm/"
    dirs = set()
    for p in paths:
        if p.startswith(("tools/", "Documentation/", "scripts/")):
            continue
        if p.startswith("arch/") and not p.startswith(f"arch/{kernel_arch}/"):
            continue
        if p.startswith((kvm,) + KVM_GENERIC) or p.endswith(".h"):
            dirs.add(kvm)
        elif p.endswith(SOURCES) or os.path.basename(p) in ("Makefile", "Kbuild"):
            dirs.add(os.path.dirname(p) + "/")
    return sorted(d for d in dirs if d != "/" and not any(
        d != o and d.startswith(o) for o in dirs))


def out_dir(layout, variant):
    return layout.out(variant.kernel, variant.config + OUT_SUFFIX)


def compile_dirs(layout, variant, dirs, jobs, sparse=None):
    """make W=1 C=1 DIRS on one kernel: (exit status, log text, log path)."""
    tree = layout.tree(variant.kernel)
    if not os.path.isdir(tree):
        raise WorkbenchError(f"{tree} does not exist; run 'make tree' first")
    out = out_dir(layout, variant)
    build.configure(layout, variant, out=out)
    args = build.make_args(variant, out) + ["W=1", "C=1", f"CF={SPARSE_FLAGS}"]
    if sparse:
        args.append(f"CHECK={sparse}")
    env = build.make_env(layout)
    log = os.path.join(out, "warnings.log")
    for stale in (log, os.path.join(out, "prepare.log")):
        if os.path.exists(stale):
            os.unlink(stale)
    progress("warn", f"{variant.name}: make W=1 C=1 {' '.join(dirs)} (-j{jobs}, log "
                     f"{os.path.relpath(log)})")
    run(["make", "-C", tree, f"-j{jobs}"] + args + ["prepare"],
        f"{variant.name}: make W=1 C=1 prepare", log=os.path.join(out, "prepare.log"),
        env=env)
    for d in dirs:
        shutil.rmtree(os.path.join(out, d), ignore_errors=True)
        if d.endswith("/kvm/") and d.startswith("arch/"):
            shutil.rmtree(os.path.join(out, "virt", "kvm"), ignore_errors=True)
    rc, _ = run(["make", "-C", tree, f"-j{jobs}"] + args + list(dirs),
                f"{variant.name}: make W=1 C=1", log=log, env=env, check=False)
    with open(log, errors="replace") as f:
        return rc, f.read(), log


def _blame(diag, commits, kernel_arch):
    """The patches a new warning comes from: those that change its file, else
    every patch that changes what this arch compiles."""
    own = [c for c in commits if diag.file in c.files]
    if own:
        return own, f"changes {diag.file}"
    near = [c for c in commits if touched_dirs(c.files, kernel_arch)]
    return near, f"no patch changes {diag.file}; these change what compiles it"


def check(layout, tally, jobs, targets, commits, sparse=None):
    """One verdict per target (plus a skip when kbuild refuses sparse).

    Returns {target: Counter of base's warning keys}, which the bisect stage
    allows in the series' own files.
    """
    paths = sorted({f for c in commits for f in c.files})
    known = {}
    for tname in targets:
        target = get_target(tname)
        karch = target.arch.kernel_arch
        dirs = touched_dirs(paths, karch)
        name = f"W=1/sparse {tname}"
        if not dirs:
            progress("warn", f"{tname}: the series changes nothing this target compiles")
            continue
        logs = {}
        try:
            for kernel in ("base", "patched"):
                logs[kernel] = compile_dirs(layout, build.Variant(target, kernel), dirs,
                                            jobs, sparse)
        except WorkbenchError as e:
            tally.add(Record(stage="warn", name=name, status="fail", target=tname,
                             message=f"W=1 C=1 on {tname}: could not compile "
                                     f"{' '.join(dirs)}: {e}"))
            continue
        failed = [k for k in ("base", "patched") if logs[k][0] != 0]
        if failed:
            k = failed[0]
            tally.add(Record(stage="warn", name=name, status="fail", target=tname,
                             message=f"W=1 C=1 on {tname}: make {' '.join(dirs)} fails on "
                                     f"{k}\n--- last lines ---\n"
                                     + "\n".join(logs[k][1].splitlines()[-25:])
                                     + f"\nFull log: {logs[k][2]}"))
            continue
        base, patched = diagnostics(logs["base"][1]), diagnostics(logs["patched"][1])
        known[tname] = collections.Counter(d.key for d in base)
        refused = REFUSED.search(logs["patched"][1]) or REFUSED.search(logs["base"][1])
        if refused:
            tally.add(Record(stage="warn", name=f"sparse {tname}", status="skip",
                             target=tname,
                             message=f"kbuild refused {refused.group(1)} (scripts/checker-"
                                     "valid.sh: too old for this kernel; Debian's 0.6.4 lacks "
                                     "__typeof_unqual__), so only W=1 was compared; give a "
                                     "sparse built from git with SPARSE=/path/to/sparse"))
        new = new_diagnostics(base, patched)
        checked = "W=1" if refused else "W=1 and sparse"
        if not new:
            tally.add(Record(stage="warn", name=name, status="pass", target=tname,
                             values={"base_warnings": [len(base)],
                                     "patched_warnings": [len(patched)]},
                             message=f"{checked} on {' '.join(dirs)}: nothing new"))
            continue
        lines, blamed = [], set()
        for d in new:
            culprits, why = _blame(d, commits, karch)
            blamed |= {c.short for c in culprits}
            lines.append(f"  [{d.check}] {d.text}")
            if " | " in d.message:
                lines.append(f"      ({d.message.split(' | ', 1)[1]})")
            lines += [f"      from {c.label} ({why})" for c in culprits]
        only = next(iter(blamed)) if len(blamed) == 1 else ""
        tally.add(Record(
            stage="warn", name=f"{name}: {only}" if only else name, status="fail",
            target=tname,
            message=f"{checked} on {tname} ({' '.join(dirs)}): {len(new)} warning(s) in "
                    "patched that base does not have (compared on file and message; "
                    "line numbers ignored):\n" + "\n".join(lines)
                    + f"\nFull logs: {logs['base'][2]} (base), {logs['patched'][2]} "
                      "(patched)"))
    return known
