"""Stage 7, report: a results document and its files (report.md, report.txt,
the plot), and documents merged from several result sets.  The tables and
plot are wb/tables.py's, the series' goals wb/goals.py's.
"""

import json
import os

from . import stats
from .goals import goals_markdown, goals_summary
from .tables import (PLOT, markdown_rows, markdown_table, plot_points, split_own_grid, svg,
                     table, text_table)


# --- documents ----------------------------------------------------------------

def failures(records):
    """Failed verdicts that matter: a hugepage pool that could not be filled
    only makes its cells skip."""
    return [r for r in records if r.get("status") == "fail"
            and not r.get("name", "").startswith("hugepages:")]


SPLIT_OWN_TITLE = "The split's own time (FLOOR=1)"
SPLIT_OWN_TEXT = ("Each split ran again with eager splitting off, right after it in "
                  "the same boot.  That time is what the ioctl costs without the "
                  "split: on enable the memslot update, its SRCU grace period and "
                  "the write-protect; on CLEAR the write-protect.  What the split "
                  "adds is the difference of the two medians.  The interval of its "
                  "patched/base ratio resamples boots with their on and off samples "
                  "together, then the samples within each boot.")


def split_own_text(records):
    header, body = split_own_grid(records)
    if not body:
        return ""
    return "\n".join([SPLIT_OWN_TITLE + ":"] + text_table(header, body))


def split_own_markdown(records):
    header, body = split_own_grid(records)
    if not body:
        return []
    return [f"## {SPLIT_OWN_TITLE}", "", SPLIT_OWN_TEXT, "", markdown_rows(header, body)]


def text(records):
    """What the terminal shows of a result set, and report.txt holds: the
    table, the split's own time (FLOOR=1) and the goals' tally."""
    return "\n".join(filter(None, (table(records), split_own_text(records),
                                   goals_summary(records))))


def markdown(doc):
    """report.md for a results document (see publish.document)."""
    records = doc.get("records", [])
    env = doc.get("environment", {})
    cfg = doc.get("config", {})
    mode = doc.get("mode", "qemu")
    where = ("QEMU TCG on the host below: emulated time, not hardware"
             if mode == "qemu" else "natively on the host below, on its running kernel")
    out = [f"# make bench: dirty_log_split_test, {doc.get('label', '')}", "",
           f"{doc.get('date', env.get('date', ''))}; run {where}.", ""]
    if cfg.get("overlays"):
        out += [f"Kernels built with +{'+'.join(cfg['overlays'])}: the function profiler "
                "charges every call, so take the call counts from here and the times "
                "from a run without it.", ""]
    out += ["## Results", "", markdown_table(records),
            "Times are medians over every repetition of every boot, with their range; "
            "the ratio is the median of one kernel over base's, with a 95% percentile-"
            "bootstrap interval (see Method); an interval that covers 1 reads "
            "'no significant difference'.  n: samples per kernel.", ""]
    if plot_points(records):
        out += [f"![time saved per cell]({PLOT})", ""]
    out += split_own_markdown(records)
    out += goals_markdown(records)
    skipped = doc.get("skipped", [])
    if skipped:
        out += ["## Skipped cells", ""]
        out += [f"- {s['target']} {s['backing']} {s['path']}: {s['reason']}" for s in skipped]
        out.append("")
    bad = failures(records)
    if bad:
        out += ["## Failures", ""]
        for r in bad:
            first = (r.get("message") or "").strip().splitlines()[:1]
            out.append(f"- {r.get('variant') or r.get('kernel')}: {r['name']}"
                       + (f": {first[0]}" if first else ""))
        out.append("")
    out += ["## Setup", ""]
    if doc.get("invocation"):
        out.append(f"- command: `{doc['invocation']}`")
    if cfg:
        out.append("- matrix: " + "; ".join(
            f"{k} {','.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in sorted(cfg.items()) if v not in (None, "", [], (), False)))
    for k, v in (doc.get("kernels") or {}).items():
        out.append(f"- kernel {k}: {v.get('describe', v)}")
    host = env.get("host_details") or {}
    out.append(f"- host: {env.get('host', '?')}"
               + "".join(f", {k} {v}" for k, v in sorted(host.items())))
    for q, v in (env.get("qemu") or {}).items():
        if mode == "qemu" and v:
            out.append(f"- {q}: {v}")
    if mode == "qemu" and env.get("emulator_packages"):
        out.append("- emulator packages: " + ", ".join(
            f"{p} {v or 'not installed'}" for p, v in sorted(env["emulator_packages"].items())))
    out += ["", "## Method", "", "From wb/stats.py:", "",
            stats.__doc__.split("\n\n", 1)[1].strip(), ""]
    boots = doc.get("boots", [])
    if boots:
        out += ["## Boots", "", "| # | variant | round | status | seconds |",
                "|---|---|---|---|---|"]
        out += [f"| {b.get('index')} | {b.get('variant')} | {b.get('round')} | "
                f"{b.get('status')} | {b.get('seconds')} |" for b in boots]
        out += ["", "## Exact commands", ""]
        seen = set()
        for b in boots:
            if b.get("variant") in seen:
                continue
            seen.add(b.get("variant"))
            out.append(f"- {b.get('variant')}"
                       + (f" (kernel {b['kernel_release']})" if b.get("kernel_release")
                          else ""))
            if b.get("command"):
                out.append(f"  - `{' '.join(b['command'])}`")
            out += [f"  - `{' '.join(argv)}`" for argv in b.get("runs", [])]
        out.append("")
    return "\n".join(out)


def render(doc):
    """{file name: content} of a results directory."""
    records = doc.get("records", [])
    files = {"records.json": json.dumps(doc, indent=1) + "\n",
             "report.txt": text(records) + "\n",
             "report.md": markdown(doc)}
    if plot_points(records):
        files[PLOT] = svg(records)
    return files


def load(path):
    if os.path.isdir(path):
        path = os.path.join(path, "records.json")
    with open(path) as f:
        return json.load(f)


def run_kernels(doc):
    return {r["kernel"] for r in doc.get("records", []) if r.get("stage") == "run"
            and r.get("kernel")}


def merge(docs, names=("base", "patched")):
    """One document from several result sets.

    Two sets of one kernel each (a host run with LABEL=base and one with
    LABEL=patched, or any two labels) become base and patched, in the order
    given; otherwise the records are pooled as they are.
    """
    relabel = (len(docs) == 2 and all(len(run_kernels(d)) == 1 for d in docs))
    records, skipped, boots, kernels = [], [], [], {}
    for i, d in enumerate(docs):
        info = d.get("kernels") or {}
        if relabel:
            only = next(iter(run_kernels(d)))
            kernels[names[i]] = dict(info.get(only) or {}, label=only,
                                     results=d.get("label"))
        else:
            kernels.update(info)
        for r in d.get("records", []):
            r = dict(r)
            if relabel:
                r["values"] = dict(r.get("values", {}), label=[r.get("kernel", "")])
                r["kernel"] = names[i]
            records.append(r)
        skipped += d.get("skipped", [])
        boots += d.get("boots", [])
    first = docs[0]
    return {"kind": "bench", "mode": first.get("mode", "qemu"),
            "label": " vs ".join(d.get("label", "?") for d in docs),
            "environment": first.get("environment", {}),
            "merged_from": [{"label": d.get("label"), "date": d.get("date"),
                             "environment": d.get("environment"),
                             "kernels": d.get("kernels"), "config": d.get("config")}
                            for d in docs],
            "kernels": kernels,
            "records": records, "skipped": skipped, "boots": boots}
