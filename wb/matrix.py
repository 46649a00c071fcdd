"""make bench's matrix: knobs, what can run where, the cost model, the schedule.

The matrix: target x kernel x backing x path.  Each boot runs one plan, all
the backings and paths of one target on one kernel; boots alternate base,
patched (and ref), base, patched, ... so that drift in the host (thermal,
other load) lands on every kernel alike.  A cell that cannot run (too
much memory for the guest, hugepages the target lacks) is skipped with its
reason.  The targets, their plan substitutions and their cost model are
rows of wb/arches.py; nothing here runs anything (make bench DRY=1).
"""

import fnmatch
import os
import platform
import re
from dataclasses import dataclass, field, replace

from . import plans
from .arches import ARCHES, EXPERIMENTS, KERNELS, Arch, Target, target as get_target, targets_in
from .errors import WorkbenchError
from .util import switched_on

SELFTEST = "dirty_log_split_test"
# The targets and their cost model are rows of wb/arches.py (suites "bench"
# and "quick"; Arch.page_seconds and friends, Target.process_seconds).
DEFAULT_TARGETS = targets_in("bench")
QUICK_TARGETS = targets_in("quick")
REF_TARGETS = ()                    # where an unmodified reference tree ("ref") runs too
# Bytes per vCPU (-b): the target's split_bytes (a 64K-granule THP block is
# 512M, so a 256M memslot could hold none there); on the host:
HOST_SIZE = 1 << 30
GUEST_MEM = 2 << 30                 # QEMU -m (boot.qemu_command)
GUEST_ROOM = GUEST_MEM - (512 << 20)    # the most a run's memory may take
# A boot that reserves 1G pages gets 4G: in 2G, the kernel, initrd and device
# tree sit in one 1G-aligned block and early (top-down) memblock allocations
# such as the memmap in the other, so no whole 1G block may be left.
BIG_GUEST_MEM = 4 << 30
GUEST_KEEP = 2 << 30                # what that guest keeps beside its 1G pages
# Hugepages this large must be reserved at boot: a 2G guest that has run
# for a while rarely has two free 512M blocks left.
BOOT_TIME_KB = 524288
# The rough cost model behind the up-front estimate and the ETA: per guest
# page, per boot and per process by arch and target (wb/arches.py), and per
# VM.  A process's start-up is why one process runs every path of a backing
# ("-t all") rather than one per backing and path.
VM_SECONDS = 0.6
# With STALL=1 (-l) a repetition also waits up to 1 s after the operation
# for a stall to end.
STALL_SECONDS = 1.0
# With NESTED=1, 7.3 write-protects every shadow stage-2 over its whole IPA
# space once per 64-page word of a GET or CLEAR, 1.2 s each under TCG with a
# 52-bit IPA (results/20261203-arm64-nested): per word, and about four such
# ioctls per repetition.
NESTED_WORD_SECONDS = 4 * 1.5
HUGEPAGES_SYSFS = "/sys/kernel/mm/hugepages"
# Knobs read from the environment (make bench VAR=...), in the order shown.
KNOBS = ("TARGET", "TARGETS", "KERNELS", "BACKINGS", "PATHS", "CELLS", "SIZE", "VCPUS",
         "REPS", "BOOTS", "CHUNK", "STALL", "FLOOR", "NESTED", "ICOUNT", "COUNTS", "QUICK",
         "LABEL", "DRY")


