"""make bench's results: one document, written into results/ in one rename.

Results land in results/<date>-<label>/ in the repository, written as one
directory rename, so a reader sees all of a result set or none of it.
"""

import os
import platform
import shutil
import time
from dataclasses import asdict

from . import report, results
from .util import progress, write_atomic

THP_SYSFS = "/sys/kernel/mm/transparent_hugepage/enabled"


def host_details():
    """The machine, without its name: results are committed to the repository."""
    d = {"kernel": platform.release(), "cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "uarch", "isa", "CPU part") and value.strip():
                    d.setdefault("cpu", value.strip())
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            d["memory"] = f.readline().split(":", 1)[1].strip()
    except (OSError, IndexError):
        pass
    try:
        d["load"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        pass
    try:
        with open(THP_SYSFS) as f:
            d["thp"] = f.read().strip()
    except OSError:
        pass
    return d


def document(cfg, records, log, skipped, kernels, invocation_line=""):
    environment = results.environment()
    environment["host_details"] = host_details()
    config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()}
    config["overlays"] = list(cfg.overlays)
    return {"kind": "bench", "format": 2, "label": cfg.label,
            "mode": "host" if cfg.host else "qemu",
            "date": environment["date"], "environment": environment,
            "invocation": invocation_line, "config": config,
            "kernels": kernels, "boots": log,
            "skipped": [{"target": c.target, "backing": c.backing, "path": c.path,
                         "reason": reason} for c, reason in skipped],
            "records": [asdict(r) if not isinstance(r, dict) else r for r in records]}


def results_root(layout):
    return os.path.join(layout.repo, "results")


def publish(layout, doc, label=None):
    """Write a results directory in one step: every file into a hidden
    directory, then one rename.  Returns the directory."""
    root = results_root(layout)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    name = f"{stamp}-{label or doc.get('label') or 'bench'}"
    final, n = os.path.join(root, name), 1
    while os.path.exists(final):
        n += 1
        final = os.path.join(root, f"{name}.{n}")
    tmp = os.path.join(root, f".{os.path.basename(final)}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for fname, text in report.render(doc).items():
            write_atomic(os.path.join(tmp, fname), text)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    progress("results", f"{os.path.relpath(final, layout.repo)}/: report.md, records.json")
    return final
