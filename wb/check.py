"""make check: unit tests, series, builds, boots and correctness selftests,
then the series' static checks: no new W=1/sparse warning (wb/warn.py) and
every patch builds on its own (wb/bisect.py); FAST=1 skips those two.

Every step is a verdict in one tally, so a broken build of one arch does not
hide what the other arch did.  The run ends with 'N passed, N failed' and
fails on any failure, on a planned test that never reported, and on a run
in which nothing passed.
"""

import fnmatch
import os
import re
import subprocess
import sys

from . import (bisect as bisect_stage, boot, build, lint, plans, results, source, splats,
               tools, tree, warn)
from .arches import target as get_target
from .errors import WorkbenchError
from .ktap import parse
from .results import Record, Tally
from .util import progress, read_table

CHECK_TARGETS = ("arm64-4k", "riscv64")
BOOT_MARGIN_S = 180


def unit_tests(layout, tally):
    """Run tests/ in a child interpreter, one record per test."""
    progress("unit", "harness unit tests (fake kernel tree, no real builds)")
    proc = subprocess.run([sys.executable, "-m", "tests.run"], capture_output=True,
                          text=True, cwd=layout.repo, env=dict(os.environ, WB_QUIET="1"))
    seen = 0
    for m in re.finditer(r"^RESULT (pass|fail|skip) (\S+)$", proc.stdout, re.M):
        tally.add(Record(stage="unit", name=m.group(2), status=m.group(1)))
        seen += 1
    if proc.returncode != 0 or not seen:
        tally.add(Record(stage="unit", name="unit tests", status="fail",
                         message=proc.stderr[-3000:]))


def known_failures(layout):
    """[(target glob, test glob, reason)]: every known failure needs a reason."""
    return [tuple(fields) for _, fields in
            read_table(os.path.join(layout.repo, "known-failures"), 3,
                       "TARGET-GLOB TEST REASON")]


def known_splat(record, known):
    """The reason, if every splat in a failed dmesg check is a known one.

    Entries read 'dmesg~TEXT': each splat's first line must contain TEXT.
    They hold on any kernel, since such splats are timing-dependent.
    """
    headers = [line for line in record.message.splitlines() if splats.is_header(line)]
    for target_glob, test_glob, reason in known:
        if not test_glob.startswith("dmesg~") or not fnmatch.fnmatch(record.target, target_glob):
            continue
        text = test_glob[len("dmesg~"):]
        if headers and all(text in h for h in headers):
            return reason
    return None


def splat_victims(dmesg, records):
    """The tests whose threads a boot's splats name ("CPU#1: dirty_log_test/47").

    Tests run one after another and pids only grow within a boot, so a
    thread belongs to the run with the greatest pid not above its own; its
    name must also be that run's binary (truncated, as the kernel does).
    """
    runs = sorted((t.values["pid"][0], t) for t in records
                  if t.variant == dmesg.variant and t.values.get("pid"))
    victims = []
    for m in re.finditer(r"CPU#\d+: (\S+)/(\d+)", dmesg.message):
        comm, tid = m.group(1), int(m.group(2))
        owner = [t for pid, t in runs if pid <= tid]
        if owner and owner[-1].params and \
                os.path.basename(owner[-1].params[0])[:15] == comm[:15]:
            victims.append(owner[-1])
    return victims


def apply_known_failures(layout, records):
    """Mark listed failures xfail: on base always, since base is only the
    reference (a bug the series fixes, or one it does not touch); on any
    other kernel only when the test failed on base as well."""
    known = known_failures(layout)
    for r in records:
        if r.status == "fail" and r.name == "dmesg":
            reason = known_splat(r, known)
            if not reason:
                continue
            for t in splat_victims(r, records):
                if t.status == "fail":
                    t.status, t.message = "xfail", (f"its VM hit a known splat ({reason})"
                                                    f"\n{t.message}")
            r.status, r.message = "xfail", f"known splat: {reason}\n{r.message}"
    failed_on_base = {(r.target, r.name) for r in records
                      if r.kernel == "base" and r.status == "fail"}
    for r in records:
        if r.status != "fail":
            continue
        if r.kernel != "base" and (r.target, r.name) not in failed_on_base:
            continue
        for target_glob, test_glob, reason in known:
            if fnmatch.fnmatch(r.target, target_glob) and fnmatch.fnmatch(r.name, test_glob):
                r.status, r.message = "xfail", f"known: {reason}"
                break


