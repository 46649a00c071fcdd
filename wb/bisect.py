"""make check, bisectability: every patch builds, applied in order.

The series' commits (base..patched, as make check just applied them) are
checked out one after another in a worktree of the patched repo,
build/tree/bisect, a direct child of build/tree like base and patched, so
its object directories (.out-<config>) name the source '..' and ccache hits
across all three trees.  Each build unit keeps one object directory for the
whole walk and kbuild rebuilds only what a checkout changed.

The build units are the check targets' kernels (arm64-4k, riscv64) and the
KVM selftests of their arches and of the host (x86_64), static, -Werror.
Which units a commit rebuilds follows from the files it changes
(`git log --name-only`), by units_for():

  Documentation/, LICENSES/, MAINTAINERS, ...   nothing
  tools/testing/selftests/kvm/{,lib/,include/}<arch>/, tools/arch/<arch>/
                                                that arch's selftests
  other tools/                                  every arch's selftests
  arch/<arch>/include/uapi/                     <arch>'s kernel and selftests
  arch/<arch>/ (the rest)                       <arch>'s kernel
  include/uapi/, scripts/, usr/, Makefile       every kernel and every selftest
  anything else (virt/kvm, include/, mm/, ...)  every kernel

The selftests see the kernel only through its installed uapi headers, so
generic KVM code (virt/kvm, include/linux/kvm_host.h) rebuilds the kernels but
not the selftests.  A unit no commit after this one changes builds from the
same sources as the patched tree, which make check has built already: it is
not built again.  The selftests are also built at base first, so that a
selftest that never built (e.g. with this host's gcc) is reported as that,
not as a patch's fault.  Kernels build without -Werror (the flag would
change every command line and lose ccache's hits from base and patched);
instead a warning in a file the series changes fails the patch, unless base
has it too (the W=1 stage's base log says which).
"""

import os
import platform
import shutil
from dataclasses import dataclass

from . import build, warn
from .arches import HOST_SELFTESTS, target as get_target
from .errors import WorkbenchError
from .results import Record
from .source import BASE_TAG, git
from .tree import patch_files, read_series
from .util import progress

NO_BUILD_DIRS = ("Documentation/", "LICENSES/")
NO_BUILD_FILES = {"MAINTAINERS", "CREDITS", "README", "COPYING", ".mailmap", ".gitignore"}
# What the selftests build from besides tools/: headers_install's inputs.
SELFTEST_INPUTS = ("include/uapi/", "scripts/", "usr/")
KVM_SELFTESTS = "tools/testing/selftests/kvm/"
# Selftest directory names before 6.14, and the kernel's ARCH= names.
ARCH_ALIASES = {"aarch64": "arm64", "x86_64": "x86", "s390x": "s390"}
SELFTEST_ARCH_DIRS = {"arm64", "riscv", "x86", "s390", "loongarch"} | set(ARCH_ALIASES)
ALL = "*"

# Rough per-build costs at -j2 with a warm ccache, for the progress line only.
ESTIMATE_S = {"kernel": 75, "selftests": 20}


@dataclass(frozen=True)
class Commit:
    sha: str
    subject: str
    patch: str          # "arm64/0002-....patch" (under series/), "" if not known
    files: tuple

    @property
    def short(self):
        return self.patch or self.sha[:12]

    @property
    def label(self):
        where = f"series/{self.patch}" if self.patch else f"commit {self.sha[:12]}"
        return f'{where} ("{self.subject}")'


@dataclass(frozen=True)
class Unit:
    kind: str           # "kernel" or "selftests"
    name: str           # a target (kernel) or an arch (selftests)
    arch: object        # arches.Arch

    @property
    def karch(self):
        return self.arch.kernel_arch

    def __str__(self):
        return f"{self.kind} {self.name}"


def series_commits(layout):
    """[Commit] of base..patched, oldest first, each with its series file.

    make check applies series/ in series/SERIES order, one commit per file,
    so the n-th commit is the n-th file; when the counts differ (commits made
    in the tree and not exported) commits are named by hash.
    """
    repo = layout.tree("patched")
    log = git(repo, "log", "--reverse", "--no-renames", "--name-only",
              "--format=%x01%H %s", f"{BASE_TAG}..patched")
    raw = []
    for chunk in log.split("\x01")[1:]:
        head, _, names = chunk.partition("\n")
        sha, _, subject = head.partition(" ")
        raw.append((sha, subject, tuple(n for n in names.splitlines() if n.strip())))
    files = [os.path.relpath(p, layout.series) for name, _ in read_series(layout)
             for p in patch_files(layout, name)]
    if len(files) != len(raw):
        files = [""] * len(raw)
    return [Commit(sha, subject, patch, names)
            for (sha, subject, names), patch in zip(raw, files)]


