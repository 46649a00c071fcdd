"""Where the kernel time of a dirty-log enable or CLEAR goes: perf in the guest.

`make profile` boots the base and patched kernel of each target, built with
the +perf overlay (perf events; frame pointers where the arch needs them),
and runs dirty_log_split_test under `perf record`: cpu-clock samples of the
test's threads in the kernel, with kernel call chains.  perf itself is built
from the base tree's tools/perf, static, with every optional library off.

A sample is charged to the ioctl a cell times when its call chain passes
through that ioctl's arch work, which both arches name alike:

  enable  kvm_arch_commit_memory_region: the memslot's new flags committed,
          i.e. write-protect and (eager) split.  Memslot creation and
          deletion commit too, but do little there.
  CLEAR   kvm_arch_mmu_enable_log_dirty_pt_masked (write-protect and split
          of one 64-page word) and kvm_flush_remote_tlbs_memslot (the flush
          after the last word).  In a CLEAR run, dirty logging starts with
          KVM_DIRTY_LOG_INITIALLY_SET, so enabling it protects nothing, and
          KVM_GET_DIRTY_LOG in manual-protect mode protects nothing either.

`perf report --parent REGEX --exclude-other` then counts, per function, the
samples whose chain matched: where the ioctl's own time went, by the
function that was running.  Shares are of the cell's matched samples; the
matched sample count, at a fixed rate, stands for the ioctl's total time.
"""

import os
import re

from . import plans
from .errors import WorkbenchError
from .util import progress, run

# perf's optional libraries, all off: a static binary that needs none of
# them, and kernel symbols from /proc/kallsyms.
PERF_BUILD_OPTIONS = tuple(f"NO_{x}=1" for x in (
    "LIBELF", "LIBTRACEEVENT", "LIBPYTHON", "LIBPERL", "LIBUNWIND", "LIBDW", "SLANG",
    "GTK2", "LIBNUMA", "LIBAUDIT", "LIBCRYPTO", "LIBBPF", "JEVENTS", "BPF_SKEL", "LIBCAP",
    "LIBZSTD", "LZMA", "ZLIB", "LIBBABELTRACE", "DEMANGLE", "LIBLLVM", "CAPSTONE",
    "LIBPFM4", "SHELLCHECK", "LIBDEBUGINFOD", "AUXTRACE", "RUST"))

PERF_DATA = "/perf.data"
SAMPLE_HZ = 4000
MEMSLOT_BYTES = 256 << 20
REPS = 8

# The ioctl each path times, as the call-chain entry that marks its samples.
PARENT = {
    "enable": "kvm_arch_commit_memory_region",
    "clear": "kvm_arch_mmu_enable_log_dirty_pt_masked|kvm_flush_remote_tlbs_memslot",
}

# The cells: the backings and paths of make bench's main cells.
CELLS = tuple((backing, path) for backing in ("anonymous", "anonymous_thp")
              for path in ("enable", "clear"))
TOP = 10


def perf_binary(layout, arch):
    return layout.path("perf", arch.name, "perf")


def build_perf(layout, arch, jobs):
    """build/perf/<arch>/perf: perf from the base tree's tools/perf, static."""
    out = layout.path("perf", arch.name)
    binary = perf_binary(layout, arch)
    if os.path.exists(binary):
        return binary
    os.makedirs(out, exist_ok=True)
    progress("build", f"perf for {arch.name} (tools/perf of the base tree, static)")
    # Only the perf binary: the dlfilter examples are shared objects, which
    # LDFLAGS=-static cannot link.
    run(["make", "-C", os.path.join(layout.tree("base"), "tools", "perf"), f"-j{jobs}",
         f"O={out}", f"ARCH={arch.kernel_arch}", f"CROSS_COMPILE={arch.cross_compile}",
         "LDFLAGS=-static", f"EXTRA_PERFLIBS={arch.perf_libs}",
         *PERF_BUILD_OPTIONS, binary],
        f"building perf for {arch.name}", log=os.path.join(out, "build.log"))
    return binary


def cell_name(backing, path):
    return f"profile.{backing}.{path}"


