"""make check: unit tests, series, builds, boots and correctness selftests,
then the series' static checks: no new W=1/sparse warning (wb/warn.py) and
every patch builds on its own (wb/bisect.py); FAST=1 skips those two.

Every step is a verdict in one tally, so a broken build of one arch does not
hide what the other arch did.  The run ends with 'N passed, N failed' and
fails on any failure, on a planned test that never reported, and on a run
in which nothing passed.
"""

import os
import re
import subprocess
import sys

from . import (bisect as bisect_stage, build, lint, plans, run as run_stage, source, tools,
               tree, warn)
from .arches import target as get_target, targets_in
from .errors import WorkbenchError
from .known import apply_known_failures
from .results import Record, Tally
from .util import progress, switched_off, switched_on

CHECK_TARGETS = targets_in("check")


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


def stage_switches(env=None):
    """{bisect, warnings, debug, sparse} from the environment make check
    exports: FAST=1 skips both static stages, BISECT=0 or WARNINGS=0 one of
    them, DEBUG=1 adds the +debug kernels (make check-debug runs them
    beside base alone), SPARSE=/path picks the checker for C=1.

    The +debug kernels are not in make check by default: with a cold ccache
    their two builds would take about half an hour on 2 cores (estimated),
    which would put make check over its 60 minutes."""
    env = os.environ if env is None else env
    fast = switched_on(env.get("FAST"))
    return {"bisect": not (fast or switched_off(env.get("BISECT"))),
            "warnings": not (fast or switched_off(env.get("WARNINGS"))),
            "debug": switched_on(env.get("DEBUG")) and not fast,
            "sparse": env.get("SPARSE") or None}


def run_check(layout, jobs, targets=CHECK_TARGETS, runs=plans.CHECK, unit=True,
              ksrc=None, timeout=None, bisect=None, warnings=None, sparse=None,
              host_selftests=True, debug=None, debug_runs=None, debug_only=False):
    """bisect, warnings, sparse, debug: None takes them from the environment
    (stage_switches); host_selftests: the bisect stage also builds the x86_64
    selftests; debug: the patched kernel also runs debug_runs (by default
    plans.for_debug(runs)) with the +debug overlay (lockdep and friends),
    where any splat fails the dmesg test.  debug_only (make check-debug):
    only base, the reference for known failures, and the +debug kernels;
    no unit tests and no static checks."""
    if debug_only:
        unit, debug = False, True
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
        variants = [build.Variant(target, "base")]
        if not debug_only:
            variants.append(build.Variant(target, "patched"))
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
                session = run_stage.boot_variant(layout, variant, image, tests, arch_runs,
                                                 timeout)
                target_records += session.records
                tally.boots.append(dict(variant=variant.name,
                                        **session.recorded(layout.repo)))
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
    if not debug_only:
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