def _selftest_arch(path):
    """The arch a path under tools/ is specific to, or None."""
    parts = path.split("/")
    if path.startswith("tools/arch/") and len(parts) > 3:
        return ARCH_ALIASES.get(parts[2], parts[2])
    if path.startswith(KVM_SELFTESTS):
        rest = parts[4:]
        if rest and rest[0] in ("lib", "include"):
            rest = rest[1:]
        if len(rest) > 1 and rest[0] in SELFTEST_ARCH_DIRS:
            return ARCH_ALIASES.get(rest[0], rest[0])
    return None


def units_for(paths, units):
    """The units (of `units`) that a commit changing `paths` may change."""
    kernels, selftests = set(), set()
    for p in paths:
        if p in NO_BUILD_FILES or os.path.basename(p) == ".gitignore" \
                or p.startswith(NO_BUILD_DIRS):
            continue
        if p.startswith("tools/"):
            selftests.add(_selftest_arch(p) or ALL)
        elif p.startswith("arch/"):
            arch = p.split("/")[1]
            kernels.add(arch)
            if p.startswith(f"arch/{arch}/include/uapi/"):
                selftests.add(arch)
        else:
            kernels.add(ALL)
            if p.startswith(SELFTEST_INPUTS) or p == "Makefile":
                selftests.add(ALL)
    hit = {"kernel": kernels, "selftests": selftests}
    return [u for u in units if hit[u.kind] & {ALL, u.karch}]


def worktree(layout):
    """build/tree/bisect: a detached worktree of the patched repo."""
    path, repo = layout.tree("bisect"), layout.tree("patched")
    if os.path.isdir(path):
        rc, out = git(path, "rev-parse", "--git-common-dir", check=False)
        ours = os.path.join(repo, git(repo, "rev-parse", "--git-common-dir"))
        if rc != 0 or os.path.realpath(os.path.join(path, out.strip())) != \
                os.path.realpath(ours):
            raise WorkbenchError(f"{path} exists but is not a worktree of {repo}.",
                                 f"Remove it (rm -rf {path}); make check makes it again.")
        return path
    git(repo, "worktree", "prune")
    git(repo, "worktree", "add", "-q", "--detach", path, BASE_TAG)
    return path


def plan(commits, units, built=frozenset()):
    """[(commit, [unit to build], [unit as patched])], in order.

    built: the units make check built on patched ("kernel T", "selftests A");
    such a unit is not built again at the last commit that changes it.
    """
    steps = [(c, units_for(c.files, units), []) for c in commits]
    for u in units:
        last = [i for i, (_, todo, _) in enumerate(steps) if u in todo]
        if last and str(u) in built:
            steps[last[-1]][1].remove(u)
            steps[last[-1]][2].append(u)
    return steps


def _present(tree, arch):
    """The arch's selftests whose source exists at this commit."""
    kvm = os.path.join(tree, KVM_SELFTESTS)
    return [t for t in arch.selftests if os.path.exists(os.path.join(kvm, t + ".c"))]


def _keep_log(layout, src, step, unit):
    """Copy a failed build's log where the next patch's build cannot overwrite it."""
    dest = layout.path("bisect", f"{step:02d}-{str(unit).replace(' ', '-')}.log")
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    try:
        shutil.copyfile(src, dest)
    except OSError:
        return src
    return dest


def _build(layout, unit, jobs, tree, series_files, known):
    """Build one unit in the bisect tree: (log path, problem or None)."""
    if unit.kind == "kernel":
        variant = build.Variant(get_target(unit.name), "bisect")
        log = os.path.join(variant.out(layout), "build.log")
        try:
            build.build_kernel(layout, variant, jobs, track_head=False)
        except WorkbenchError as e:
            return log, f"does not build.\n{e}"
        allowed = known.get(unit.name, {})
        with open(log, errors="replace") as f:
            new = [d for d in warn.diagnostics(f.read()) if d.file in series_files
                   and d.key not in allowed]
        if new:
            return log, ("builds, but warns in files the series changes (-Werror for the "
                         "series' own files):\n" + "\n".join(f"  {d.text}" for d in new))
        return log, None
    arch = unit.arch
    log = os.path.join(layout.selftests("bisect", arch.name), "build.log")
    tests = _present(tree, arch)
    try:
        build.build_selftests(layout, "bisect", arch, jobs, only=tests, ccache=True)
    except WorkbenchError as e:
        return log, f"do not build ({len(tests)} tests, -Werror).\n{e}"
    return log, None


def selftest_arches(targets, host=True, machine=None):
    """([Arch], why the host's are not built, or None): whose selftests the
    bisect builds.  The targets' arches, and with host the x86_64 host's
    (HOST_SELFTESTS), unless a native target builds those already: one
    build, in one directory."""
    arches = []
    for tname in targets:
        if get_target(tname).arch not in arches:
            arches.append(get_target(tname).arch)
    if not host or any(a.native and a.name == HOST_SELFTESTS.name for a in arches):
        return arches, None
    machine = machine or platform.machine()
    if machine != HOST_SELFTESTS.name:
        return arches, (f"the host is {machine}, not x86_64: the x86_64 KVM selftests are "
                        "not built")
    return arches + [HOST_SELFTESTS], None


