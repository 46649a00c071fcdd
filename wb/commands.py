"""The commands behind the Makefile's targets."""

import os

from . import source, tree
from .arches import EXPERIMENTS


def option(*args, **kwargs):
    def wrap(fn):
        fn.options = getattr(fn, "options", ()) + ((args, kwargs),)
        return fn
    return wrap


def ksrc():
    return os.environ.get("KSRC") or None


def cmd_source(layout, args):
    """Fetch, verify and unpack the 7.2 source (and 7.3 with --ref)."""
    source.prepare(layout, "patched", ksrc())
    if args.ref:
        source.prepare(layout, "ref")
cmd_source = option("--ref", action="store_true", help="also fetch the 7.3 reference")(cmd_source)


def cmd_tree(layout, args):
    """Apply series/ onto the base commit with git am."""
    source.prepare(layout, "patched", ksrc())
    tree.apply(layout, force=args.force)
cmd_tree = option("--force", action="store_true",
                  help="discard commits in the tree that are not in series/")(cmd_tree)


def cmd_export(layout, args):
    """Regenerate series/ from the tree's commits."""
    tree.export(layout)


COMMANDS = {
    "source": cmd_source,
    "tree": cmd_tree,
    "export": cmd_export,
}


def targets_arg(value):
    return tuple(t for t in value.replace(",", " ").split() if t)


def cmd_setup(layout, args):
    """Install the Debian packages the workbench needs."""
    from . import setup
    setup.ensure(layout=layout)
    print("all dependencies present")


def cmd_build(layout, args):
    """Build kernel variants (e.g. arm64-4k-patched riscv64-base+debug)."""
    from . import build, setup
    variants = [build.parse_variant(v) for v in args.variants]
    setup.ensure({v.arch for v in variants}, layout=layout)
    for v in variants:
        source.prepare(layout, v.kernel if v.kernel == "ref" else "patched", ksrc()
                       if v.kernel != "ref" else None)
        if v.kernel != "ref":
            tree.ensure_worktrees(layout)
        if v.kernel in EXPERIMENTS:
            tree.ensure_experiment(layout, v.kernel)
        image = build.build_kernel(layout, v, args.jobs)
        print(image)
cmd_build = option("variants", nargs="+", help="TARGET-KERNEL[+OVERLAY]")(cmd_build)


def cmd_check(layout, args):
    """The project's test command: unit tests, series, builds, boots, selftests."""
    from . import check, results, setup
    targets = targets_arg(args.targets) if args.targets else check.CHECK_TARGETS
    from .arches import target as get_target
    setup.ensure({get_target(t).arch for t in targets}, layout=layout)
    tally = check.run_check(layout, args.jobs, targets=targets, unit=not args.no_unit,
                            ksrc=ksrc(), debug_only=args.debug_only)
    results.save(layout, "check", tally.records, {"boots": tally.boots})
    return check.report(tally)
cmd_check = option("--targets", default=os.environ.get("TARGETS"),
                   help="comma-separated targets (default: arm64-4k,riscv64)")(cmd_check)
cmd_check = option("--no-unit", action="store_true", help="skip the unit tests")(cmd_check)
cmd_check = option("--debug-only", action="store_true",
                   help="only base and the +debug kernels (make check-debug)")(cmd_check)


def cmd_unit(layout, args):
    """Only the harness's unit tests."""
    from . import check
    from .results import Tally
    tally = Tally()
    check.unit_tests(layout, tally)
    return check.report(tally)


COMMANDS.update({
    "setup": cmd_setup,
    "build": cmd_build,
    "check": cmd_check,
    "unit": cmd_unit,
})


def cmd_bench(layout, args):
    """dirty_log_split_test on base and patched kernels, side by side (see make help)."""
    from . import bench
    return bench.bench(layout, args.jobs, os.environ, ksrc())


def _load_results(paths):
    from . import report
    from .errors import WorkbenchError
    docs = []
    for path in paths:
        try:
            docs.append(report.load(path))
        except (OSError, ValueError) as e:
            raise WorkbenchError(f"cannot read results from {path}: {e}") from None
    return docs


def cmd_report(layout, args):
    """Print a results directory's table; with two or more, merge them into one."""
    from . import publish, report
    paths = args.results or [_latest(layout, "bench")]
    docs = _load_results(paths)
    if len(docs) == 1:
        print(report.text(docs[0]["records"]))
        return 0
    doc = report.merge(docs)
    out = publish.publish(layout, doc, "merged-" + "-vs-".join(
        os.path.basename(os.path.normpath(p)) for p in paths))
    print(report.text(doc["records"]))
    print(f"merged report: {os.path.relpath(out)}/report.md")
    return 0
