"""make bench: dirty_log_split_test on base and patched kernels, boots interleaved.

The matrix and its schedule are wb/matrix.py's; this runs them.  Every run
times -r repetitions, each on a fresh VM, of the split (dirty-log enable,
or CLEAR) and of the dirty pass after it.  Times are reported as medians
with their range and a patched/base ratio with its confidence interval
(wb/stats.py), never asserted; wb/publish.py writes them under results/.

With TARGET=host the same matrix runs natively on the running kernel, with
a selftest built for the host: boot base, run with LABEL=base; boot patched,
run with LABEL=patched; then `make report A=... B=...` puts them side by side.
"""

import json
import os
import platform
import re
import time
from dataclasses import asdict

from . import boot, build, plans, report, run, source, tables, tree
from .arches import EXPERIMENTS, target as get_target
from .errors import WorkbenchError
from .known import apply_known_failures
from .matrix import (SELFTEST, config_from_env, describe_schedule, host_target, invocation,
                     minutes, schedule, switch_on)
from .publish import document, publish
from .results import Record
from .util import progress, write_atomic

KVM_DEV = "/dev/kvm"


# --- progress -----------------------------------------------------------------

class Eta:
    """A progress line per repetition: cell, repetition, elapsed, ETA.

    The ETA scales what is left of the cost model's estimate by how fast the
    estimate has been paid off so far.
    """
    # The selftest's own KTAP diagnostics, passed through by the guest init.
    FIGURE = re.compile(r"^# # (enable|clear)_s: ")
    RUN = re.compile(r"^# run (\S+): ")

    def __init__(self, boots, out=progress, clock=time.monotonic):
        self.total = sum(b.estimate for b in boots) or 1.0
        self.count = len(boots)
        self.done = 0.0             # estimated seconds of finished boots
        self.current = 0.0          # ... of the boot under way
        self.out, self.clock, self.t0 = out, clock, clock()
        self.boot, self.index, self.run, self.rep = None, 0, None, 0

    def eta(self):
        paid = self.done + self.current
        elapsed = self.clock() - self.t0
        if paid <= 0 or elapsed <= 0:
            return self.total - paid
        return max(0.0, (self.total - paid) * elapsed / paid)

    def start(self, b, index):
        self.boot, self.index, self.current, self.run, self.rep = b, index, 0.0, None, 0
        self.out("bench", f"[{index}/{self.count}] {b.variant_name} boot {b.round}: "
                 f"{len(b.runs)} runs x {b.reps} reps, elapsed "
                 f"{minutes(self.clock() - self.t0)}, ETA {minutes(self.eta())}")

    def line(self, line):
        m = self.RUN.match(line)
        if m:
            self.run, self.rep = m.group(1), 0
            if self.boot:
                self.current += self.boot.startup
            return
        if self.boot and self.run and self.FIGURE.match(line):
            self.rep += 1
            self.current += self.boot.per_rep.get(self.run, 0)
            cell = self.run[len("split."):].replace(".", "/") if self.run.startswith(
                "split.") else self.run
            self.out("bench", f"[{self.index}/{self.count}] {self.boot.variant_name} boot "
                     f"{self.boot.round}: {cell} rep {self.rep}/"
                     f"{self.boot.run_reps.get(self.run, self.boot.reps)}, elapsed "
                     f"{minutes(self.clock() - self.t0)}, ETA {minutes(self.eta())}")

    def finish(self, b):
        self.done += b.estimate
        self.current = 0.0


# --- figures out of a run's output ------------------------------------------

# What dirty_log_split_test says about a run, beside its samples: kept once.
META = ("backing_src", "backing_page_size", "host_page_size", "eager_split",
        "eager_split_chunk_size", "vcpus", "vcpu_memory_bytes", "slots", "repetitions",
        "clear_chunk_bytes", "stall_sample_us", "guest_mode")
KEPT = ("duration_s", "pid", "boot")
# With -l, per repetition: the longest vCPU stall, printed in ms and kept in
# seconds as <path>_stall_s beside the other times.
STALL_MS = re.compile(r"^(enable|clear)_stall_max_ms$")


def stall_smp(cfg, arch):
    """The guest's CPUs for a bench run: with -l (STALL=1) the selftest
    wants one per vCPU, one for the timed ioctl and one for its stall
    sampler, else it skips; otherwise the arch's (None)."""
    if not cfg.stall or cfg.vcpus + 2 <= arch.smp:
        return None
    return cfg.vcpus + 2