@dataclass
class Config:
    targets: tuple = DEFAULT_TARGETS
    kernels: tuple = ("base", "patched")
    ref_targets: tuple = REF_TARGETS
    backings: tuple = ()            # empty: target_backings()
    paths: tuple = plans.SPLIT_PATHS
    cells: tuple = ()               # TARGET/BACKING/PATH globs; empty: all
    size: int = None                # bytes per vCPU; None: the target's default
    vcpus: int = 1
    reps: int = 2                   # -i: repetitions inside one run
    boots: int = 3                  # boots per kernel, interleaved
    chunk: int = None               # arm64 eager-split chunk; None: the PMD block
    stall: bool = False             # -l: vCPUs write during the timed ioctl; longest stall
    floor: bool = False             # each run again with eager splitting off
    nested: bool = False            # -n: the vCPUs run in a nested guest (L2)
    icount: str = ""                # QEMU -icount shift=...
    counts: tuple = ()              # functions to count; needs +trace kernels
    label: str = "bench"
    host: bool = False
    quick: bool = False

    def kernels_for(self, tname):
        if self.host:
            return (self.label,)
        extra = ("ref",) if tname in self.ref_targets and "ref" not in self.kernels else ()
        return tuple(k for k in self.kernels
                     if k not in EXPERIMENTS or tname in EXPERIMENTS[k].targets) + extra

    @property
    def overlays(self):
        return ("trace",) if self.counts and not self.host else ()


def _list(value):
    return tuple(v for v in re.split(r"[\s,]+", value or "") if v)


def parse_size(text):
    nbytes = plans.parse_size(text)
    if nbytes is None:
        raise WorkbenchError(f"SIZE={text}: expected bytes with an optional K, M or G, "
                             "e.g. SIZE=512M")
    return nbytes


def backing_name(name):
    """'thp' -> 'anonymous_thp': the selftest's names, 'anonymous_' optional."""
    if name in ("anonymous", "anon"):
        return "anonymous"
    return name if name.startswith("anonymous_") else "anonymous_" + name


def _int(env, key, default):
    value = env.get(key)
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise WorkbenchError(f"{key}={value}: expected a whole number of at least 1")
    return int(value)


def switch_on(env, key):
    """Is knob KEY on?  QUICK=1 and QUICK=yes are, QUICK=false is not."""
    return switched_on(env.get(key))


def config_from_env(env):
    """The bench's Config from make's variables (see `make help`)."""
    quick = switch_on(env, "QUICK")
    host = env.get("TARGET", "") == "host"
    if env.get("TARGET") and not host:
        raise WorkbenchError(f"TARGET={env['TARGET']}: only TARGET=host means something to "
                             "make bench; choose QEMU targets with TARGETS=")
    cfg = Config()
    if quick:
        cfg = replace(cfg, targets=QUICK_TARGETS, backings=("anonymous_thp",), ref_targets=(),
                      reps=5, boots=1, quick=True)
    if host:
        cfg = replace(cfg, targets=("host",), host=True, ref_targets=(), label="host")
    if env.get("TARGETS") and not host:
        cfg = replace(cfg, targets=_list(env["TARGETS"]))
    if env.get("KERNELS"):
        ks = _list(env["KERNELS"])
        bad = [k for k in ks if k not in KERNELS]
        if bad:
            raise WorkbenchError(f"KERNELS: unknown kernel(s) {', '.join(bad)}; "
                                 f"known: {', '.join(KERNELS)}")
        # ref where it differs from base in what the series changes: RISC-V.
        cfg = replace(cfg, kernels=tuple(k for k in ks if k != "ref"),
                      ref_targets=REF_TARGETS if "ref" in ks else ())
    if env.get("BACKINGS"):
        cfg = replace(cfg, backings=tuple(backing_name(b) for b in _list(env["BACKINGS"])))
    if env.get("PATHS"):
        paths = _list(env["PATHS"])
        bad = [p for p in paths if p not in plans.SPLIT_PATHS]
        if bad:
            raise WorkbenchError(f"PATHS: unknown path(s) {', '.join(bad)}; "
                                 f"known: {', '.join(plans.SPLIT_PATHS)}")
        cfg = replace(cfg, paths=paths)
    if env.get("CELLS"):
        cfg = replace(cfg, cells=_list(env["CELLS"]))
    if env.get("SIZE"):
        cfg = replace(cfg, size=parse_size(env["SIZE"]))
    cfg = replace(cfg, vcpus=_int(env, "VCPUS", cfg.vcpus), reps=_int(env, "REPS", cfg.reps),
                  boots=_int(env, "BOOTS", cfg.boots))
    if env.get("CHUNK"):
        cfg = replace(cfg, chunk=parse_size(env["CHUNK"]))
    if switch_on(env, "STALL"):
        cfg = replace(cfg, stall=True)
    if switch_on(env, "FLOOR"):
        if host:
            raise WorkbenchError("FLOOR=1 runs only under QEMU, where the guest init may "
                                 "turn eager splitting off; on this host, run make bench "
                                 "again with kvm.eager_page_split=N and compare the two "
                                 "with make report A=... B=...")
        cfg = replace(cfg, floor=True)
    if switch_on(env, "NESTED"):
        cfg = replace(cfg, nested=True)
    if env.get("ICOUNT"):
        if host:
            raise WorkbenchError("ICOUNT is a QEMU option; TARGET=host runs no QEMU")
        cfg = replace(cfg, icount=env["ICOUNT"])
    counts = env.get("COUNTS", "")
    if switch_on(env, "COUNTS"):
        cfg = replace(cfg, counts=("auto",) if counts in ("1", "yes", "y") else _list(counts))
    if env.get("LABEL"):
        if not re.fullmatch(r"[A-Za-z0-9._+-]+", env["LABEL"]):
            raise WorkbenchError(f"LABEL={env['LABEL']}: letters, digits and ._+- only "
                                 "(it names the results directory)")
        cfg = replace(cfg, label=env["LABEL"])
    elif quick and not host:
        cfg = replace(cfg, label="quick")
    if not host:
        for t in cfg.targets:
            get_target(t)
    return cfg