cmd_report = option("results", nargs="*",
                    help="results directories (default: the latest); two or more are "
                         "merged, e.g. a host run with LABEL=base and one with "
                         "LABEL=patched")(cmd_report)


def cmd_agree(layout, args):
    """Whether a fresh bench reproduces a committed one, figure by figure."""
    from . import goals
    docs = _load_results(args.results)
    names = [os.path.basename(os.path.normpath(p)).split("-", 2)[-1] for p in args.results]
    print(goals.agreement_table(docs[0]["records"], docs[1]["records"], *names))
    return 0


cmd_agree = option("results", nargs=2, metavar="RESULTS",
                   help="two results directories: the committed one, then the fresh one")(
    cmd_agree)
COMMANDS["agree"] = cmd_agree


def _latest(layout, kind):
    """The newest result set: results/ in the repository, else build/results/."""
    from .errors import WorkbenchError
    for root in (os.path.join(layout.repo, "results"), layout.path("results")):
        runs = sorted(d for d in os.listdir(root) if not d.startswith(".")
                      and os.path.exists(os.path.join(root, d, "records.json"))
                      and (root != layout.path("results") or d.endswith("-" + kind))) \
            if os.path.isdir(root) else []
        if runs:
            return os.path.join(root, runs[-1])
    raise WorkbenchError(f"no {kind} results under results/; run 'make {kind}' first")


COMMANDS.update({"bench": cmd_bench, "report": cmd_report})


def cmd_run(layout, args):
    """Boot one variant with a named plan and print each test's figures."""
    from . import boot, build, plans, run, setup
    from .errors import WorkbenchError
    from .known import apply_known_failures
    if args.plan not in plans.PLANS:
        raise WorkbenchError(f"unknown plan '{args.plan}'; known: {', '.join(plans.PLANS)}")
    variant = build.parse_variant(args.variant)
    accel = boot.accel_args(args.accel)
    setup.ensure({variant.arch}, layout=layout)
    source.prepare(layout, "ref" if variant.kernel == "ref" else "patched",
                   None if variant.kernel == "ref" else ksrc())
    if variant.kernel != "ref":
        tree.ensure_worktrees(layout)
    if variant.kernel in EXPERIMENTS:
        tree.ensure_experiment(layout, variant.kernel)
    tests = build.build_selftests(layout, "patched", variant.arch, args.jobs)
    image = build.build_kernel(layout, variant, args.jobs)
    runs = plans.select(plans.PLANS[args.plan], variant.arch)
    if args.only:
        import fnmatch
        runs = [r for r in runs if any(fnmatch.fnmatch(r.name, g) for g in args.only.split(","))]
        if not runs:
            raise WorkbenchError(f"ONLY={args.only} matches no run of plan '{args.plan}'")
    session = run.boot_variant(layout, variant, image, tests, runs,
                               cmdline=tuple(args.cmdline.split()), mem=args.mem,
                               qemu_extra=accel)
    records = session.records
    apply_known_failures(layout, records)
    for r in records:
        vals = {k: (v[0] if len(v) == 1 else v) for k, v in r.values.items()}
        print(f"{r.status:<5} {r.name}: {vals}" + (f"\n{r.message}" if r.message else ""))
    return 1 if any(r.status == "fail" for r in records) else 0
cmd_run = option("variant", help="e.g. arm64-4k-patched+trace")(cmd_run)
cmd_run = option("plan", help="check, bench or walk-counts")(cmd_run)
cmd_run = option("--cmdline", default=os.environ.get("CMDLINE", ""),
                 help="extra kernel parameters, e.g. kvm-arm.mode=protected")(cmd_run)
cmd_run = option("--mem", default=os.environ.get("MEM", "2G"),
                 help="the guest's memory, e.g. 4G for a 1G hugepage")(cmd_run)
cmd_run = option("--accel", default=os.environ.get("ACCEL", ""),
                 help="QEMU's -accel, e.g. tcg,thread=single (one host thread "
                      "runs every vCPU)")(cmd_run)
cmd_run = option("--only", default=os.environ.get("ONLY", ""),
                 help="comma-separated globs of the plan's runs to keep")(cmd_run)

COMMANDS["run"] = cmd_run


