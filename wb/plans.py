"""Test plans: what the guest init runs, as data.

A plan is a list of steps the guest init understands (see guest/init.c).
Plans name selftests by basename; the boot stage copies each into /bin.
"""

import re
from dataclasses import dataclass, replace

# dirty_log_test maps 1 GiB and 3 pages, rounded up to whole 2M pages: 513.
DIRTY_LOG_TEST_2M_PAGES = 520


@dataclass(frozen=True)
class Run:
    name: str
    argv: tuple
    timeout: int = 300
    arches: tuple = ()          # empty: every arch
    takes_mode: bool = True     # accepts the selftests' -m GUEST_MODE
    # {size_kB: count} reserved just for this run and released after it, so
    # that hugetlb reservations do not starve the THP and anonymous runs.
    hugepages: tuple = ()
    # Kernel functions whose calls the run counts, with ftrace's function
    # profiler: exact and repeatable, unlike times under emulation.  Needs a
    # kernel with the +trace overlay.
    profile: tuple = ()
    # Plan lines (see guest/init.c) carried out just before and just after
    # the run, e.g. a module parameter set and restored.
    before: tuple = ()
    after: tuple = ()
    # Other binaries the run calls by their /bin path (a wrapper's test).
    uses: tuple = ()

    @property
    def binary(self):
        return self.argv[0] if self.argv else None


def kunit(suite, arches=()):
    """A KUnit suite built into the kernel, which ran at boot: its results.
    Needs the +kunit overlay (KUnit's debugfs and the suite)."""
    return Run(suite, (), arches=arches, takes_mode=False, before=(f"kunit {suite}",))


# The correctness tests of `make check`: dirty logging must lose no page with
# any backing, and page_fault_test covers arm64's stage-2 fault paths.
CHECK = (
    Run("dirty_log_test.anonymous", ("dirty_log_test", "-s", "anonymous")),
    Run("dirty_log_test.thp", ("dirty_log_test", "-s", "anonymous_thp")),
    Run("dirty_log_test.hugetlb_2mb", ("dirty_log_test", "-s", "anonymous_hugetlb_2mb"),
        hugepages=((2048, DIRTY_LOG_TEST_2M_PAGES),)),
    Run("page_fault_test", ("page_fault_test",), arches=("arm64",)),
    # A dirty ring must log writes to memory mapped before logging began.
    Run("dirty_ring_enable_test", ("dirty_ring_enable_test",), takes_mode=False),
    # Every page written after an eager split must be reported dirty.
    Run("dirty_log_split_test.thp",
        ("dirty_log_split_test", "-s", "anonymous_thp", "-b", "128M", "-i", "1")),
    # arm64 splits only when asked to; dirty_log_split_test asks itself (its
    # -E defaults to the largest block a backing page fills), so the run
    # above covers eager splitting there too.
)

# `make check` on the patched kernel built with the +debug overlay (lockdep,
# DEBUG_ATOMIC_SLEEP, DEBUG_VM, DEBUG_LIST): the runs that split, where a
# splat would show; anonymous memory, which splits nothing, is left out.
def for_debug(runs):
    return tuple(r for r in runs if r.name != "dirty_log_test.anonymous") + KUNIT


# The KUnit suites of the series, run at boot by +kunit kernels.
KUNIT = (kunit("kvm_arm64_pgtable_walk", arches=("arm64",)),
         kunit("kvm_arm64_pgtable_split", arches=("arm64",)))

# Issue #14's KVM_BUG_ON(SYSREGS_ON_CPU): does the other CPU run a static
# branch's old instruction after its update returned?  The kernel
# jumpstress (+kunit) builds the suite in; ACCEL=tcg,thread=single runs the
# same boot without QEMU's one thread per vCPU.
JUMP_STRESS = (kunit("jump_stress", arches=("arm64",)),)

# `make bench` in its first form: dirty_log_perf_test's own figures.
# Without -g the test uses manual protect with INITIALLY_SET, so splitting
# happens in KVM_CLEAR_DIRTY_LOG; with -g it happens when logging is enabled.
BENCH = (
    Run("perf.thp.enable",
        ("dirty_log_perf_test", "-s", "anonymous_thp", "-b", "256M", "-i", "2", "-g",
         "{eager}"), timeout=600),
    Run("perf.thp.clear",
        ("dirty_log_perf_test", "-s", "anonymous_thp", "-b", "256M", "-i", "2", "{eager}"),
        timeout=600),
)


def select(runs, arch):
    return [r for r in runs if not r.arches or arch.name in r.arches]