def run(layout, tally, jobs, targets, commits, built=frozenset(), known=None, host=True):
    """Build every unit at every commit that changes it; a verdict for each.

    built: what make check built ("kernel T base", "kernel T", "selftests A");
    known: {target: base's W=1 warning keys} (warn.check); host: also the
    x86_64 selftests.
    """
    known = known or {}
    if not commits:
        progress("bisect", "no patches: nothing to bisect")
        return
    units = [Unit("kernel", tname, get_target(tname).arch) for tname in targets]
    arches, why_not = selftest_arches(targets, host)
    if why_not:
        tally.add(Record(stage="bisect", name=f"selftests {HOST_SELFTESTS.name}",
                         status="skip", message=why_not))
    units += [Unit("selftests", a.name, a) for a in arches]
    steps = plan(commits, units, built)

    dropped = set()

    def drop(unit):
        dropped.add(unit)
        for _, todo, _ in steps:
            if unit in todo:
                todo.remove(unit)

    # A kernel whose base make check could not build cannot be bisected.
    for u in units:
        if u.kind == "kernel" and f"{u} base" not in built \
                and any(u in todo for _, todo, _ in steps):
            tally.add(Record(stage="bisect", name=str(u), status="skip", target=u.name,
                             message="base does not build (see the kernel's build above), "
                                     "so no patch can be checked"))
            drop(u)
    needed = [u for u in units if any(u in todo for _, todo, _ in steps)]
    if not needed:
        progress("bisect", f"{len(commits)} patches: every build they change is the "
                           "patched one, built above")
        return
    n_builds = {k: sum(1 for _, todo, _ in steps for u in todo if u.kind == k)
                for k in ESTIMATE_S}
    minutes = (sum(n * ESTIMATE_S[k] for k, n in n_builds.items())
               + ESTIMATE_S["selftests"] * sum(u.kind == "selftests" for u in needed)) / 60
    tree = worktree(layout)
    progress("bisect", f"{len(commits)} patches in {os.path.relpath(tree)}: "
                       f"{n_builds['kernel']} kernel and {n_builds['selftests']} selftest "
                       f"builds, incremental (about {max(1, round(minutes))} min warm)")
    series_files = {f for c in commits for f in c.files}

    width = len(str(len(commits)))
    selftests = [u for u in needed if u.kind == "selftests"]
    if selftests:
        git(tree, "checkout", "-q", "-f", "--detach", BASE_TAG)
        progress("bisect", f"[{0:>{width}}/{len(commits)}] base: "
                           f"{', '.join(map(str, selftests))}")
        for u in selftests:
            log, problem = _build(layout, u, jobs, tree, series_files, known)
            if problem:
                kept = _keep_log(layout, log, 0, u)
                # A fail, not a skip: nothing else builds these, so a
                # skip would pass make check with the series unchecked for
                # them (a fresh machine without uuid-dev did exactly that).
                tally.add(Record(stage="bisect", name=f"base: {u}", status="fail",
                                 target=u.name, message=(
                                     f"{u} {problem}".replace(log, kept)
                                     + "\nThat is on base, before any patch, so no patch "
                                     "is checked for them. If a header or library is "
                                     "missing, install its package (wb/setup.py lists "
                                     "them) and run make check again.")))
                drop(u)

    broken = {}
    for i, (c, todo, as_patched) in enumerate(steps, 1):
        unchecked = [u for u in units_for(c.files, units) if u in dropped]
        unchanged = [u for u in units if u not in todo + as_patched + unchecked]
        line = f"[{i:>{width}}/{len(commits)}] {c.short}: " + \
            (", ".join(map(str, todo)) if todo else "nothing to build")
        for what, which in (("as patched (built above)", as_patched),
                            ("not checked (base does not build)", unchecked),
                            ("unchanged", unchanged)):
            if which:
                line += f"; {what}: {', '.join(map(str, which))}"
        progress("bisect", line)
        if not todo:
            continue
        git(tree, "checkout", "-q", "-f", "--detach", c.sha)
        for u in todo:
            log, problem = _build(layout, u, jobs, tree, series_files, known)
            record = dict(stage="bisect", name=f"{c.short}: {u}", target=u.name,
                          kernel="bisect")
            if not problem:
                broken.pop(u, None)
                tally.add(Record(status="pass", **record))
                continue
            since = f"\n(broken since {broken[u]})" if u in broken else ""
            broken.setdefault(u, c.label)
            kept = _keep_log(layout, log, i, u)
            text = f"{c.label}, commit {i} of {len(commits)}: {u} {problem}".replace(log, kept)
            tally.add(Record(status="fail", **record, message=text + since + (
                "" if kept in text else f"\nLog: {kept}")))