def cmd_profile(layout, args):
    """Where the kernel time of an enable and a CLEAR goes: perf, base against patched."""
    from . import build, profile, results, run, setup
    from .arches import target
    from .errors import WorkbenchError
    from .known import apply_known_failures
    from .util import write_atomic
    targets = [target(t) for t in targets_arg(args.targets)]
    if not targets:
        raise WorkbenchError("T= names no target; e.g. T=arm64-4k,riscv64")
    if args.reps < 1:
        raise WorkbenchError(f"REPS={args.reps}: make profile needs at least one VM per cell")
    setup.ensure({t.arch for t in targets}, layout=layout)
    source.prepare(layout, "patched", ksrc())
    tree.ensure_worktrees(layout)
    runs = profile.runs(reps=args.reps)
    found, records = {}, []

    def save(done):
        out = results.save(layout, "profile", records, extra={"profile": done})
        text = profile.report(done, reps=args.reps)
        write_atomic(os.path.join(out, "profile.txt"), text)
        return out, text

    try:
        for t in targets:
            tests = build.build_selftests(layout, "patched", t.arch, args.jobs,
                                          only=("dirty_log_split_test",))
            tests["perf"] = profile.build_perf(layout, t.arch, args.jobs)
            for kernel in ("base", "patched"):
                variant = build.parse_variant(f"{t.name}-{kernel}+perf")
                image = build.build_kernel(layout, variant, args.jobs)
                session = run.boot_variant(layout, variant, image, tests, runs)
                apply_known_failures(layout, session.records)
                records += session.records
                failed = [r for r in session.records if r.status == "fail"]
                if failed:
                    raise WorkbenchError(
                        f"{variant.name}: " + "; ".join(f"{r.name}: {r.message or 'failed'}"
                                                        for r in failed)
                        + f". Console log: {session.log}")
                found.setdefault(t.name, {})[kernel] = profile.profiles(session.ktap)
    except WorkbenchError as e:
        # An hour of boots is not thrown away with the target that failed.
        done = {t: by_kernel for t, by_kernel in found.items() if len(by_kernel) == 2}
        if not done:
            raise
        out, _ = save(done)
        raise WorkbenchError(f"{e}\nThe targets that finished ({', '.join(done)}) are "
                             f"saved: {os.path.relpath(out)}/profile.txt") from None
    profile.require_samples(found)
    out, text = save(found)
    print(text, end="")
    return 0
cmd_profile = option("targets", nargs="?", default=os.environ.get("T") or "arm64-4k,riscv64",
                     help="targets, comma-separated (default arm64-4k,riscv64)")(cmd_profile)
cmd_profile = option("--reps", type=int, default=int(os.environ.get("REPS") or 8),
                     help="VMs per cell, each timing its ioctl once (default 8)")(cmd_profile)

COMMANDS["profile"] = cmd_profile


def cmd_compare_dumps(layout, args):
    """Compare the stage-2 tables two variants' last boots left after splits."""
    import difflib
    from .errors import WorkbenchError
    from .ktap import parse
    from .results import stage2_dumps
    dumps = []
    for v in (args.a, args.b):
        # A variant's last boot, or a console log kept from an earlier one.
        path = v if os.path.isfile(v) else layout.runs(v, "console.log")
        try:
            with open(path, errors="replace") as f:
                dumps.append(stage2_dumps(parse(f.read())))
        except FileNotFoundError:
            raise WorkbenchError(f"no console log for {v} at {path}; boot it with "
                                 f"'make run V={v} PLAN=stage2-dumps' first") from None
    tests = sorted(set(dumps[0]) | set(dumps[1]))
    if not tests:
        raise WorkbenchError("neither log holds a stage-2 dump (dirty_log_split_test -d)")
    differ = 0
    for t in tests:
        a, b = dumps[0].get(t), dumps[1].get(t)
        if a == b:
            print(f"identical  {t}: {len(a)} lines")
            continue
        differ += 1
        print(f"DIFFERENT  {t}: {len(a or [])} vs {len(b or [])} lines")
        print("".join(list(difflib.unified_diff([l + "\n" for l in a or []],
                                                [l + "\n" for l in b or []],
                                                args.a, args.b, n=1))[:40]))
    print(f"{len(tests) - differ} identical, {differ} different")
    return 1 if differ else 0
cmd_compare_dumps = option("a", help="a variant, e.g. arm64-4k-base+trace, or a console "
                           "log")(cmd_compare_dumps)
cmd_compare_dumps = option("b", help="another, e.g. arm64-4k-patched+trace")(cmd_compare_dumps)

COMMANDS["compare-dumps"] = cmd_compare_dumps


def cmd_series(layout, args):
    """Write a send-ready set per series under build/send/ (for git send-email)."""
    from . import send
    who = send.sender(layout)
    source.prepare(layout, "patched", ksrc())
    written, failed = send.write_series(layout, who)
    send.print_send_help(written, who)
    if failed:
        raise send.not_written_error(failed)


def cmd_portability(layout, args):
    """Try each series on the 7.3 reference tree with git am -3, patch by patch."""
    from . import send
    source.prepare(layout, "patched", ksrc())
    source.prepare(layout, "ref")
    verdicts = send.portability(layout)
    print(send.portability_table(verdicts, send.describe_ref(layout)))


COMMANDS.update({"series": cmd_series, "portability": cmd_portability})