def invocation(env):
    """The make command line these knobs amount to, for the record."""
    knobs = [f"{k}={env[k]}" for k in KNOBS if env.get(k)]
    return " ".join(["make bench"] + knobs)


# --- the matrix -------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    target: str
    backing: str
    path: str

    @property
    def name(self):
        return f"{self.target}/{self.backing}/{self.path}"


@dataclass
class Boot:
    """One boot of the schedule: a target's plan on one kernel."""
    target: object
    kernel: str
    round: int
    runs: list
    cmdline: tuple = ()
    estimate: float = 0.0
    per_rep: dict = field(default_factory=dict)     # run name: estimated seconds per rep
    reps: int = 1                                   # per cell
    run_reps: dict = field(default_factory=dict)    # run name: reps of all its paths
    startup: float = 0.0                            # estimated seconds per process

    @property
    def mem(self):
        """QEMU's -m: more where 1G pages are reserved at boot."""
        reserved = any(a.startswith("hugepages=") for a in self.cmdline)
        return f"{(BIG_GUEST_MEM if reserved else GUEST_MEM) >> 30}G"

    @property
    def variant_name(self):
        return f"{self.target.name}-{self.kernel}"


def _selected(cell, patterns):
    if not patterns:
        return True
    for pat in patterns:
        parts = (pat.split("/") + ["*", "*"])[:3]
        if all(fnmatch.fnmatch(v, p) or fnmatch.fnmatch(v, "anonymous_" + p)
               for v, p in zip((cell.target, cell.backing, cell.path), parts)):
            return True
    return False