def split_values(values):
    """The values of a split run's record (ktap.figures) the bench keeps: the
    samples of each repetition, the run's metadata, its call counts; not the
    per-VM checks (huge_bytes_before, host_thp_bytes) nor anything else the
    selftest prints."""
    out = {}
    for k, v in values.items():
        stall = STALL_MS.match(k)
        if stall:
            out[f"{stall.group(1)}_stall_s"] = [ms / 1e3 for ms in v]
        elif k.startswith("calls:") or k in KEPT or tables.SPLIT_FIGURE.match(k):
            out[k] = v
    out.update({k: v[:1] for k, v in values.items() if k in META})
    return out


def finish_boot(records, ktap, b):
    """The records of one boot (run.make_records), ready for the bench: split
    runs carry their samples (first guest mode only) and the boot's round;
    runs whose hugepages could not be reserved become skips; what else the
    generic parser collected is dropped (split_values)."""
    run_names = {r.name for r in b.runs}
    unreserved, why = {}, {}
    for t in ktap.results:
        m = re.match(r"^hugepages:(\d+)kB=(\d+)$", t.name)
        if m:
            kb = int(m.group(1))
            if t.status == "fail" and m.group(2) != "0":
                unreserved[kb] = (t.diag[-1] if t.diag else t.name)
            else:
                unreserved.pop(kb, None)
        elif t.name in run_names:
            why[t.name] = dict(unreserved)
    runs = {r.name: r for r in b.runs}
    short = set()
    for rec in records:
        rec.values["boot"] = [b.round]
        if rec.name not in run_names:
            continue
        rec.values = split_values(rec.values)
        missing = [kb for kb, _ in runs[rec.name].hugepages if kb in why.get(rec.name, {})]
        if missing and rec.status != "pass":
            kb = missing[0]
            rec.status = "skip"
            rec.message = (f"the guest could not reserve its {plans.size_arg(kb * 1024)} "
                           f"hugepages ({why[rec.name][kb]})\n{rec.message}").strip()
            short.add(rec.name)
    planned = [r for r in records if r.name in run_names]
    if planned and all(r.name in short for r in planned if r.status != "pass"):
        # Nothing failed: cells without their hugepages are skips, not a dead boot.
        records = [r for r in records if r.name != "any test passed"]
    return records


# --- the QEMU matrix ------------------------------------------------------------

def qemu_extra(cfg):
    if not cfg.icount:
        return ()
    value = cfg.icount if "=" in cfg.icount else f"shift={cfg.icount}"
    return ("-icount", value)


def prepare_trees(layout, kernels, ksrc=None):
    """The patched tree (series applied), its base worktree, and ref if asked."""
    record = source.prepare(layout, "patched", ksrc)
    head = source.git(layout.tree("patched"), "rev-parse", "HEAD")
    if head == source.git(layout.tree("patched"), "rev-parse", source.BASE_TAG + "^{commit}"):
        tree.apply(layout)
    tree.ensure_worktrees(layout)
    for k in kernels:
        if k in EXPERIMENTS:
            tree.ensure_experiment(layout, k)
    if "ref" in kernels:
        source.prepare(layout, "ref")
    return record


def kernel_info(layout, kernels):
    """What each kernel was built from: version, commits, whether the patched
    tree matches series/."""
    info = {}
    for k in kernels:
        src = source.read_record(layout, "ref" if k == "ref" else "patched") or {}
        d = {"version": src.get("kernel") or src.get("version"),
             "package": src.get("package"), "package_version": src.get("version"),
             "base_commit": src.get("base_commit")}
        rc, out = source.git(layout.tree(k), "rev-parse", "HEAD", check=False)
        if rc == 0:
            d["head"] = out.strip()
        if k == "patched" or k in EXPERIMENTS:
            rc, out = source.git(layout.tree(k), "log", "--oneline", f"{source.BASE_TAG}..HEAD",
                                 check=False)
            if rc == 0:
                d["patches"] = len(out.splitlines())
        if k == "patched":
            try:
                d["unexported"] = tree.unexported_changes(layout)
            except WorkbenchError:
                pass
        d["describe"] = (f"Linux {d['version']}"
                         + (f" ({src['package']} {src['version']})" if src.get("package")
                            else "")
                         + (f" + {d['patches']} patches" if d.get("patches") else "")
                         + (f" at {d['head'][:12]}" if d.get("head") else ""))
        info[k] = d
    return info


def _release(layout, variant):
    try:
        with open(os.path.join(variant.out(layout), "include", "config",
                               "kernel.release")) as f:
            return f.read().strip()
    except OSError:
        return None


