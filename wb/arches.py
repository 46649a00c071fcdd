"""Per-architecture facts, kept as tables: adding an architecture is adding a row.

An Arch says how to cross-build and boot one instruction set.  A Target is
what the workbench builds and boots: an Arch plus the config fragments that
pick, say, the page granule, and the hugepage sizes that granule offers.
Everything the rest of the workbench knows per arch or per target is a
field here (with a default), read from the row: QEMU's arguments, the plan
substitutions, the bench's cost model and counted functions, which
commands run the target.  Adding a target is adding a row and its config
fragment.
"""

from dataclasses import dataclass

from .plans import RISCV_SPLIT_PROFILE


@dataclass(frozen=True)
class Arch:
    name: str
    kernel_arch: str            # ARCH= for kbuild and the selftests
    cross_compile: str          # CROSS_COMPILE= prefix
    cross_package: str          # Debian package that provides the compiler
    libc_package: str           # Debian package with its static libc
    qemu: str                   # QEMU system emulator binary
    qemu_package: str
    machine: str
    cpu: str
    bios: str                   # "" for QEMU's default firmware handling
    console: str                # kernel console device
    earlycon: str
    image: str                  # kernel image, relative to the build dir
    fragments: tuple            # config fragments, beyond common.config
    selftests: tuple            # KVM selftests to build, relative to selftests/kvm
    cmdline: tuple = ()         # always on the kernel command line
    # The overlays of make check's debug stage: lockdep and friends, and the
    # KUnit suites the series adds for the arch.
    debug_overlays: tuple = ("debug",)
    qemu_args: tuple = ()       # more QEMU arguments, after the workbench's own
    smp: int = 2                # QEMU -smp: also how many trace_stat files a profile has
    # What a plan's "{eager}" becomes: the selftests' arguments that ask for
    # eager splitting where it must be asked for ({pmd}: the PMD block).
    eager: tuple = ()
    # What KVM needs on the kernel command line to run the selftests' vCPUs
    # nested (make bench NESTED=1, selftests' -n); None: KVM has no nested
    # virtualisation on the arch.
    nested_cmdline: tuple = None
    # Kernel functions make bench COUNTS=1 counts (a +trace kernel).
    count_functions: tuple = ()
    # Libraries make profile's static perf needs beyond libc.
    perf_libs: str = ""
    # make bench's cost model, from dirty_log_split_test under QEMU TCG on 2
    # cores: seconds per guest page per repetition (populate and dirty
    # pass), extra per page when anonymous memory faults 4K at a time, and
    # per boot (QEMU, kernel, init).
    page_seconds: float = 10e-6
    anon_page_seconds: float = 5e-6
    boot_seconds: float = 10.0

    @property
    def native(self):
        """Built with the host's own compiler and libc, not a cross one."""
        return not self.cross_compile


COMMON_SELFTESTS = (
    "dirty_log_test",
    "dirty_log_perf_test",
    "kvm_page_table_test",
    "memslot_perf_test",
    "memslot_modification_stress_test",
    "set_memory_region_test",
    "dirty_log_split_test",
    "dirty_ring_enable_test",
)

ARCHES = {
    "arm64": Arch(
        name="arm64", kernel_arch="arm64",
        cross_compile="aarch64-linux-gnu-",
        cross_package="gcc-aarch64-linux-gnu", libc_package="libc6-dev-arm64-cross",
        qemu="qemu-system-aarch64", qemu_package="qemu-system-arm",
        machine="virt,virtualization=on,gic-version=3",
        cpu="max,pauth-impdef=on", bios="",
        console="ttyAMA0", earlycon="pl011,0x9000000",
        image="arch/arm64/boot/Image",
        fragments=("arm64",),
        selftests=COMMON_SELFTESTS + ("arm64/page_fault_test",),
        debug_overlays=("debug", "kunit"),
        eager=("-E", "{pmd}"),
        # vEL2 vCPUs need FEAT_NV2, which QEMU's max CPU has.
        nested_cmdline=("kvm-arm.mode=nested",),
        count_functions=("stage2_split_walker",),
        # 128M: 2.5 s per repetition
        page_seconds=60e-6, anon_page_seconds=60e-6, boot_seconds=10.0,
    ),
    "riscv64": Arch(
        name="riscv64", kernel_arch="riscv",
        cross_compile="riscv64-linux-gnu-",
        cross_package="gcc-riscv64-linux-gnu", libc_package="libc6-dev-riscv64-cross",
        qemu="qemu-system-riscv64", qemu_package="qemu-system-riscv",
        machine="virt", cpu="rv64,h=true", bios="default",
        console="ttyS0", earlycon="sbi",
        image="arch/riscv/boot/Image",
        fragments=("riscv64",),
        # memslot_perf_test static-asserts a lock-free atomic bool, which
        # Debian's riscv64 gcc 12 does not provide.
        selftests=tuple(t for t in COMMON_SELFTESTS if t != "memslot_perf_test"),
        count_functions=RISCV_SPLIT_PROFILE,
        # gcc 12 compiles 1- and 2-byte atomics into libatomic calls.
        perf_libs="-latomic",
        # 128M: 1.25 s per repetition
        page_seconds=20e-6, anon_page_seconds=30e-6, boot_seconds=15.0,
    ),
    "x86_64": Arch(
        name="x86_64", kernel_arch="x86",
        # native: the host's gcc and static libc (setup.HEADERS)
        cross_compile="", cross_package="gcc", libc_package="libc6-dev",
        qemu="qemu-system-x86_64", qemu_package="qemu-system-x86",
        machine="q35", cpu="max", bios="",
        console="ttyS0", earlycon="uart8250,io,0x3f8,115200",
        image="arch/x86/boot/bzImage",
        fragments=("x86_64",),
        selftests=COMMON_SELFTESTS + ("x86/dirty_log_page_splitting_test",),
        # kvm_intel and kvm_amd allow nested guests by default.
        nested_cmdline=(),
    ),
}


