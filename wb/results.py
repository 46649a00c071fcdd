"""Stage 6, results: JSON records of every verdict and figure, written atomically."""

import json
import os
import re
import platform
import subprocess
import time
from dataclasses import asdict, dataclass, field

from .ktap import figures
from .util import progress, write_atomic


@dataclass
class Record:
    stage: str                  # unit, tree, build, boot, run
    name: str
    status: str                 # pass, fail, skip, xfail
    variant: str = ""
    target: str = ""
    arch: str = ""
    kernel: str = ""
    params: list = field(default_factory=list)
    values: dict = field(default_factory=dict)
    message: str = ""


class Tally:
    """Verdicts as they come in, with a progress line for each."""

    def __init__(self):
        self.records = []
        self.boots = []         # {variant, command, plan} of every boot, as it ran

    def add(self, record):
        self.records.append(record)
        label = f"{record.variant}: {record.name}" if record.variant else record.name
        mark = {"pass": "ok", "fail": "FAIL", "skip": "skip", "xfail": "xfail"}[record.status]
        extra = f" ({record.message.splitlines()[0]})" if record.message and \
            record.status != "pass" else ""
        progress(record.stage, f"{mark:<5} {label}{extra}")
        return record

    def count(self, status):
        return sum(1 for r in self.records if r.status == status)

    def failures(self):
        return [r for r in self.records if r.status == "fail"]


def _failure_text(test):
    """What a failed test's record keeps: the dmesg check keeps every line,
    since which splats it saw decides whether the failure is a known one."""
    if test.status != "fail":
        return ""
    return "\n".join(test.diag if test.name == "dmesg" else test.diag[-15:])


def profile_counts(diag):
    """{function: hits} from a copy of a trace_stat/functionN file."""
    counts = {}
    for line in diag:
        fields = line.split(": ", 1)[-1].split()
        if len(fields) >= 2 and fields[1].isdigit() and fields[0] != "Function":
            counts[fields[0]] = counts.get(fields[0], 0) + int(fields[1])
    return counts


def name_profiled(rec, functions):
    """Give a record's call counts the full names of the profiled functions.

    trace_stat cuts function names to 30 characters, so a long one comes
    back as a prefix; the profiler also lists only functions that were hit,
    so a profiled function it does not list was called 0 times.
    """
    for key in [k for k in rec.values if k.startswith("calls:")]:
        name = key[len("calls:"):]
        full = [f for f in functions if f != name and f.startswith(name)]
        if name not in functions and len(full) == 1:
            rec.values[f"calls:{full[0]}"] = rec.values.pop(key)
    if rec.status == "pass":
        for fn in functions:
            rec.values.setdefault(f"calls:{fn}", [0])


def from_ktap(result, variant, params_by_name):
    """A Record per KTAP test of one boot.

    The function-profile copies taken after a run ("RUN.callsN", one per
    CPU) become 'calls:FUNCTION' values of that run's record.
    """
    out, by_name = [], {}
    for t in result.results:
        run_name, dot, cpu = t.name.rpartition(".calls")
        if dot and cpu.isdigit() and run_name in by_name and t.status == "pass":
            values = by_name[run_name].values
            for fn, hits in profile_counts(t.diag).items():
                key = f"calls:{fn}"
                values[key] = [values.get(key, [0])[0] + hits]
            continue
        vals = figures(t.diag)
        dur = [d for d in t.diag if d.startswith("duration: ")]
        if dur:
            vals["duration_s"] = [float(dur[-1].split()[-2])]
        pid = [m for m in (re.match(r"run \S+: \S+ \(pid (\d+)\)$", d) for d in t.diag) if m]
        if pid:
            vals["pid"] = [int(pid[0].group(1))]
        rec = Record(stage="run", name=t.name, status=t.status, variant=variant.name,
                     target=variant.target.name, arch=variant.arch.name,
                     kernel=variant.kernel, params=list(params_by_name.get(t.name, ())),
                     values=vals,
                     message=_failure_text(t))
        by_name[t.name] = rec
        out.append(rec)
    return out


def environment():
    def version(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0]
        except (OSError, IndexError):
            return None
    from .arches import ARCHES
    from .layout import Layout
    from .setup import installed_version, pinned_tools
    try:
        packages = {p: installed_version(p) for p, _, _ in pinned_tools(Layout.from_env())}
    except Exception:           # provenance must never fail a run
        packages = {}
    return {"host": platform.machine(), "python": platform.python_version(),
            "qemu": {a.qemu: version([a.qemu, "--version"]) for a in ARCHES.values()},
            # QEMU, its firmware data and OpenSBI, as dpkg has them installed
            "emulator_packages": packages,
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def save(layout, kind, records, extra=None):
    """build/results/<time>-<kind>/records.json; returns the directory."""
    run_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + f"-{kind}"
    out = layout.path("results", run_id)
    doc = {"kind": kind, "environment": environment(), **(extra or {}),
           "records": [asdict(r) for r in records]}
    write_atomic(os.path.join(out, "records.json"), json.dumps(doc, indent=1) + "\n")
    progress("results", f"records: {os.path.relpath(out)}/records.json")
    return out


def stage2_dumps(result):
    """{test: [lines]}: the stage-2 dumps a test printed (dirty_log_split_test -d).

    The selftest prints them as KTAP diagnostics ("# stage2 enable: ..."),
    older ones bare; either way a line is kept without the "# ", so that a
    console log saved from an older selftest still compares."""
    dumps = {}
    for t in result.results:
        lines = [d[2:] if d.startswith("# ") else d for d in t.diag
                 if d.startswith(("stage2 ", "# stage2 "))]
        if lines:
            dumps[t.name] = lines
    return dumps
