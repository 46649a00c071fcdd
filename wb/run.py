"""Stage 5, run: boot a variant with a plan and turn what it printed into records.

One boot is one Session: the exact command that ran (QEMU, or the guest init
itself on the host), the plan text it carried out, the boot's result, the
KTAP parsed once from its console, and the records made from that KTAP.
check, bench and `make run` boot through here, in QEMU or on the host, so
their records are made one way, and a report quotes the command that ran,
not one rebuilt after the fact.
"""

import os
import re
from dataclasses import dataclass, field

from . import boot, plans, results, splats
from .errors import WorkbenchError
from .ktap import parse
from .results import Record
from .util import progress, write_atomic

# What a boot gets beyond its plan's own timeouts: kernel boot, init, dmesg.
BOOT_MARGIN_S = 180


@dataclass
class Session:
    variant: object             # build.Variant
    runs: list                  # the plans.Run list booted
    command: list               # the argv that ran
    plan: str                   # the plan text the init carried out
    log: str                    # the console log's path
    timeout: int
    bindir: str = "/bin"        # where the plan finds the selftests
    result: object = None       # boot.BootResult
    ktap: object = None         # ktap.Ktap of result.console
    records: list = field(default_factory=list)

    @property
    def boot_record(self):
        return self.records[0] if self.records else None

    def recorded(self, repo):
        """{command, plan} as a results document keeps them: paths inside the
        repository relative to it, so that a committed report names no home."""
        def rel(arg):
            return os.path.relpath(arg, repo) if os.path.isabs(arg) else arg
        plan = self.plan
        if os.path.isabs(self.bindir) and self.bindir != "/bin":
            plan = plan.replace(self.bindir, rel(self.bindir))
        return {"command": [rel(a) for a in self.command], "plan": plan}


def timeout_for(runs, timeout=None):
    return timeout or sum(r.timeout for r in runs) + BOOT_MARGIN_S


def boot_variant(layout, variant, image, tests, runs, timeout=None, cmdline=(),
                 qemu_extra=(), on_line=None, mem="2G", smp=None):
    """Boot one variant in QEMU with a plan; returns its Session.

    tests: {selftest basename: host path}; cmdline: extra kernel parameters;
    qemu_extra: extra QEMU arguments (e.g. -icount); on_line: called with
    every console line as it arrives; mem: the guest's memory; smp: the
    guest's CPUs, if not the arch's.
    """
    missing = [b for b in plans.binaries(runs) if b not in tests]
    if missing:
        raise WorkbenchError(
            f"the plan runs {', '.join(missing)}, which the {variant.arch.name} selftest "
            "build does not make: add it to that arch's selftests in wb/arches.py")
    target = variant.target
    work = layout.runs(variant.name)
    init = boot.build_init(layout, variant.arch, layout.path("initramfs"))
    plan = plans.render(runs, target)
    files = {f"/bin/{b}": tests[b] for b in plans.binaries(runs)}
    initrd = os.path.join(work, "initramfs.cpio")
    boot.make_initramfs(initrd, init, plan, files, splats.guest_file())
    command = boot.qemu_command(variant.arch, image, initrd, cmdline=cmdline, mem=mem,
                                smp=smp, extra=qemu_extra)
    session = Session(variant, list(runs), command, plan, os.path.join(work, "console.log"),
                      timeout_for(runs, timeout))
    return carry_out(session, variant.name, on_line, guest=True)


def run_on_host(layout, variant, init, runs, bindir, timeout=None, on_line=None):
    """Carry out a plan on the running kernel: the guest init, built for the
    host, runs it as it would in a guest, leaving THP and the hugepage pools
    alone.  Returns its Session."""
    plan = plans.render(runs, variant.target, bindir=bindir, manage_memory=False)
    plan_path = layout.path("host", "plan")
    write_atomic(plan_path, plan)
    session = Session(variant, list(runs), [init, plan_path], plan,
                      layout.path("host", "console.log"), timeout_for(runs, timeout), bindir)
    return carry_out(session, "the host run", on_line, guest=False)


def carry_out(session, what, on_line=None, guest=True):
    """Run a prepared Session's command, then parse its console and make its
    records; what names it in a failed boot's account.  Returns it."""
    name = session.variant.name
    progress("boot", f"{name}: {'booting' if guest else 'running'} ({len(session.runs)} "
             f"tests, timeout {session.timeout} s)")

    def show(line):
        if re.match(r"^(ok|not ok) \d+ \S+", line) and not os.environ.get("WB_QUIET"):
            progress("run", f"{name}: {line}")
        if on_line:
            on_line(line)
    session.result = boot.boot(session.command, session.log, session.timeout, show)
    session.ktap = parse(session.result.console)
    session.records = make_records(session, what, dmesg=guest)
    return session


def make_records(session, what, dmesg=True):
    """The records of one boot: its verdict first, then a record per test.

    A planned test that never reported fails, as does a boot in which no
    planned test passed; dmesg: the plan ends with the guest's dmesg check,
    which must have reported (a run on the host has none).
    """
    variant, res, ktap = session.variant, session.result, session.ktap
    base = dict(variant=variant.name, target=variant.target.name, arch=variant.arch.name,
                kernel=variant.kernel)
    if res.status == "done" and ktap.started:
        records = [Record(stage="boot", name="boot", status="pass",
                          values={"seconds": [round(res.seconds, 1)]}, **base)]
    else:
        records = [Record(stage="boot", name="boot", status="fail",
                          values={"seconds": [round(res.seconds, 1)]},
                          message=boot.explain(res, what, session.log, session.timeout),
                          **base)]
    runs = session.runs
    params = {r.name: plans.argv(r, variant.target) for r in runs}
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
    if dmesg and "dmesg" not in reported:
        records.append(Record(stage="run", name="dmesg", status="fail",
                              message="the kernel log was never checked", **base))
    planned = {r.name for r in runs}
    if runs and not any(r.name in planned and r.status == "pass" for r in records):
        records.append(Record(stage="run", name="any test passed", status="fail",
                              message="every planned test skipped or failed: nothing "
                              "was checked on this kernel", **base))
    return records