# Built, never booted: make check's bisect stage also builds the KVM selftests
# for the host (natively, with its gcc and static libc) at every patch that
# changes what they compile, since x86 is where most KVM selftests live.
HOST_SELFTESTS = Arch(
    name="x86_64", kernel_arch="x86", cross_compile="",
    cross_package="gcc", libc_package="libc6-dev",
    qemu="", qemu_package="", machine="", cpu="", bios="", console="", earlycon="",
    image="", fragments=(),
    selftests=COMMON_SELFTESTS,
)


@dataclass(frozen=True)
class Target:
    name: str
    arch: Arch
    fragments: tuple = ()
    # Hugepage sizes in kB: the PMD-level block first, then the others a
    # guest can reserve.  At 16K and 64K, 2M hugepages are contiguous PTEs,
    # which the stage-2 maps with pages, and 1G at 16K contiguous PMDs,
    # which it maps with 32M blocks.
    hugepages_kb: tuple = (2048, 1048576)
    page_kb: int = 4
    # Selftest guest mode (-m) matching the granule; "" lets a test try all.
    guest_mode: str = ""
    # Memslot size of the plans' split runs, and of make bench's per vCPU:
    # room for a few PMD blocks.
    split_bytes: int = 256 << 20
    # Which commands run the target by default: "check" (make check), "bench"
    # (make bench), "quick" (make bench QUICK=1).
    suites: tuple = ()
    # What every selftest process pays before main(), in seconds (make
    # bench's estimate); None: its granule's (GRANULE_PROCESS_SECONDS).
    process_seconds: float = None

    def __post_init__(self):
        if self.process_seconds is None:
            object.__setattr__(self, "process_seconds",
                               GRANULE_PROCESS_SECONDS.get(self.page_kb, 0.0))


# At 16K the selftest library's constructor probes page sizes with a scratch
# VM of the largest IPA size (52 bits on QEMU's -cpu max), and 7.3 tears its
# stage-2 down 32M at a time: some 2^27 empty walks, about 40 s under TCG,
# whatever the target's own IPA size.
GRANULE_PROCESS_SECONDS = {16: 40.0}