def run_matrix(layout, jobs, cfg, boots):
    """Build what the schedule needs and boot it; returns (records, boot log)."""
    variants, images, tests = {}, {}, {}
    for b in boots:
        arch = b.target.arch
        if arch.name not in tests:
            extra = () if SELFTEST in arch.selftests else (SELFTEST,)
            tests[arch.name] = build.build_selftests(layout, "patched", arch, jobs, extra)
        v = build.Variant(b.target, b.kernel, cfg.overlays)
        if v.name not in images:
            variants[b.variant_name] = v
            images[v.name] = build.build_kernel(layout, v, jobs)
    eta = Eta(boots)
    records, log = [], []
    for i, b in enumerate(boots, 1):
        v = variants[b.variant_name]
        eta.start(b, i)
        start = time.monotonic()
        entry = {"index": i, "variant": v.name, "round": b.round,
                 "kernel_release": _release(layout, v),
                 "runs": [list(plans.argv(r, b.target)) for r in b.runs]}
        try:
            session = run.boot_variant(layout, v, images[v.name], tests[v.arch.name], b.runs,
                                       cmdline=b.cmdline, mem=b.mem,
                                       qemu_extra=qemu_extra(cfg), on_line=eta.line,
                                       smp=stall_smp(cfg, v.arch))
            recs = finish_boot(session.records, session.ktap, b)
            entry.update(session.recorded(layout.repo))
        except WorkbenchError as e:
            recs = [Record(stage="boot", name="boot", status="fail", message=str(e),
                           variant=v.name, target=b.target.name, arch=v.arch.name,
                           kernel=b.kernel)]
        apply_known_failures(layout, recs)
        records += recs
        entry.update(status=recs[0].status, seconds=round(time.monotonic() - start, 1))
        log.append(entry)
        eta.finish(b)
        _save_partial(layout, cfg, records, log)
    return records, log


def _save_partial(layout, cfg, records, log):
    """After every boot: what a crash or Ctrl-C would otherwise lose."""
    write_atomic(layout.path("bench", "partial.json"),
                 json.dumps({"config": asdict(cfg), "boots": log,
                             "records": [asdict(r) for r in records]}, indent=1) + "\n")


# --- the host ---------------------------------------------------------------------

def run_host(layout, jobs, cfg, boots, target):
    """The schedule natively: guest/init built for the host carries out each
    round's plan on the running kernel, as it would in a guest."""
    if not os.access(KVM_DEV, os.R_OK | os.W_OK):
        raise WorkbenchError(f"TARGET=host needs read and write access to {KVM_DEV}: "
                             "run it on a machine with KVM (and join the kvm group)")
    tests = build.build_selftests(layout, "patched", target.arch, jobs)
    init = boot.build_init(layout, target.arch, layout.path("host"))
    bindir = os.path.dirname(tests[SELFTEST])
    eta = Eta(boots)
    variant = build.Variant(target, cfg.label)
    records, log = [], []
    for i, b in enumerate(boots, 1):
        eta.start(b, i)
        session = run.run_on_host(layout, variant, init, b.runs, bindir, on_line=eta.line)
        recs = finish_boot(session.records, session.ktap, b)
        records += recs
        log.append(dict({"index": i, "variant": variant.name, "round": b.round,
                         "status": recs[0].status,
                         "seconds": round(session.result.seconds, 1),
                         "runs": [list(plans.argv(r, target)) for r in b.runs]},
                        **session.recorded(layout.repo)))
        eta.finish(b)
        _save_partial(layout, cfg, records, log)
    return records, log


def bench(layout, jobs, env, ksrc=None):
    """make bench: the whole command.  Returns the exit status."""
    cfg = config_from_env(env)
    target = host_target() if cfg.host else None
    boots, skipped = schedule(cfg, (lambda _: target) if cfg.host else get_target)
    print(describe_schedule(cfg, boots, skipped), flush=True)
    if switch_on(env, "DRY"):
        return 0
    if not boots:
        raise WorkbenchError("make bench: no cell left to run (see the skips above)")
    kernels = tables.kernel_order({b.kernel for b in boots})
    if cfg.host:
        prepare_trees(layout, (), ksrc)
        records, log = run_host(layout, jobs, cfg, boots, target)
        info = {cfg.label: {"describe": f"running kernel {platform.release()} "
                            f"({platform.version()})", "release": platform.release()}}
    else:
        from . import setup
        setup.ensure({b.target.arch for b in boots})
        prepare_trees(layout, kernels, ksrc)
        records, log = run_matrix(layout, jobs, cfg, boots)
        info = kernel_info(layout, kernels)
    doc = document(cfg, records, log, skipped, info, invocation_line=invocation(env))
    publish(layout, doc)
    print(report.text(doc["records"]), flush=True)
    bad = report.failures(doc["records"])
    for r in bad:
        print(f"\nFAIL {r['variant']}: {r['name']}\n{r['message'].rstrip()}", flush=True)
    return 1 if bad else 0
