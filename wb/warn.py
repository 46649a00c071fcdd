"""make check, W=1 and sparse: the series adds no compiler or sparse warning.

For each target, what the series changes (touched_targets says which) is
compiled with `make W=1 C=1 TARGETS` on base and on patched, and every
warning patched has that base does not fails, naming the patches that change
the warning's file.  Warnings are compared on file, tool and message: line
and column numbers move with every patch, and so do other numbers in
messages (frame sizes, array bounds), so they are left out.  Multiplicity
counts: a header warning printed once more than on base is a new one.

The targets are the objects of the C files the series changes, not their
whole directories: on a fresh machine the directories took ten minutes of
`make check`, and a warning can only come from what changed.

Each kernel compiles in its own object directory, `.out-<config>+w1`, a
direct child of its tree like the others (layout.out), so ccache hits
across base and patched; `make prepare` first, then the targets' outputs
are removed, so that both kernels compile exactly the same set of files and
print every warning, whatever the directory held before.
"""

import collections
import glob
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


# Directories that compile the sources of their parent a second time, under
# another name: arm64's nVHE hypervisor builds the hyp/ files it shares with
# the kernel as hyp/<name>.nvhe.o.  A change to such a source compiles both.
REBUILT_BY = {"arch/arm64/kvm/hyp/": ("arch/arm64/kvm/hyp/nvhe/", ".nvhe.o")}


def touched_targets(paths, kernel_arch):
    """The kbuild targets to compile with W=1 C=1 for an arch, given the files
    the series changes: objects ("dir/name.o") and directories ("dir/"),
    sorted.

    - A C or assembly file: its own object, and the directory that compiles
      it again (REBUILT_BY), if any.
    - virt/kvm/**: the arch's KVM directory, which is what builds virt/kvm's
      objects.
    - A Makefile or Kbuild: its directory, unless the series changes C files
      there too.  Then their objects show what the Makefile changed for
      them: an object it adds is one of them.  A flag it adds for the
      directory's other objects goes unseen; compiling the whole directory
      for that cost arm64 two minutes a kernel.
    - An object is compiled whether or not the configuration builds it,
      like arm64's KUnit test without KUnit: kbuild compiles a named
      object regardless.
    - A header: seen through the changed C files of this arch that include
      it, since a header's warnings print wherever it is compiled.  With no
      such C file, the arch's KVM directory compiles it.
    - Documentation, tools/, scripts/ and other architectures' files compile
      nothing here.
    """
    kvm = f"arch/{kernel_arch}/kvm/"
    targets, headers, makefiles = set(), False, set()
    for p in paths:
        if p.startswith(("tools/", "Documentation/", "scripts/")):
            continue
        if p.startswith("arch/") and not p.startswith(f"arch/{kernel_arch}/"):
            continue
        name = os.path.basename(p)
        if p.startswith(KVM_GENERIC):
            targets.add(kvm)
        elif p.endswith(".h"):
            headers = True
        elif p.endswith(SOURCES):
            targets.add(os.path.splitext(p)[0] + ".o")
            again = REBUILT_BY.get(os.path.dirname(p) + "/")
            if again:
                targets.add(again[0])
        elif name in ("Makefile", "Kbuild"):
            makefiles.add(os.path.dirname(p) + "/")
    objects = [t for t in targets if t.endswith(".o")]
    for d in makefiles:
        if not any(o.startswith(d) for o in objects):
            targets.add(d)
    if headers and not objects:
        targets.add(kvm)
    dirs = [t for t in targets if t.endswith("/")]
    return sorted(t for t in targets if t != "/" and not any(
        t != d and t.startswith(d) for d in dirs))


def out_dir(layout, variant):
    return layout.out(variant.kernel, variant.config + OUT_SUFFIX)


def _present(tree, targets):
    """The targets a tree has: an object whose source the tree lacks (a file
    the series adds, on base) is left out."""
    return [t for t in targets if t.endswith("/") or any(
        os.path.exists(os.path.join(tree, t[:-2] + ext)) for ext in SOURCES)]


def _remove_outputs(out, targets):
    """Remove what the targets would build, so that make compiles it again
    and prints its warnings."""
    for t in targets:
        if t.endswith("/"):
            shutil.rmtree(os.path.join(out, t), ignore_errors=True)
            if t.endswith("/kvm/") and t.startswith("arch/"):
                shutil.rmtree(os.path.join(out, "virt", "kvm"), ignore_errors=True)
            parent = os.path.dirname(t.rstrip("/")) + "/"
            again = REBUILT_BY.get(parent)
            if again and again[0] == t:
                for name in glob.glob(os.path.join(out, parent, "*" + again[1])):
                    os.unlink(name)
        else:
            for name in (t, os.path.join(os.path.dirname(t), f".{os.path.basename(t)}.cmd")):
                if os.path.exists(os.path.join(out, name)):
                    os.unlink(os.path.join(out, name))


def compile_targets(layout, variant, targets, jobs, sparse=None):
    """make W=1 C=1 TARGETS on one kernel: (exit status, log text, log path)."""
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
    present = _present(tree, targets)
    if not present:
        # Without a goal, make would build the whole kernel.
        progress("warn", f"{variant.name}: has none of {' '.join(targets)}; nothing to compile")
        with open(log, "w"):
            pass
        return 0, "", log
    targets = present
    progress("warn", f"{variant.name}: make W=1 C=1 {' '.join(targets)} (-j{jobs}, log "
                     f"{os.path.relpath(log)})")
    run(["make", "-C", tree, f"-j{jobs}"] + args + ["prepare"],
        f"{variant.name}: make W=1 C=1 prepare", log=os.path.join(out, "prepare.log"),
        env=env)
    _remove_outputs(out, targets)
    rc, _ = run(["make", "-C", tree, f"-j{jobs}"] + args + targets,
                f"{variant.name}: make W=1 C=1", log=log, env=env, check=False)
    with open(log, errors="replace") as f:
        return rc, f.read(), log


def _blame(diag, commits, kernel_arch):
    """The patches a new warning comes from: those that change its file, else
    every patch that changes what this arch compiles."""
    own = [c for c in commits if diag.file in c.files]
    if own:
        return own, f"changes {diag.file}"
    near = [c for c in commits if touched_targets(c.files, kernel_arch)]
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
        goals = touched_targets(paths, karch)
        name = f"W=1/sparse {tname}"
        if not goals:
            progress("warn", f"{tname}: the series changes nothing this target compiles")
            continue
        logs = {}
        try:
            for kernel in ("base", "patched"):
                logs[kernel] = compile_targets(layout, build.Variant(target, kernel), goals,
                                            jobs, sparse)
        except WorkbenchError as e:
            tally.add(Record(stage="warn", name=name, status="fail", target=tname,
                             message=f"W=1 C=1 on {tname}: could not compile "
                                     f"{' '.join(goals)}: {e}"))
            continue
        failed = [k for k in ("base", "patched") if logs[k][0] != 0]
        if failed:
            k = failed[0]
            tally.add(Record(stage="warn", name=name, status="fail", target=tname,
                             message=f"W=1 C=1 on {tname}: make {' '.join(goals)} fails on "
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
                             message=f"{checked} on {' '.join(goals)}: nothing new"))
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
            message=f"{checked} on {tname} ({' '.join(goals)}): {len(new)} warning(s) in "
                    "patched that base does not have (compared on file and message; "
                    "line numbers ignored):\n" + "\n".join(lines)
                    + f"\nFull logs: {logs['base'][2]} (base), {logs['patched'][2]} "
                      "(patched)"))
    return known