def runs(cells=CELLS, reps=REPS, nbytes=MEMSLOT_BYTES, hz=SAMPLE_HZ):
    """The plan: per cell, the test under perf record, then perf report."""
    out = []
    for backing, path in cells:
        name = cell_name(backing, path)
        test = plans.split_run(backing, path, nbytes, 1, reps)
        record = ("perf", "record", "-q", "-e", "cpu-clock:k", "-F", str(hz), "-g",
                  "--kernel-callchains", "-B", "-N", "-o", PERF_DATA, "--",
                  "/bin/" + test.argv[0]) + test.argv[1:]
        report = ("perf", "report", "-i", PERF_DATA, "--stdio", "-n", "--no-children",
                  "-g", "none", "--sort", "sym", "--parent", PARENT[path],
                  "--exclude-other")
        out.append(plans.Run(name, record, timeout=900, uses=(test.argv[0],)))
        out.append(plans.Run(name + ".report", report, timeout=600, takes_mode=False))
    return tuple(out)


# A perf report line: overhead, samples, then the sort keys: the symbol
# ("[k] name") and the parent column that --parent adds, in either order.
_LINE = re.compile(r"^\s*\d+(?:\.\d+)?%\s+(\d+)\s+.*?\[[k.]\]\s+(\S+)")


def parse_report(diag):
    """{function: samples} from a perf report's lines."""
    counts = {}
    for line in diag:
        m = _LINE.match(line)
        if m:
            counts[m.group(2)] = counts.get(m.group(2), 0) + int(m.group(1))
    return counts


def profiles(ktap):
    """{cell name: {function: samples}} from one boot's KTAP."""
    out = {}
    for t in ktap.results:
        if t.name.endswith(".report") and t.status == "pass":
            out[t.name[:-len(".report")]] = parse_report(t.diag)
    return out


def table(cell, by_kernel, top=TOP):
    """The text for one cell: matched samples per kernel, then the top
    functions of each kernel with their share, side by side."""
    kernels = list(by_kernel)
    lines = [f"{cell}: " + ", ".join(
        f"{k} {sum(by_kernel[k].values())} samples" for k in kernels)]
    ranked = {k: sorted(by_kernel[k].items(), key=lambda kv: (-kv[1], kv[0]))[:top]
              for k in kernels}
    width = 44
    lines.append("  " + "".join(f"{k:<{width}}" for k in kernels).rstrip())
    for i in range(max((len(r) for r in ranked.values()), default=0)):
        row = ""
        for k in kernels:
            total = sum(by_kernel[k].values())
            if i < len(ranked[k]):
                fn, n = ranked[k][i]
                text = f"{100.0 * n / total:5.1f}% {fn}"
            else:
                text = ""
            row += f"{text[:width - 2]:<{width}}"
        lines.append("  " + row.rstrip())
    return "\n".join(lines)


def report(results, reps=REPS):
    """results: {target: {kernel: {cell: {function: samples}}}} -> text."""
    out = [f"Kernel samples of the timed ioctl, by function ({SAMPLE_HZ} Hz cpu-clock, "
           f"{reps} VMs of {MEMSLOT_BYTES >> 20}M, 1 vCPU; share of the cell's samples):"]
    for target, by_kernel in results.items():
        order = [cell_name(*c) for c in CELLS]
        cells = sorted({c for p in by_kernel.values() for c in p},
                       key=lambda c: (order.index(c) if c in order else len(order), c))
        for cell in cells:
            out.append("")
            out.append(target + " " + table(cell, {k: p.get(cell, {})
                                                    for k, p in by_kernel.items()}))
    return "\n".join(out) + "\n"


def require_samples(results):
    """A profile with no samples in a cell means the parent did not match:
    a renamed function, or perf without call chains.  Say which."""
    empty = [f"{t} {k} {c}" for t, by_k in results.items() for k, p in by_k.items()
             for c, counts in p.items() if not counts]
    if empty:
        raise WorkbenchError(
            "perf counted no sample of the timed ioctl in: " + "; ".join(empty)
            + ". Either the kernel lacks the call-chain entries wb/profile.py looks for "
            "(PARENT) or perf recorded no kernel call chains; the console log has "
            "perf's own output.")