TARGETS = {
    # Guest modes 6, 7, 8: 40-bit IPA with 4K, 16K, 64K pages (kvm_util.h).
    "arm64-4k": Target("arm64-4k", ARCHES["arm64"], ("arm64-4k",), (2048, 1048576), 4, "6",
                       suites=("check", "bench", "quick")),
    "arm64-16k": Target("arm64-16k", ARCHES["arm64"], ("arm64-16k",), (32768, 2048, 1048576),
                        16, "7", suites=("bench",)),
    "arm64-64k": Target("arm64-64k", ARCHES["arm64"], ("arm64-64k",), (524288, 2048), 64, "8",
                        1 << 30, suites=("bench",)),
    # FEAT_LPA2 (QEMU 10): a 52-bit IPA at 4K and 16K, guest modes 0 and 1
    # (VM_MODE_P52V48_4K, _16K); at 4K the stage-2 walk starts at level -1.
    "arm64-4k-lpa2": Target("arm64-4k-lpa2", ARCHES["arm64"], ("arm64-4k", "lpa2"),
                            (2048, 1048576), 4, "0"),
    "arm64-16k-lpa2": Target("arm64-16k-lpa2", ARCHES["arm64"], ("arm64-16k", "lpa2"),
                             (32768, 2048, 1048576), 16, "1"),
    # FEAT_LPA: a 52-bit IPA with 64K pages, guest mode 2 (VM_MODE_P52V48_64K);
    # the same config fragment, as 64K pages need no LPA2 for it.
    "arm64-64k-lpa": Target("arm64-64k-lpa", ARCHES["arm64"], ("arm64-64k", "lpa2"),
                            (524288, 2048), 64, "2", 1 << 30),
    # Guest mode: the selftests' only x86 mode, so no -m.
    "x86_64": Target("x86_64", ARCHES["x86_64"], (), (2048, 1048576), 4, ""),
    # VM_MODE_P56V48_4K: Sv57x4, QEMU's widest; the narrower g-stage modes,
    # which QEMU 7.2 cannot run at the top of their address space, have a
    # plan of their own (riscv-modes).
    "riscv64": Target("riscv64", ARCHES["riscv64"], (), (2048, 1048576), 4, "18",
                      suites=("check", "bench", "quick")),
}


@dataclass(frozen=True)
class Experiment:
    """A kernel that is 'patched' plus patches kept out of the series: an idea
    measured against the series before it earns a place in it (or not)."""
    directory: str              # under series/, holding format-patch files
    targets: tuple              # where it can change anything


EXPERIMENTS = {
    # Do not walk the tables a stage-2 split has just built (issue #3's
    # "leaf-only"): measured and dropped, see series/arm64/cover.  Only a
    # 4K granule has level-1 blocks a guest can get (1G; 64G at 16K).
    "leafonly": Experiment("experiments/arm64-leaf-only", ("arm64-4k",)),
    # The series less its table fill (series/arm64 patches 2 and 3), to time
    # them alone: split tables built by the map walker again.
    "nofill": Experiment("experiments/arm64-no-fill", ("arm64-4k",)),
    # The series less patch 3: a split table's references taken one per
    # entry again, to time that patch alone.
    "refloop": Experiment("experiments/arm64-ref-loop", ("arm64-4k",)),
    # Issue #14's "fewer mmu_lock drops": the split cache topped up for
    # several PMD blocks at once instead of one chunk's need.
    "bulktopup": Experiment("experiments/arm64-bulk-topup", ("arm64-4k",)),
    # Not an idea but a deliberate bug: a split table of leaves keeps one
    # reference too many, so that leak-check is seen failing on a leak.
    "refmutant": Experiment("experiments/arm64-ref-mutant", ("arm64-4k",)),
    # Another deliberate bug: the last-level loop of series/arm64 patch 6
    # returns 0 after a leaf callback's error, which arm64-kunit patch 3
    # must catch.
    "walkmutant": Experiment("experiments/arm64-walk-mutant", ("arm64-4k",)),
    # The series less patches 5 and 6, to time them alone: the write-protect
    # walk, all that is left of an enable or CLEAR over memory mapped with
    # pages, with 7.3's executable check per entry and visit per entry.
    "oldwalk": Experiment("experiments/arm64-old-walk", ("arm64-4k",)),
    # A deliberate bug for series/arm64's nested write-protect patch: a
    # fault that maps a shadow stage-2 writable does not say so, which
    # dirty_log_split_test -n (PLAN=nested-wp) must catch as lost writes.
    "nestedmutant": Experiment("experiments/arm64-nested-mutant", ("arm64-4k",)),
    # Not for upstream: a KUnit suite (jump_stress, +kunit) asking whether a
    # CPU still runs a static branch's old instruction after the update has
    # returned, as issue #14's KVM_BUG_ON(SYSREGS_ON_CPU) would need.
    "jumpstress": Experiment("experiments/arm64-jump-stress", ("arm64-4k",)),
}

# What each kernel is built from.  "ref" is upstream 7.3, unmodified.
KERNELS = ("base", "patched", "ref") + tuple(EXPERIMENTS)

# Config overlays a variant may add on top of its target's fragments.
OVERLAYS = {
    "trace": ("trace",),
    "debug": ("debug",),
    "failinject": ("failinject",),
    "kunit": ("kunit",),
    "perf": ("perf",),
}


def targets_in(suite):
    """The names of the targets a command runs by default, in table order."""
    return tuple(name for name, t in TARGETS.items() if suite in t.suites)


def target(name):
    from .errors import WorkbenchError
    try:
        return TARGETS[name]
    except KeyError:
        raise WorkbenchError(f"unknown target '{name}'; known targets: "
                             + ", ".join(TARGETS)) from None
