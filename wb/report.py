"""Stage 7, report: base and patched side by side, from result records."""

import json
import os
import statistics

# Figures worth a column, in order: (record key, index into its values, label).
COLUMNS = (
    ("enable_dirty_log_s", 0, "enable"),
    ("dirty_pass_s", 0, "1st dirty pass"),
    ("clear_dirty_log_s", 0, "1st clear"),
    ("get_dirty_log_s", 0, "1st get"),
)


def _fmt(seconds):
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.3f} s"


def samples(records):
    """{(target, test, label): {kernel: [value per repetition]}}."""
    out = {}
    for r in records:
        if r.get("stage") != "run" or r.get("status") != "pass":
            continue
        for key, index, label in COLUMNS:
            vals = r.get("values", {}).get(key, [])
            if len(vals) > index:
                out.setdefault((r["target"], r["name"], label), {}).setdefault(
                    r["kernel"], []).append(vals[index])
    return out


def table(records, kernels=("base", "patched")):
    rows = [("target", "test", "figure") + tuple(f"{k} median [min-max]" for k in kernels)
            + ("ratio", "n")]
    for (target, test, label), per in sorted(samples(records).items()):
        cells, medians = [], []
        for k in kernels:
            vals = per.get(k, [])
            med = statistics.median(vals) if vals else None
            medians.append(med)
            cells.append(f"{_fmt(med)} [{_fmt(min(vals))}-{_fmt(max(vals))}]" if vals else "-")
        ratio = (f"{medians[-1] / medians[0]:.2f}x" if None not in medians and medians[0]
                 else "-")
        n = "/".join(str(len(per.get(k, []))) for k in kernels)
        rows.append((target, test, label) + tuple(cells) + (ratio, n))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def load(path):
    if os.path.isdir(path):
        path = os.path.join(path, "records.json")
    with open(path) as f:
        return json.load(f)