def boot_and_run(layout, variant, image, tests, runs, timeout=None, cmdline=(),
                 qemu_extra=(), on_line=None, mem="2G"):
    """Boot one variant with a plan; return its records (boot verdict first).

    cmdline: extra kernel parameters; qemu_extra: extra QEMU arguments (e.g.
    -icount); on_line: called with every console line as it arrives; mem:
    the guest's memory.
    """
    target = variant.target
    work = layout.runs(variant.name)
    init = boot.build_init(layout, variant.arch, layout.path("initramfs"))
    plan = plans.render(runs, target)
    files = {f"/bin/{b}": tests[b] for b in plans.binaries(runs)}
    initrd = os.path.join(work, "initramfs.cpio")
    boot.make_initramfs(initrd, init, plan, files, splats.guest_file())
    timeout = timeout or sum(r.timeout for r in runs) + BOOT_MARGIN_S
    log = os.path.join(work, "console.log")
    progress("boot", f"{variant.name}: booting ({len(runs)} tests, timeout {timeout} s)")

    def show(line):
        m = re.match(r"^(ok|not ok) \d+ (\S+)", line)
        if m and not os.environ.get("WB_QUIET"):
            progress("run", f"{variant.name}: {line}")
        if on_line:
            on_line(line)
    res = boot.boot(boot.qemu_command(variant.arch, image, initrd, cmdline=cmdline,
                                      mem=mem, extra=qemu_extra), log, timeout, show)
    ktap = parse(res.console)
    base = dict(variant=variant.name, target=target.name, arch=variant.arch.name,
                kernel=variant.kernel)
    records = []
    if res.status == "done" and ktap.started:
        records.append(Record(stage="boot", name="boot", status="pass",
                              values={"seconds": [round(res.seconds, 1)]}, **base))
    else:
        records.append(Record(stage="boot", name="boot", status="fail",
                              message=boot.explain(res, variant.name, log, timeout), **base))
    params = {r.name: plans.argv(r, target) for r in runs}
    records += results.from_ktap(ktap, variant, params)
    # The profiler lists only functions that were hit: a profiled function
    # it does not list was called 0 times.
    profiled = {r.name: r.profile for r in runs if r.profile}
    for rec in records:
        results.name_profiled(rec, profiled.get(rec.name, ()))
    reported = {t.name for t in ktap.results}
    for r in runs:
        if r.name not in reported:
            records.append(Record(stage="run", name=r.name, status="fail",
                                  message="planned, but never reported (guest died or "
                                  "hung before it)", params=list(params[r.name]), **base))
    if "dmesg" not in reported:
        records.append(Record(stage="run", name="dmesg", status="fail",
                              message="the kernel log was never checked", **base))
    planned = {r.name for r in runs}
    if runs and not any(r.name in planned and r.status == "pass" for r in records):
        records.append(Record(stage="run", name="any test passed", status="fail",
                              message="every planned test skipped or failed: nothing "
                              "was checked on this kernel", **base))
    return records


def _off(value):
    return (value or "").strip().lower() in ("0", "no", "n", "off", "false")


def stage_switches(env=None):
    """{bisect, warnings, sparse} from the environment make check exports:
    FAST=1 skips both static stages, BISECT=0 or WARNINGS=0 one of them,
    SPARSE=/path picks the checker for C=1."""
    env = os.environ if env is None else env
    fast = bool(env.get("FAST")) and not _off(env.get("FAST"))
    return {"bisect": not (fast or _off(env.get("BISECT"))),
            "warnings": not (fast or _off(env.get("WARNINGS"))),
            "debug": not (fast or _off(env.get("DEBUG"))),
            "sparse": env.get("SPARSE") or None}