def argv(run, target):
    """The command line of a Run on a target.

    Adds the target's guest mode, and fills in {pmd}, the target's
    PMD-level block size; {hugetlb}, the hugetlb backing of that size
    (2M at 4K, 32M at 16K, 512M at 64K: smaller hugetlb pages of 16K and
    64K kernels are contiguous PTEs, which the stage-2 maps with pages);
    {size}, the target's memslot size for a split (a 64K THP block is
    512M), {gpa-4g-pmd}, the guest-physical address one block past 4G,
    and {slots}, how many
    memslots of whole blocks it splits into (4; 2 at 64K), and
    {min-clear}, the smallest CLEAR chunk (64 pages); and {eager}, which asks for eager splitting in PMD-sized chunks
    where that has to be asked for (the arch's eager arguments).
    """
    pmd = f"{target.hugepages_kb[0] // 1024}M"
    pmd_bytes = target.hugepages_kb[0] << 10
    fill = {"{pmd}": pmd, "{hugetlb}": pmd_hugetlb(target),
            "{size}": size_arg(target.split_bytes),
            "{gpa-4g-pmd}": hex((4 << 30) + pmd_bytes),
            "{slots}": str(min(4, target.split_bytes // pmd_bytes)),
            "{min-clear}": size_arg(64 * target.page_kb << 10)}
    if not run.argv:
        return ()
    out = []
    for given in run.argv:
        for a in (target.arch.eager if given == "{eager}" else (given,)):
            for key, value in fill.items():
                a = a.replace(key, value)
            out.append(a)
    if run.takes_mode and target.guest_mode:
        out += ["-m", target.guest_mode]
    return tuple(out)


def pmd_hugetlb(target):
    """The hugetlb backing whose pages the stage-2 maps with PMD-level blocks."""
    return "anonymous_hugetlb_" + size_arg(target.hugepages_kb[0] << 10).lower() + "b"


# A Run's hugepages entry ("pmd", NBYTES) asks for enough of the target's
# PMD-sized pages to back NBYTES ("{size}": the target's split size).
PMD = "pmd"


def _reserved(run, target):
    out = []
    for kb, n in run.hugepages:
        if kb == PMD:
            kb = target.hugepages_kb[0]
            nbytes = target.split_bytes if n == "{size}" else n
            n = -(-nbytes // (kb << 10))
        if kb in target.hugepages_kb:
            out.append((kb, n))
    return tuple(out)


THP_ENABLED = "/sys/kernel/mm/transparent_hugepage/enabled"


def render(runs, target, bindir="/bin", manage_memory=True):
    """The /plan text for a list of Runs on a target.

    Consecutive runs that reserve the same hugepages share one reservation,
    made before the first and released after the last: a page reserved at
    boot (1G pages cannot be had later in a small guest) stays with them.
    Without manage_memory (a plan run on the host, not in a guest), the plan
    leaves the THP setting and the hugepage pools alone.
    """
    lines = ["# generated by the workbench"]
    if manage_memory:
        lines.append(f"set {THP_ENABLED} madvise")
    held = ()
    for i, r in enumerate(runs):
        sizes = _reserved(r, target) if manage_memory else ()
        following = (_reserved(runs[i + 1], target)
                     if manage_memory and i + 1 < len(runs) else ())
        if sizes != held:
            lines += [f"hugepages {kb} {n}" for kb, n in sizes]
        lines += list(r.before) + _profile_on(r)
        if r.argv:
            lines.append(f"run {r.name} {r.timeout} {bindir}/{' '.join(argv(r, target))}")
        lines += _profile_off(r, target.arch.smp) + list(r.after)
        if sizes != following:
            lines += [f"hugepages {kb} 0" for kb, _ in sizes]
        held = sizes if sizes == following else ()
    return "\n".join(lines) + "\n"


TRACING = "/sys/kernel/tracing"
PROFILE_CPUS = 2        # the default -smp (Arch.smp): one trace_stat file per CPU


def _profile_on(run):
    if not run.profile:
        return []
    # tracefs takes one function per write; enabling resets the counts.
    return ([f"set {TRACING}/set_ftrace_filter {f}" for f in run.profile]
            + [f"set {TRACING}/function_profile_enabled 1"])


def _profile_off(run, cpus=PROFILE_CPUS):
    if not run.profile:
        return []
    return ([f"set {TRACING}/function_profile_enabled 0"]
            + [f"cat {run.name}.calls{cpu} {TRACING}/trace_stat/function{cpu}"
               for cpu in range(cpus)])


def binaries(runs):
    return sorted({b for r in runs for b in ((r.binary,) if r.binary else ()) + r.uses})


def _split_counts(profile, arches=()):
    """One counted run per backing and path: one VM, one memslot of the
    target's split size (256M; 1G at 64K, where a THP block is 512M)."""
    return tuple(
        Run(f"counts.{name}.{path}",
            ("dirty_log_split_test", "-s", backing, "-b", "{size}", "-i", "1", "-t", path),
            hugepages=hp, profile=profile, arches=arches)
        for name, backing, hp in (("anonymous", "anonymous", ()),
                                  ("anonymous_thp", "anonymous_thp", ()),
                                  ("hugetlb_pmd", "{hugetlb}", ((PMD, "{size}"),)))
        for path in ("enable", "clear"))


# Counts only: the profiler charges each call, so times from these runs
# overstate what fewer calls save.
# Calls of arm64's split visitor per dirty-log enable or CLEAR, on memory
# mapped with pages (anonymous: the split finds nothing to do), with THP
# and with 2M hugetlb.  Needs a +trace kernel.
# stage2_map_walker: one per entry of the tables a split builds, until the
# series fills them without a walk.  kvm_host_get_page: one reference on a
# table per entry written, until series/arm64 patch 3 adds a table of
# leaves' at once.  __kvm_tlb_flush_vmid_ipa (VHE, where kvm_call_hyp() is
# a call): every IPA invalidation of the run, one break-before-make per
# block split but also one per page that the unmap walker clears when the
# test frees its memory (65,536 per 256M under QEMU 10, which does not
# defer them), so compare kernels, not the figure with the block count.
WALK_COUNTS = _split_counts(("stage2_split_walker", "__kvm_pgtable_walk", "stage2_map_walker",
                             "kvm_host_get_page", "__kvm_tlb_flush_vmid_ipa"))

# The write-protect walk, all that is left of an enable or CLEAR over memory
# mapped with pages once the split skips last-level tables: one
# stage2_attr_walker call per entry write-protected, and the executable
# check kvm_pgtable_stage2_pte_prot() made for it (once or twice per entry
# until series/arm64 patch 5 skips it when XN stays).  The teardown's
# walks are in __kvm_pgtable_walk too, so compare kernels, not figures.
WP_COUNTS = _split_counts(("stage2_attr_walker", "kvm_pgtable_stage2_pte_prot",
                           "__kvm_pgtable_walk"), arches=("arm64",))
# Both in one boot, for the granules whose kernels take long to boot.
ARM64_COUNTS = _split_counts(tuple(dict.fromkeys(WALK_COUNTS[0].profile
                                                 + WP_COUNTS[0].profile)), arches=("arm64",))
# The same without __kvm_pgtable_walk: at 16K, 7.3's teardown walks so much
# empty IPA space (see series/arm64-fixes) that profiling each walk makes a
# selftest process take minutes.
ARM64_COUNTS_NO_WALK = _split_counts(tuple(f for f in ARM64_COUNTS[0].profile
                                           if f != "__kvm_pgtable_walk"), arches=("arm64",))

# The same for RISC-V, where no one function is "the split visitor": calls
# that exist in 7.2, in the series and in 7.3 alike, so that all three
# kernels can be counted with one plan.  kvm_riscv_mmu_map is one guest
# g-stage fault, and __kvm_faultin_pfn one that took the slow way: the
# difference took the read-locked fast path, which makes a write-protected
# page writable again; kvm_riscv_gstage_split_huge is the fault path's split
# (7.2 and 7.3; 7.3 also calls it from its eager split);
# kvm_riscv_gstage_get_leaf is one lookup from the root; each split takes one
# page with kvm_mmu_memory_cache_alloc; kvm_riscv_hfence_gvma_vmid_gpa is
# one ranged TLB flush request from the g-stage code (the fault path), and
# kvm_arch_flush_remote_tlbs_range one from generic KVM or mmu.c (ioctls).
RISCV_SPLIT_PROFILE = ("kvm_riscv_mmu_map", "__kvm_faultin_pfn", "kvm_riscv_gstage_split_huge",
                       "kvm_riscv_gstage_get_leaf", "kvm_mmu_memory_cache_alloc",
                       "kvm_riscv_hfence_gvma_vmid_gpa", "kvm_arch_flush_remote_tlbs_range")
RISCV_SPLIT_COUNTS = _split_counts(RISCV_SPLIT_PROFILE, arches=("riscv64",))

# RISC-V eager splitting, beyond `make check`: with it on and off, on both
# paths, with CLEAR chunks smaller than, equal to and larger than a 2M
# mapping.  dirty_log_split_test fails if a page written after the split is
# not reported dirty.
EAGER_PARAM = "/sys/module/kvm/parameters/eager_page_split"


def _eager_off(run):
    return Run(run.name + ".eager_off", run.argv, run.timeout, run.arches, run.takes_mode,
               run.hugepages, run.profile, before=(f"set {EAGER_PARAM} N",),
               after=(f"set {EAGER_PARAM} Y",))


def eager_off(run, arch):
    """The same dirty_log_split_test run with eager splitting off: where the
    selftest asks for it (arm64: -E), it asks for a chunk of 0; elsewhere
    kvm.eager_page_split is N for the run's duration."""
    if not arch.eager:
        return _eager_off(run)
    argv, i = [], 0
    while i < len(run.argv):
        a = run.argv[i]
        i += 2 if a == "-E" else 1
        if a not in ("-E", "{eager}"):
            argv.append(a)
    return replace(run, name=run.name + ".eager_off", argv=tuple(argv) + ("-E", "0"))


_RISCV_SPLIT = tuple(
    Run(f"dirty_log_split_test.{backing}.clear_{chunk}",
        ("dirty_log_split_test", "-s", backing, "-b", "64M", "-i", "2", "-C", chunk),
        hugepages=hp, arches=("riscv64",))
    for backing, hp in (("anonymous_thp", ()), ("anonymous_hugetlb_2mb", ((2048, 40),)))
    for chunk in ("256K", "2M", "4M"))
_RISCV_DIRTY_LOG = (
    Run("dirty_log_test.thp", ("dirty_log_test", "-s", "anonymous_thp"), arches=("riscv64",)),
    Run("dirty_log_test.hugetlb_2mb", ("dirty_log_test", "-s", "anonymous_hugetlb_2mb"),
        hugepages=((2048, DIRTY_LOG_TEST_2M_PAGES),), arches=("riscv64",)),
)
RISCV_EAGER = (_RISCV_SPLIT + _RISCV_DIRTY_LOG
               + tuple(_eager_off(r) for r in _RISCV_SPLIT[:3] + _RISCV_DIRTY_LOG))

# 1G mappings: split to 2M and then 4K, on both paths, with CLEAR chunks
# below and above 2M.  The memslot must be 1G for KVM to map it with a 1G
# leaf (and for the selftest library to munmap it), and the 1G page must be
# reserved on the kernel command line of a 4G guest (make run MEM=4G
# CMDLINE="hugepagesz=1G hugepages=1").
RISCV_1G = tuple(
    Run(f"dirty_log_split_test.hugetlb_1gb.clear_{chunk}",
        ("dirty_log_split_test", "-s", "anonymous_hugetlb_1gb", "-b", "1G", "-i", "1",
         "-C", chunk), hugepages=((1048576, 1),), profile=RISCV_SPLIT_PROFILE,
        arches=("riscv64",))
    for chunk in ("256K", "4M"))

# Every g-stage mode: guest modes with 41 and 50 physical address bits make
# the selftests ask KVM for Sv39x4 and Sv48x4 (KVM_CAP_VM_GPA_BITS), where
# QEMU's hart would give Sv57x4.  Sv39x4 maps 1G in its root table.  The
# selftests put their memory at the top of each mode's address space, which
# QEMU 7.2 could not run (it checked guest physical addresses as if they
# were virtual, fixed in QEMU 8.1); QEMU 10 runs it, so no -p moves it.
RISCV_GSTAGE_MODES = {"sv39x4": "25", "sv48x4": "21", "sv57x4": "18"}   # -m


def _mode_args(mode):
    return ("-m", RISCV_GSTAGE_MODES[mode])


RISCV_MODES = tuple(
    Run(f"{mode}.{name}", argv + _mode_args(mode), hugepages=hp,
        arches=("riscv64",), takes_mode=False)
    for mode in RISCV_GSTAGE_MODES
    for name, argv, hp in (
        ("split.thp.clear_256K", ("dirty_log_split_test", "-s", "anonymous_thp", "-b", "64M",
                                  "-i", "1", "-C", "256K"), ()),
        ("split.hugetlb_2mb.clear_4M", ("dirty_log_split_test", "-s", "anonymous_hugetlb_2mb",
                                        "-b", "64M", "-i", "1", "-C", "4M"), ((2048, 40),)),
        ("dirty_log_test.hugetlb_2mb", ("dirty_log_test", "-s", "anonymous_hugetlb_2mb"),
         ((2048, DIRTY_LOG_TEST_2M_PAGES),)),
    ))

# Does each g-stage mode work at all, with no huge mapping to split?
RISCV_MODES_SMOKE = tuple(
    Run(f"{mode}.dirty_log_test.anonymous",
        ("dirty_log_test", "-s", "anonymous", "-i", "4") + _mode_args(mode),
        timeout=120, arches=("riscv64",), takes_mode=False)
    for mode in RISCV_GSTAGE_MODES)

# Where a mode's run hangs: the g-stage calls of a short run of it.
RISCV_MODES_PROFILE = ("kvm_riscv_mmu_map", "kvm_riscv_vcpu_exit", "kvm_riscv_gstage_set_pte",
                       "kvm_riscv_gstage_get_leaf", "kvm_riscv_mmu_update_hgatp")
RISCV_MODES_TRACE = tuple(
    Run(f"{mode}.trace", ("dirty_log_test", "-s", "anonymous", "-i", "1", "-m", m),
        timeout=20, arches=("riscv64",), takes_mode=False, profile=RISCV_MODES_PROFILE)
    for mode, m in RISCV_GSTAGE_MODES.items())

# The 1G runs in each g-stage mode, counted (a +trace kernel, booted as for
# riscv-1g): in Sv39x4 the 1G mapping is a root-table leaf.
RISCV_1G_MODES = tuple(
    Run(f"{mode}.split.hugetlb_1gb.clear_{chunk}",
        ("dirty_log_split_test", "-s", "anonymous_hugetlb_1gb", "-b", "1G", "-i", "1",
         "-C", chunk) + _mode_args(mode),
        hugepages=((1048576, 1),), arches=("riscv64",), takes_mode=False,
        profile=RISCV_SPLIT_PROFILE)
    for mode in RISCV_GSTAGE_MODES for chunk in ("256K", "4M"))

# How much of a RISC-V enable over huge mappings is the split?  The same
# enable timed with eager splitting on and then off: off, the ioctl only
# write-protects, so its time is what the memslot update costs around the
# split (generic memslot code, the SRCU grace period, the write-protect).
def _on_and_off(run):
    return (run, _eager_off(run))


RISCV_ENABLE_FLOOR = tuple(
    r for backing, hp in (("anonymous", ()), ("anonymous_thp", ()),
                          ("anonymous_hugetlb_2mb", ((2048, 140),)))
    for r in _on_and_off(Run(f"enable.{backing}", ("dirty_log_split_test", "-s", backing, "-b",
                                                   "256M", "-i", "8", "-t", "enable"),
                             hugepages=hp, arches=("riscv64",))))

# Where that floor goes: the memslot update's own functions, profiled with
# their time (the function graph tracer charges each call its callees).
RISCV_ENABLE_TIME_PROFILE = ("kvm_set_memslot", "kvm_swap_active_memslots",
                             "synchronize_srcu_expedited", "kvm_arch_prepare_memory_region",
                             "kvm_arch_commit_memory_region", "kvm_flush_remote_tlbs_memslot",
                             "__kvm_mmu_topup_memory_cache")
RISCV_ENABLE_TIME = _on_and_off(
    Run("enable_time.anonymous_thp", ("dirty_log_split_test", "-s", "anonymous_thp", "-b", "256M",
                                      "-i", "4", "-t", "enable"),
        arches=("riscv64",), profile=RISCV_ENABLE_TIME_PROFILE))

# Does the g-stage give its tables back?  Pages allocated and not freed
# (sum of pgalloc_* less pgfree in /proc/vmstat) around a run of 20 VMs that
# each map 256M with 4K pages (128 last-level tables of 4K each, 512K): they
# may grow by at most 64K per VM, where 7.3 leaves each VM's tables behind.
# MemFree is printed too but not judged: freed pages that wait on per-CPU
# free lists are missing from it, by tens of MB from one boot to the next.
#
# On arm64 the same with THP, split on enable, is the check of the split
# tables' references (series/arm64 patch 3): one too many and every table
# stays (128 per VM), one too few and the debug kernel's put_page() splats.
LEAK_VMS = 20
LEAK_MAX_KB_PER_VM = 64


def _leak_runs(suffix, backing, arch):
    return (
        Run(f"leak.warmup{suffix}", ("dirty_log_split_test", "-s", backing, "-b", "256M",
                                     "-i", "1", "-t", "enable"), arches=(arch,)),
        Run(f"leak.vms{suffix}", ("dirty_log_split_test", "-s", backing, "-b", "256M",
                                  "-i", str(LEAK_VMS), "-t", "enable"), arches=(arch,),
            timeout=900,
            before=(f"pgout leak{suffix}.before", f"memfree memfree{suffix}.before"),
            after=(f"pgout leak{suffix}.after", f"memfree memfree{suffix}.after",
                   f"memgrow leak{suffix}.pages leak{suffix}.before leak{suffix}.after "
                   f"{LEAK_VMS * LEAK_MAX_KB_PER_VM}")),
    )


LEAK_CHECK = (_leak_runs("", "anonymous", "riscv64")
              + _leak_runs(".thp", "anonymous_thp", "arm64"))

# The fallback when the split cache cannot be filled: every page allocation
# made with the dirty-log entry points of arch/riscv/kvm/mmu.c on the stack
# fails (the split cache's), so splitting is left to the fault path; the
# guest must see no error and no dirty page may be lost.  Needs a
# +failinject kernel; the profile (+trace) shows the fault path splitting.
FAIL = "/sys/kernel/debug/fail_page_alloc"
_FAIL_ON = (f"set {FAIL}/verbose 0", f"set {FAIL}/ignore-gfp-wait N", f"set {FAIL}/min-order 0",
            f"set {FAIL}/stacktrace-depth 32",
            f"setsym {FAIL}/require-start start kvm_arch_mmu_enable_log_dirty_pt_masked",
            f"setsym {FAIL}/require-end end kvm_arch_commit_memory_region",
            f"set {FAIL}/times -1", f"set {FAIL}/interval 1", f"set {FAIL}/probability 100")
_FAIL_OFF = (f"set {FAIL}/probability 0",)
RISCV_SPLIT_FALLBACK = tuple(
    Run(r.name + ".alloc_fails", r.argv, r.timeout, r.arches, r.takes_mode, r.hugepages,
        RISCV_SPLIT_PROFILE, before=_FAIL_ON, after=_FAIL_OFF)
    for r in (_RISCV_SPLIT[0], _RISCV_SPLIT[2]) + _RISCV_DIRTY_LOG)

# page_fault_test again and again: is a splat in it timing-dependent?
PAGE_FAULT_REPEAT = tuple(Run(f"page_fault_test.{i}", ("page_fault_test",), arches=("arm64",))
                          for i in range(1, 9))

# page_fault_test given half an hour: a run that times out at make check's
# 300 s, e.g. at 16K, is it hung or slow?  Its progress is pr_debug, so only
# the duration line tells.
PAGE_FAULT_LONG = (Run("page_fault_test.long", ("page_fault_test",), arches=("arm64",),
                       timeout=1800),)

# VM teardown over an empty IPA space.  Every arm64 selftest process first
# creates and destroys a VM with the largest IPA size the host offers
# (aarch64_get_supported_page_sizes()), before it parses its options: so
# `dirty_log_test -h` times one create and destroy of a VM that maps nothing.
# 7.3 walks all of its IPA space a level-2 block at a time, at 16K with a
# 52-bit IPA 2^27 walks (series/arm64-fixes); the duration lines tell.
VM_TEARDOWN_RUNS = 3
VM_TEARDOWN = tuple(Run(f"teardown.{i}", ("dirty_log_test", "-h"), arches=("arm64",),
                        takes_mode=False, timeout=1800)
                    for i in range(1, VM_TEARDOWN_RUNS + 1))

# The stage-2 after each split, to compare base and patched tables line by
# line (make compare-dumps), on both paths: memory already mapped with pages,
# THP and hugetlb blocks at the granule's PMD level; several memslots; and a
# memslot that starts one PMD block into a level-1 region, so that walks
# begin and end inside level-2 tables (whole blocks: dirty_log_split_test
# refuses a memslot that is not whole THP pages).  Needs an arm64 +trace
# kernel (CONFIG_PTDUMP_STAGE2_DEBUGFS).
def _dump(name, path, *args, hugepages=()):
    return Run(f"dump.{name}.{path}",
               ("dirty_log_split_test", "-i", "1", "-t", path, "-d") + args,
               hugepages=hugepages, arches=("arm64",))


STAGE2_DUMPS = tuple(
    run
    for path in ("enable", "clear")
    for run in (
        _dump("anonymous", path, "-s", "anonymous", "-b", "{size}"),
        _dump("thp", path, "-s", "anonymous_thp", "-b", "{size}"),
        _dump("hugetlb_pmd", path, "-s", "{hugetlb}", "-b", "{size}",
              hugepages=((PMD, "{size}"),)),
        _dump("thp.slots", path, "-s", "anonymous_thp", "-b", "{size}", "-x", "{slots}"),
        _dump("thp.offset", path, "-s", "anonymous_thp", "-b", "{size}",
              "-p", "{gpa-4g-pmd}"),
    ))

# Level-1 blocks (1G at 4K): split whole when the eager-split chunk covers a
# block (-E 1G: the cache holds 513 pages, create_unlinked() builds down to
# PTEs), and a level at a time when it does not (-E 2M).  1G pages must be
# reserved at boot: make run V=arm64-4k-...+trace PLAN=stage2-dumps-1g
# MEM=4G CMDLINE='hugepagesz=1G hugepages=1'.
STAGE2_DUMPS_1G = tuple(
    Run(f"dump.hugetlb_1gb.{path}.chunk_{chunk}",
        ("dirty_log_split_test", "-s", "anonymous_hugetlb_1gb", "-b", "1G", "-i", "1",
         "-t", path, "-E", chunk, "-d"),
        hugepages=((1048576, 1),), arches=("arm64",))
    for chunk in ("2M", "1G") for path in ("enable", "clear"))

# A split batching its TLB invalidations has nothing to batch with the
# default chunk, one PMD block per kvm_pgtable_stage2_split() call: with a 1G
# chunk a call splits the memslot's 128 THP blocks.  Their tables (make
# compare-dumps), and the invalidations that VHE's kvm_call_hyp() makes direct
# calls: per IPA, per range, of the whole VMID.  4K only (-E 1G); +trace.
SPLIT_BATCH_PROOF = tuple(
    Run(f"{kind}.thp.chunk_1G.{path}",
        ("dirty_log_split_test", "-s", "anonymous_thp", "-b", "{size}", "-i", "1", "-t", path,
         "-E", "1G") + (("-d",) if kind == "dump" else ()),
        arches=("arm64",),
        profile=(("stage2_split_walker", "__kvm_tlb_flush_vmid_ipa",
                  "__kvm_tlb_flush_vmid_range", "__kvm_tlb_flush_vmid")
                 if kind == "counts" else ()))
    for kind in ("dump", "counts") for path in ("enable", "clear"))

# mmu_lock drops of eager splitting: kvm_mmu_split_huge_pages() drops the
# lock for each top-up of its cache, so __kvm_mmu_topup_memory_cache() calls
# count them (the fault path's top-ups, the same on every kernel, included:
# "pages" splits nothing and shows them).  Default PMD chunk and a 1G one,
# 4K only; +trace.
SPLIT_TOPUP_COUNTS = tuple(
    Run(f"counts.{backing}.chunk_{chunk}.{path}",
        ("dirty_log_split_test", "-s", source, "-b", "{size}", "-i", "1", "-t", path,
         "-E", chunk),
        arches=("arm64",),
        profile=("__kvm_mmu_topup_memory_cache", "kvm_mmu_split_huge_pages",
                 "stage2_split_walker"))
    for backing, source in (("pages", "anonymous"), ("thp", "anonymous_thp"))
    for chunk in ("2M", "1G") for path in ("enable", "clear"))

# Visitor calls and walker recursions (one per table entered) of the same
# level-1 splits: the 'leafonly' experiment saves one table entered per 1G
# block split whole.  Same boot requirements as stage2-dumps-1g.
WALK_COUNTS_1G = tuple(
    Run(f"counts.hugetlb_1gb.{path}.chunk_{chunk}",
        ("dirty_log_split_test", "-s", "anonymous_hugetlb_1gb", "-b", "1G", "-i", "1",
         "-t", path, "-E", chunk),
        hugepages=((1048576, 1),), arches=("arm64",),
        profile=("stage2_split_walker", "__kvm_pgtable_walk"))
    for chunk in ("2M", "1G") for path in ("enable", "clear"))

# The correctness runs of `make check` for any arm64 granule, with eager
# splitting on where the test can ask for it (dirty_log_split_test does by
# default; dirty_log_test cannot): hugetlb at the granule's PMD block size
# (2M, 32M, 512M) where check's runs use 2M pages, which 16K and 64K
# kernels map with contiguous PTEs and the stage-2 with pages.  Every hugetlb run reserves
# the same pages, so that one boot-time reservation serves them all: at 64K,
# boot with MEM=4G CMDLINE='hugepagesz=512M hugepages=3'.  Add
# CMDLINE=kvm-arm.mode=nvhe for nVHE.
_DIRTY_LOG_TEST_BYTES = (1 << 30) + 1     # 1G and 3 pages, in whole hugepages
GRANULE_CHECK = (
    Run("dirty_log_test.thp", ("dirty_log_test", "-s", "anonymous_thp")),
    Run("dirty_log_test.hugetlb_pmd", ("dirty_log_test", "-s", "{hugetlb}"),
        hugepages=((PMD, _DIRTY_LOG_TEST_BYTES),)),
    Run("dirty_log_split_test.hugetlb_pmd.enable",
        ("dirty_log_split_test", "-s", "{hugetlb}", "-b", "{size}", "-i", "1", "-t", "enable"),
        hugepages=((PMD, _DIRTY_LOG_TEST_BYTES),)),
    Run("dirty_log_split_test.hugetlb_pmd.clear",
        ("dirty_log_split_test", "-s", "{hugetlb}", "-b", "{size}", "-i", "1", "-t", "clear"),
        hugepages=((PMD, _DIRTY_LOG_TEST_BYTES),)),
    Run("dirty_log_split_test.thp.clear_min",
        ("dirty_log_split_test", "-s", "anonymous_thp", "-b", "{size}", "-i", "1", "-t", "clear",
         "-C", "{min-clear}")),
    Run("page_fault_test", ("page_fault_test",)),
    Run("dirty_ring_enable_test", ("dirty_ring_enable_test",), takes_mode=False),
)
GRANULE_CHECK = tuple(Run(r.name, r.argv, r.timeout, ("arm64",), r.takes_mode, r.hugepages)
                      for r in GRANULE_CHECK)

# dirty_log_split_test on the hugetlb sizes of 16K and 64K kernels that are
# not PMD blocks: 2M (contiguous PTEs, mapped with pages by the stage-2) and,
# at 16K, 1G (contiguous PMDs, mapped with 32M blocks; boot with MEM=4G
# CMDLINE='hugepagesz=1G hugepages=1').  At 64K: ONLY='*2mb*'.
GRANULE_BACKINGS = tuple(
    Run(f"split.{backing}", ("dirty_log_split_test", "-s", backing, "-b", size, "-i", "1"),
        hugepages=hp, arches=("arm64",))
    for backing, size, hp in (("anonymous_hugetlb_1gb", "1G", ((1048576, 1),)),
                              ("anonymous_hugetlb_2mb", "256M", ((2048, 128),))))

# dirty_log_split_test where it is easy to get wrong, each run also a
# dirty-log exactness check: a size of an odd number of pages, a CLEAR
# chunk that is not a multiple of 2M, several memslots, more vCPUs than
# the guest has CPUs, memory placed one 2M block past 1G, and THP turned
# off, where the test must skip with its reason rather than time nothing.
# On arm64 also the 16K and 64K guest modes on the 4K host (-m 7, -m 8):
# the stage-2 keeps the host's granule, the guest's pages do not.
SPLIT_TEST_EDGES = (
    Run("split.anonymous.odd_size.clear_768K",
        ("dirty_log_split_test", "-s", "anonymous", "-b", "4100K", "-i", "1", "-C", "768K")),
    Run("split.thp.slots_3.clear_768K",
        ("dirty_log_split_test", "-s", "anonymous_thp", "-b", "96M", "-x", "3", "-i", "1",
         "-C", "768K")),
    Run("split.thp.vcpus_4",
        ("dirty_log_split_test", "-s", "anonymous_thp", "-b", "16M", "-v", "4", "-i", "1")),
    Run("split.hugetlb_2mb.gpa_1G_2M",
        ("dirty_log_split_test", "-s", "anonymous_hugetlb_2mb", "-b", "64M", "-i", "1",
         "-p", hex((1 << 30) + (2 << 20))), hugepages=((2048, 40),)),
    Run("split.thp.thp_never",
        ("dirty_log_split_test", "-s", "anonymous_thp", "-b", "64M", "-i", "1"),
        before=(f"set {THP_ENABLED} never",), after=(f"set {THP_ENABLED} madvise",)),
) + tuple(
    Run(f"split.{name}.guest_{granule}", argv + ("-m", mode), hugepages=hp,
        arches=("arm64",), takes_mode=False)
    for granule, mode in (("16k", "7"), ("64k", "8"))
    for name, argv, hp in (
        ("thp", ("dirty_log_split_test", "-s", "anonymous_thp", "-b", "64M", "-i", "1"), ()),
        ("hugetlb_2mb.clear_4M", ("dirty_log_split_test", "-s", "anonymous_hugetlb_2mb",
                                  "-b", "64M", "-i", "1", "-t", "clear", "-C", "4M"),
         ((2048, 40),)),
    ))

# Eager splitting asked for where the stage-2 belongs to pKVM: boot with
# CMDLINE=kvm-arm.mode=protected.  7.3 does not offer it there
# (KVM_CAP_ARM_SUPPORTED_BLOCK_SIZES is 0), so both tests skip, and dmesg
# must stay clean; without -E the split test leaves splitting to the write
# faults and checks the dirty log.
PKVM_EAGER = (Run("pkvm.eager_split", ("dirty_log_perf_test", "-s", "anonymous_thp", "-b",
                                       "64M", "-i", "2", "-g", "-E", "{pmd}"),
                  arches=("arm64",)),
              Run("pkvm.eager_split.split_test", ("dirty_log_split_test", "-s", "anonymous_thp",
                                                  "-b", "64M", "-i", "1", "-E", "{pmd}"),
                  arches=("arm64",)),
              Run("pkvm.split_test", ("dirty_log_split_test", "-s", "anonymous_thp", "-b", "64M",
                                      "-i", "1"), arches=("arm64",)))

# Nested virtualisation: the vCPUs run in L2 (-n), so KVM maps the guest's
# memory in its shadow of the L1's tables, which dirty logging must
# write-protect too.  On arm64 (boot with kvm-arm.mode=nested) they run at
# vEL1 under their vEL2; on x86 under memstress's L1 (VMX or SVM).  Memory mapped
# with pages: dirty_log_perf_test times GET (-g) and CLEAR; dirty_log_split_test
# checks the dirty log exact after enable and CLEAR.  The counted runs need a
# +trace kernel.
NESTED_ARCHES = ("arm64", "x86_64")   # x86: nested SVM or VMX, on by default
# The VMID invalidations (VHE, where kvm_call_hyp() is a call): an emulated
# CPU without FEAT_TLBIRANGE turns the canonical range flush into a whole
# VMID one too, so arm64-fixes patch 3 shows as one more per shadow walked.
NESTED_WP_PROFILE = ("kvm_nested_s2_wp", "kvm_stage2_wp_range", "kvm_pgtable_stage2_wrprotect",
                     "kvm_arch_mmu_enable_log_dirty_pt_masked", "kvm_pgtable_get_leaf",
                     "__kvm_tlb_flush_vmid", "__kvm_tlb_flush_vmid_range")


def _nested_perf(name, size, *args, profile=()):
    return Run(f"nested.{name}", ("dirty_log_perf_test", "-n", "-s", "anonymous", "-b", size)
               + args, arches=NESTED_ARCHES, profile=profile, timeout=1800)


def _nested_split(backing, size, profile=()):
    return Run(f"nested.split.{backing}" + (".counts" if profile else ""),
               ("dirty_log_split_test", "-n", "-s", backing, "-b", size, "-i", "1"),
               arches=NESTED_ARCHES, profile=profile, timeout=1800)


# 8M is 32 words of dirty bitmap.  Counted, 7.3 makes one walk per GiB of
# the 52-bit shadow IPA space per word, 2^22 of them, each a profiled call:
# 1M (4 words) and two iterations, the fewest the test takes, keep that
# to minutes.
NESTED_WP = (_nested_perf("clear", "8M", "-i", "3"), _nested_perf("get", "8M", "-g", "-i", "3"),
             _nested_split("anonymous", "8M"), _nested_split("anonymous_thp", "8M"))
NESTED_WP_COUNTS = (_nested_perf("clear.counts", "1M", "-i", "2", profile=NESTED_WP_PROFILE),
                    _nested_perf("get.counts", "1M", "-g", "-i", "2", profile=NESTED_WP_PROFILE))

# `make bench`: dirty_log_split_test, one run per backing and path, each
# timing -r repetitions on fresh VMs (see wb/bench.py for the matrix).
SPLIT_BACKINGS = ("anonymous", "anonymous_thp", "anonymous_hugetlb_2mb",
                  "anonymous_hugetlb_1gb")
SPLIT_PATHS = ("enable", "clear")
_HUGETLB = re.compile(r"^anonymous_hugetlb_(\d+)(kb|mb|gb)$")
_UNITS = {"kb": 1, "mb": 1024, "gb": 1024 * 1024}


def hugetlb_kb(backing):
    """The hugepage size in kB an anonymous_hugetlb_<size> backing needs, else None."""
    m = _HUGETLB.match(backing)
    return int(m.group(1)) * _UNITS[m.group(2)] if m else None


def size_arg(nbytes):
    """Bytes as the selftests' parse_size() reads them, as short as exact."""
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if nbytes and nbytes % (1 << shift) == 0:
            return f"{nbytes >> shift}{unit}"
    return str(nbytes)


def parse_size(text):
    """Bytes from a size as size_arg writes it or a person types it (512M,
    1G, 65536, 2mb), else None."""
    m = re.fullmatch(r"(\d+)([kKmMgGtT]?)[bB]?", str(text).strip())
    if not m:
        return None
    return int(m.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30, "t": 40}[m.group(2).lower()]


def split_run(backing, path, vcpu_bytes, vcpus, reps, timeout=600, hugepages=(),
              profile=(), mode=None, chunk=None, stall=False, nested=False):
    """One dirty_log_split_test run: REPS fresh VMs, each timing PATH once.

    mode pins the guest mode (-m); without it the target's own applies.
    chunk, in bytes, is arm64's eager-split chunk; without it, the PMD block.
    stall keeps the vCPUs writing during the timed ioctl (-l), for the
    longest vCPU stall; nested runs them in a nested guest (-n).
    """
    eager = ("-E", size_arg(chunk)) if chunk else ("{eager}",)
    argv = ("dirty_log_split_test", "-s", backing, "-b", size_arg(vcpu_bytes),
            "-v", str(vcpus), "-i", str(reps), "-t", path) + eager
    argv += ("-l",) if stall else ()
    argv += ("-n",) if nested else ()
    if mode:
        argv += ("-m", mode)
    return Run(f"split.{backing}.{path}", argv, timeout=timeout, hugepages=hugepages,
               profile=profile, takes_mode=not mode)


PLANS = {
    "check": CHECK,
    "bench": BENCH,
    "walk-counts": WALK_COUNTS,
    "walk-counts-1g": WALK_COUNTS_1G,
    "wp-counts": WP_COUNTS,
    "arm64-counts": ARM64_COUNTS,
    "arm64-counts-no-walk": ARM64_COUNTS_NO_WALK,
    "stage2-dumps": STAGE2_DUMPS,
    # Both proofs of a walker or table-building change in one boot: calls,
    # and the tables after each split (compare-dumps reads them).
    "split-proof": WALK_COUNTS + STAGE2_DUMPS,
    "stage2-dumps-1g": STAGE2_DUMPS_1G,
    "split-batch-proof": SPLIT_BATCH_PROOF,
    "split-topup-counts": SPLIT_TOPUP_COUNTS,
    "granule-check": GRANULE_CHECK,
    "granule-backings": GRANULE_BACKINGS,
    # On a +debug+kunit kernel: the same with lockdep & co., and KUnit.
    "granule-debug": GRANULE_CHECK + KUNIT,
    "kunit": KUNIT,
    "jump-stress": JUMP_STRESS,
    "pkvm-eager": PKVM_EAGER,
    "nested-wp": NESTED_WP,
    "nested-wp-counts": NESTED_WP_COUNTS,
    "split-test-edges": SPLIT_TEST_EDGES,
    "page-fault-repeat": PAGE_FAULT_REPEAT,
    "page-fault-long": PAGE_FAULT_LONG,
    "vm-teardown": VM_TEARDOWN,
    "riscv-split-counts": RISCV_SPLIT_COUNTS,
    "riscv-eager": RISCV_EAGER,
    "riscv-enable-floor": RISCV_ENABLE_FLOOR,
    "riscv-enable-time": RISCV_ENABLE_TIME,
    "riscv-1g": RISCV_1G,
    "riscv-modes": RISCV_MODES,
    "riscv-modes-smoke": RISCV_MODES_SMOKE,
    "riscv-modes-trace": RISCV_MODES_TRACE,
    "riscv-1g-modes": RISCV_1G_MODES,
    "riscv-split-fallback": RISCV_SPLIT_FALLBACK,
    "leak-check": LEAK_CHECK,
}
