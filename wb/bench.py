"""make bench: the same workload on base and patched kernels, boots interleaved.

Boots alternate base, patched, base, patched... so that drift in the host
(thermal, other load) lands on both kernels alike.  Timings are reported as
medians with their range and never asserted.
"""

from . import build, check, plans, report, results
from .arches import target as get_target
from .errors import WorkbenchError
from .util import progress, write_atomic

BENCH_TARGETS = ("arm64-4k", "riscv64")


def run_bench(layout, jobs, targets=BENCH_TARGETS, reps=3, kernels=("base", "patched"),
              runs=plans.BENCH):
    records, images, tests = [], {}, {}
    for tname in targets:
        target = get_target(tname)
        tests[tname] = build.build_selftests(layout, "patched", target.arch, jobs)
        for kernel in kernels:
            v = build.Variant(target, kernel)
            images[v.name] = (v, build.build_kernel(layout, v, jobs))
    total = len(targets) * len(kernels) * reps
    done = 0
    for rep in range(1, reps + 1):
        for tname in targets:
            target = get_target(tname)
            for kernel in kernels:
                v, image = images[f"{tname}-{kernel}"]
                done += 1
                progress("bench", f"[{done}/{total}] {v.name} repetition {rep}/{reps}")
                recs = check.boot_and_run(layout, v, image, tests[tname],
                                          plans.select(runs, target.arch))
                check.apply_known_failures(layout, recs)
                for r in recs:
                    r.values["repetition"] = [rep]
                    if r.status == "fail":
                        raise WorkbenchError(f"bench: {v.name}: {r.name} failed\n{r.message}")
                records += recs
    return records


def save_report(layout, records, extra):
    from dataclasses import asdict
    out = results.save(layout, "bench", records, extra)
    text = report.table([asdict(r) for r in records])
    write_atomic(f"{out}/report.md", "# dirty_log_perf_test, base vs patched "
                 "(QEMU TCG, not hardware)\n\n```\n" + text + "\n```\n")
    print(text)
    return out