def run_check(layout, jobs, targets=CHECK_TARGETS, runs=plans.CHECK, unit=True,
              ksrc=None, timeout=None, bisect=None, warnings=None, sparse=None,
              host_selftests=True, debug=None, debug_runs=None):
    """bisect, warnings, sparse, debug: None takes them from the environment
    (stage_switches); host_selftests: the bisect stage also builds the x86_64
    selftests; debug: the patched kernel also runs debug_runs (by default
    plans.for_debug(runs)) with the +debug overlay (lockdep and friends),
    where any splat fails the dmesg test."""
    switches = stage_switches()
    bisect = switches["bisect"] if bisect is None else bisect
    warnings = switches["warnings"] if warnings is None else warnings
    debug = switches["debug"] if debug is None else debug
    debug_runs = plans.for_debug(runs) if debug_runs is None else debug_runs
    sparse = sparse or switches["sparse"]
    tally = Tally()
    if unit:
        unit_tests(layout, tally)
    try:
        fresh = not os.path.isdir(layout.tree("patched"))
        record = source.prepare(layout, "patched", ksrc)
        why = None if fresh else tree.unexported_changes(layout)
        if why:
            raise WorkbenchError(f"make check tests series/, but {why}.",
                                 "Run 'make export' first (or 'make tree FORCE=1').")
        n = tree.apply(layout, force=True)
        tally.add(Record(stage="tree", name="series applies", status="pass",
                         message=f"{n} patches onto {source.describe(record)}"))
    except WorkbenchError as e:
        tally.add(Record(stage="tree", name="series applies", status="fail", message=str(e)))
        return tally
    try:
        lint.lint(layout, tally)
    except WorkbenchError as e:
        tally.add(Record(stage="lint", name="series lint", status="fail", message=str(e)))

    built = set()     # what the bisect stage need not build again
    for tname in targets:
        target = get_target(tname)
        try:
            tests = build.build_selftests(layout, "patched", target.arch, jobs)
            built.add(f"selftests {target.arch.name}")
            tally.add(Record(stage="build", name=f"selftests-{target.arch.name}",
                             status="pass", target=tname, arch=target.arch.name))
        except WorkbenchError as e:
            tally.add(Record(stage="build", name=f"selftests-{target.arch.name}",
                             status="fail", message=str(e), target=tname))
            continue
        target_records = []
        variants = [build.Variant(target, "base"), build.Variant(target, "patched")]
        if debug:
            variants.append(build.Variant(target, "patched", target.arch.debug_overlays))
        for variant in variants:
            kernel = variant.kernel
            arch_runs = plans.select(debug_runs if variant.overlays else runs, target.arch)
            try:
                image = build.build_kernel(layout, variant, jobs)
                if not variant.overlays:
                    built.add(f"kernel {tname}" + (" base" if kernel == "base" else ""))
                tally.add(Record(stage="build", name="kernel", status="pass",
                                 variant=variant.name, target=tname, kernel=kernel))
            except WorkbenchError as e:
                tally.add(Record(stage="build", name="kernel", status="fail",
                                 message=str(e), variant=variant.name, target=tname))
                continue
            try:
                target_records += boot_and_run(layout, variant, image, tests, arch_runs,
                                               timeout)
            except WorkbenchError as e:
                target_records.append(Record(stage="boot", name="boot", status="fail",
                                             message=str(e), variant=variant.name,
                                             target=tname, kernel=kernel))
        try:
            apply_known_failures(layout, target_records)
        except WorkbenchError as e:
            tally.add(Record(stage="run", name="known-failures", status="fail",
                             message=str(e)))
        for r in target_records:
            tally.add(r)
    static_checks(layout, tally, jobs, targets, built, bisect, warnings, sparse,
                  host_selftests)
    return tally


def static_checks(layout, tally, jobs, targets, built, bisect=True, warnings=True,
                  sparse=None, host_selftests=True):
    """W=1/sparse on what the series touches, then every patch's build."""
    for stage, on in (("warn", warnings), ("bisect", bisect)):
        if not on:
            what = "W=1/sparse" if stage == "warn" else "bisectability"
            tally.add(Record(stage=stage, name=what, status="skip",
                             message="not run (FAST=1, or WARNINGS=0 / BISECT=0)"))
    if not (bisect or warnings):
        return
    try:
        commits = bisect_stage.series_commits(layout)
    except WorkbenchError as e:
        tally.add(Record(stage="bisect", name="series commits", status="fail",
                         message=str(e)))
        return
    known = {}
    if warnings:
        if not sparse:
            sparse, why = tools.sparse(layout, layout.tree("base"))
            if why:
                progress("warn", why)
        try:
            known = warn.check(layout, tally, jobs, targets, commits, sparse)
        except WorkbenchError as e:
            tally.add(Record(stage="warn", name="W=1/sparse", status="fail",
                             message=str(e)))
    if bisect:
        try:
            bisect_stage.run(layout, tally, jobs, targets, commits, frozenset(built),
                             known, host=host_selftests)
        except WorkbenchError as e:
            tally.add(Record(stage="bisect", name="bisectability", status="fail",
                             message=str(e)))


def report(tally):
    failures = tally.failures()
    if failures:
        print("\nFailures:", flush=True)
        for r in failures:
            label = f"{r.variant}: {r.name}" if r.variant else f"{r.stage}: {r.name}"
            print(f"\n== {label}\n{r.message.rstrip()}", flush=True)
    passed, failed = tally.count("pass"), tally.count("fail")
    skipped, xfail = tally.count("skip"), tally.count("xfail")
    if passed == 0:
        print("\nnothing passed: a run in which everything skipped or nothing ran "
              "counts as a failure", flush=True)
        failed = max(failed, 1)
    tail = f", {skipped} skipped" if skipped else ""
    if xfail:
        print(f"({xfail} known failure(s), not counted; see known-failures)")
    print(f"{passed} passed, {failed} failed{tail}", flush=True)
    return 1 if failed else 0