def _round_up(n, unit):
    return -(-n // unit) * unit


def cell_bytes(cfg, target, backing):
    """(bytes per vCPU, hugepages needed, page kB) of a cell.

    hugetlb memory comes in whole pages, and a memslot smaller than a page
    could not be mapped with one: the size grows to at least one page.
    """
    size = cfg.size or (HOST_SIZE if cfg.host else target.split_bytes)
    kb = plans.hugetlb_kb(backing)
    if not kb:
        return size, 0, None
    page = kb * 1024
    per_vcpu = _round_up(max(size, -(-page // cfg.vcpus)), 64 << 10)
    return per_vcpu, -(-per_vcpu * cfg.vcpus // page), kb


def _host_hugepages(kb):
    """(total, free) pages of a host hugepage pool, or None without one."""
    d = os.path.join(HUGEPAGES_SYSFS, f"hugepages-{kb}kB")
    try:
        with open(os.path.join(d, "nr_hugepages")) as f:
            total = int(f.read())
        with open(os.path.join(d, "free_hugepages")) as f:
            return total, int(f.read())
    except (OSError, ValueError):
        return None


def why_not(cfg, target, backing):
    """Why a backing cannot run on a target, or None."""
    per_vcpu, pages, kb = cell_bytes(cfg, target, backing)
    if backing not in ("anonymous", "anonymous_thp") and not kb:
        return f"unknown backing {backing}"
    if cfg.nested and target.arch.nested_cmdline is None:
        return f"NESTED=1: KVM runs no nested guests on {target.arch.name}"
    if not cfg.host and per_vcpu * cfg.vcpus > GUEST_ROOM and (kb or 0) < BOOT_TIME_KB:
        return (f"{plans.size_arg(per_vcpu * cfg.vcpus)} of memory does not fit in the "
                f"{GUEST_MEM >> 30}G guest (at most {plans.size_arg(GUEST_ROOM)}; "
                "lower SIZE x VCPUS)")
    if not kb:
        return None
    size = plans.size_arg(kb * 1024)
    if cfg.host:
        pool = _host_hugepages(kb)
        if pool is None:
            return f"this host has no {size} hugepages"
        if pool[1] < pages:
            return (f"needs {pages} free {size} hugepages, the host has {pool[1]}: reserve "
                    f"them first (as root: echo {pool[0] - pool[1] + pages} > "
                    f"{HUGEPAGES_SYSFS}/hugepages-{kb}kB/nr_hugepages)")
        return None
    if kb not in target.hugepages_kb:
        return (f"{target.name} has no {size} hugepages (the workbench reserves "
                + ", ".join(plans.size_arg(k * 1024) for k in target.hugepages_kb) + ")")
    if kb >= BOOT_TIME_KB and pages * kb * 1024 > BIG_GUEST_MEM - GUEST_KEEP:
        most = (BIG_GUEST_MEM - GUEST_KEEP) // (kb * 1024)
        return (f"needs {pages} {size} pages reserved at boot; the "
                f"{BIG_GUEST_MEM >> 30}G guest can give at most {most} (lower SIZE x VCPUS)")
    return None


def target_backings(target):
    """The default backings of a target: memory already mapped with pages,
    THP, and hugetlb of each block size its stage-2 maps (2M and 1G at 4K,
    32M at 16K, 512M at 64K: a level-1 block there is 64G or 4T)."""
    return ("anonymous", "anonymous_thp") + tuple(
        "anonymous_hugetlb_" + plans.size_arg(kb << 10).lower() + "b"
        for kb in target.hugepages_kb)


def cells(cfg, target):
    """([Cell], [(Cell, reason)]) of a target: what runs and what is skipped."""
    run, skipped = [], []
    for backing in cfg.backings or target_backings(target):
        for path in cfg.paths:
            cell = Cell(target.name, backing, path)
            if not _selected(cell, cfg.cells):
                continue
            reason = why_not(cfg, target, backing)
            if reason:
                skipped.append((cell, reason))
            else:
                run.append(cell)
    return run, skipped


def rep_seconds(target, backing, vcpu_bytes, vcpus):
    """The cost model: estimated seconds of one repetition of a run."""
    arch = target.arch
    pages = vcpu_bytes * vcpus / (target.page_kb * 1024)
    per_page = arch.page_seconds
    if backing == "anonymous":
        per_page += arch.anon_page_seconds
    return VM_SECONDS + pages * per_page


def count_functions(cfg, target):
    if not cfg.counts:
        return ()
    if cfg.counts == ("auto",):
        return target.arch.count_functions
    return cfg.counts


def process_seconds(cfg, target):
    """The start-up a selftest process pays on a target (Target.process_seconds)."""
    return 0.0 if cfg.host else target.process_seconds


def runs_for(cfg, target, chosen):
    """([Run], {run name: seconds per rep and path}, {run name: reps}) for a
    target's cells.

    One run per backing times every chosen path ("-t all" for both), so
    each process start is paid once per backing.  Backings whose hugepages
    are reserved at boot run first and together, so that their pages go
    back to the guest before the other runs.
    """
    scale = 3 if cfg.icount else 1
    startup = process_seconds(cfg, target)
    # Call counts cover a whole run, so a counted run times a single path.
    profile = count_functions(cfg, target)
    paths = {}
    for c in chosen:
        paths.setdefault((c.backing, c.path if profile else ""), []).append(c.path)
    early = [k for k in paths if (plans.hugetlb_kb(k[0]) or 0) >= BOOT_TIME_KB]
    out, per_rep, reps = [], {}, {}
    for key in early + [k for k in paths if k not in early]:
        backing = key[0]
        vcpu_bytes, pages, kb = cell_bytes(cfg, target, backing)
        margin = 12 if kb and kb < BOOT_TIME_KB else 0
        seconds = rep_seconds(target, backing, vcpu_bytes, cfg.vcpus) + (
            STALL_SECONDS if cfg.stall else 0)
        if cfg.nested:
            seconds += NESTED_WORD_SECONDS * vcpu_bytes * cfg.vcpus / (
                64 * target.page_kb * 1024)
        chunk = cfg.chunk if cfg.chunk and target.arch.eager else None
        path = "all" if len(paths[key]) > 1 else paths[key][0]
        n = cfg.reps * len(paths[key])
        run = plans.split_run(backing, path, vcpu_bytes, cfg.vcpus, cfg.reps,
                              timeout=int(120 + startup + 4 * scale * n * seconds),
                              hugepages=((kb, pages + margin),) if kb else (),
                              profile=profile, chunk=chunk, stall=cfg.stall,
                              nested=cfg.nested)
        # FLOOR=1: the same ioctl without the split, right after, in the same boot.
        for r in (run, plans.eager_off(run, target.arch)) if cfg.floor else (run,):
            out.append(r)
            per_rep[r.name], reps[r.name] = seconds, n
    return out, per_rep, reps


def boot_cmdline(runs, target):
    """Kernel parameters that reserve the hugepages no guest can get later."""
    args = []
    for kb in sorted({kb for r in runs for kb, _ in r.hugepages if kb >= BOOT_TIME_KB
                      and kb in target.hugepages_kb}):
        n = max(n for r in runs for k, n in r.hugepages if k == kb)
        args += [f"hugepagesz={plans.size_arg(kb * 1024)}", f"hugepages={n}"]
    return tuple(args)


def nested_cmdline(cfg, target):
    """The kernel parameters NESTED=1 needs on a target booted under QEMU."""
    return tuple(target.arch.nested_cmdline or ()) if cfg.nested and not cfg.host else ()


def schedule(cfg, resolve=get_target):
    """([Boot], [(Cell, reason)]): the boots in the order they run, and the
    cells skipped.  Rounds go over every target and kernel: A B A B ..."""
    boots, skipped, plans_by_target = [], [], {}
    for tname in cfg.targets:
        target = resolve(tname)
        chosen, skip = cells(cfg, target)
        skipped += skip
        if chosen:
            plans_by_target[tname] = (target, *runs_for(cfg, target, chosen))
    for rnd in range(1, cfg.boots + 1):
        for tname, (target, runs, per_rep, reps) in plans_by_target.items():
            overhead = 0 if cfg.host else target.arch.boot_seconds
            startup = process_seconds(cfg, target)
            estimate = overhead + sum(startup + reps[r.name] * per_rep[r.name] for r in runs)
            for kernel in cfg.kernels_for(tname):
                boots.append(Boot(target, kernel, rnd, runs,
                                  boot_cmdline(runs, target) + nested_cmdline(cfg, target),
                                  estimate, per_rep, cfg.reps, reps, startup))
    return boots, skipped


def minutes(seconds):
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else \
        f"{s // 60}:{s % 60:02d}"


def describe_schedule(cfg, boots, skipped):
    """The matrix in words: what `make bench DRY=1` prints."""
    lines, word = [], "rounds" if cfg.host else "boots"
    targets = []
    for b in boots:
        if b.target.name not in targets:
            targets.append(b.target.name)
    for t in targets:
        tb = [b for b in boots if b.target.name == t]
        runs = tb[0].runs
        lines.append(f"{t}: kernels {', '.join(cfg.kernels_for(t))}; {len(runs)} runs x "
                     f"{cfg.reps} reps x {cfg.boots} {word} per kernel = {len(tb)} {word}, "
                     f"about {minutes(sum(b.estimate for b in tb))}")
        for r in runs:
            around = f"  (before: {'; '.join(r.before)})" if r.before else ""
            lines.append(f"    {' '.join(plans.argv(r, tb[0].target))}{around}")
        if tb[0].cmdline and not cfg.host:
            lines.append(f"    kernel command line + {' '.join(tb[0].cmdline)}; "
                         f"QEMU -m {tb[0].mem}")
    for cell, reason in skipped:
        lines.append(f"skip {cell.name}: {reason}")
    # A run times one path, or both ("-t all"): count cells, not runs.
    def n_paths(b, r):
        return b.run_reps.get(r.name, b.reps) // max(1, b.reps)

    per_run = {(b.target.name, r.name): n_paths(b, r) for b in boots for r in b.runs}
    n_cells = sum(per_run.values())
    with_kernels = sum(n_paths(b, r) for b in boots if b.round == 1 for r in b.runs)
    total = minutes(sum(b.estimate for b in boots))
    lines.append(f"{n_cells} cells ({with_kernels} with their kernels) x {cfg.boots} {word} x "
                 f"{cfg.reps} reps = {cfg.boots * cfg.reps} samples per cell and kernel; "
                 + (f"{len(boots)} boots, about {total} of QEMU TCG on 2 cores, "
                    "plus the (cached) builds" if not cfg.host else
                    f"{len(boots)} rounds on this host"))
    return "\n".join(lines)


# --- the host ---------------------------------------------------------------------

# uname -m where it differs from the name of the arch's row in wb/arches.py.
MACHINE_ARCHES = {"aarch64": "arm64"}


def host_target():
    """The running machine as a Target: its arch, page size and hugepage sizes."""
    name = MACHINE_ARCHES.get(platform.machine(), platform.machine())
    # What the selftests ask of the arch (ARCH=, eager splitting, counted
    # functions) is its row's; the profile has one trace_stat file per CPU.
    row = ARCHES.get(name)
    page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
    pmd_kb = page_kb * (page_kb * 1024 // 8)      # a page of 8-byte entries, each a page
    try:
        sizes = sorted(int(m.group(1)) for m in (re.match(r"hugepages-(\d+)kB$", d)
                                                 for d in os.listdir(HUGEPAGES_SYSFS)) if m)
    except OSError:
        sizes = []
    arch = Arch(name=name, kernel_arch=row.kernel_arch if row else name, cross_compile="", cross_package="gcc",
                libc_package="libc6-dev", qemu="", qemu_package="", machine="", cpu="",
                bios="", console="", earlycon="", image="", fragments=(),
                selftests=(SELFTEST,), smp=os.cpu_count() or 1,
                eager=row.eager if row else (),
                count_functions=row.count_functions if row else ())
    return Target("host", arch, (), (pmd_kb,) + tuple(s for s in sizes if s != pmd_kb),
                  page_kb, "")
