"""Stage 7, report: the tables and the plot, from result records.

One row per cell and figure: target, backing, path (enable or clear), and
the timed split itself, the dirty pass after it or (STALL=1) the longest
vCPU stall during it.  Each kernel's
column holds the median and range of its samples; the ratio column holds
patched/base (and ref/base) with its confidence interval (see wb/stats.py).
The same rows make the terminal table, the markdown report and its plot.
"""

import re
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from . import stats
from .arches import EXPERIMENTS
from .plans import SPLIT_BACKINGS, parse_size, size_arg

# dirty_log_split_test's figures: <path>_s (the timed operation),
# <path>_dirty_pass_s (the vCPUs writing every page once afterwards) and,
# with -l (make bench STALL=1), <path>_stall_s (the longest time a vCPU
# made no progress while the operation ran; wb/bench.py keeps it so).
SPLIT_FIGURE = re.compile(r"^(enable|clear)(_dirty_pass|_stall)?_s$")
FIGURE_LABELS = {"": "split", "_dirty_pass": "dirty pass after",
                 "_stall": "longest vCPU stall"}
# Appended to the figure of make bench FLOOR=1's second run of a cell, the
# same ioctl without eager splitting (plans.eager_off() names it so).
EAGER_OFF = ", eager splitting off"
EAGER_OFF_RUN = ".eager_off"

# Older records (dirty_log_perf_test): (record key, index into its values, label).
COLUMNS = (
    ("enable_dirty_log_s", 0, "enable"),
    ("dirty_pass_s", 0, "1st dirty pass"),
    ("clear_dirty_log_s", 0, "1st clear"),
    ("get_dirty_log_s", 0, "1st get"),
)
KERNEL_ORDER = ("base", "patched", "ref") + tuple(EXPERIMENTS)
PLOT = "time-saved.svg"


def _fmt(seconds):
    if seconds is None:
        return "-"
    if abs(seconds) < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if abs(seconds) < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.3f} s"


def _arg(params, flag, default=None):
    params = list(params or ())
    return params[params.index(flag) + 1] if flag in params[:-1] else default


@dataclass
class Row:
    target: str
    test: str                   # the backing, or an older record's name
    path: str                   # enable, clear (or "" for older records)
    figure: str                 # split, dirty pass after, ...
    sizes: set = field(default_factory=set)
    samples: dict = field(default_factory=dict)     # kernel: [[values of one boot]]
    boots: dict = field(default_factory=dict)       # kernel: [the boot of each samples list]
    calls: dict = field(default_factory=dict)       # kernel: {function: [calls per op]}
    arch: str = ""

    @property
    def key(self):
        return (self.target, self.test, self.path, self.figure)

    @property
    def size(self):
        return ",".join(sorted(self.sizes, key=lambda s: parse_size(s) or 0)) or "-"

    def kernels(self):
        return kernel_order(self.samples)

    def compare(self, kernel, against="base"):
        if kernel not in self.samples or against not in self.samples:
            return None
        return stats.compare(self.samples[against], self.samples[kernel])


def kernel_order(kernels):
    return sorted(kernels, key=lambda k: (KERNEL_ORDER.index(k) if k in KERNEL_ORDER
                                          else len(KERNEL_ORDER), k))


def _figures(rec):
    """[(path, figure label, values)] a record contributes."""
    out = []
    for key, vals in rec.get("values", {}).items():
        m = SPLIT_FIGURE.match(key)
        if m and vals:
            out.append((m.group(1), FIGURE_LABELS[m.group(2) or ""], vals))
    if not out:
        for key, index, label in COLUMNS:
            vals = rec.get("values", {}).get(key, [])
            if len(vals) > index:
                out.append(("", label, [vals[index]]))
    return out


def _test_name(rec):
    name = rec["name"]
    if name.startswith("split."):
        return name.split(".")[1]
    return name


def rows(records):
    """Rows of the table, from the passing run records, in a stable order."""
    by_key = {}
    for r in records:
        if r.get("stage") != "run" or r.get("status") != "pass":
            continue
        params = r.get("params") or ()
        per_vcpu = parse_size(_arg(params, "-b", "")) if "-b" in params else None
        size = size_arg(per_vcpu * int(_arg(params, "-v", "1"))) if per_vcpu else None
        off = r["name"].endswith(EAGER_OFF_RUN)
        for path, label, vals in _figures(r):
            label += EAGER_OFF if off else ""
            row = by_key.setdefault((r["target"], _test_name(r), path, label),
                                    Row(r["target"], _test_name(r), path, label,
                                        arch=r.get("arch", "")))
            row.samples.setdefault(r["kernel"], []).append(
                [v for v in vals if isinstance(v, (int, float))])
            row.boots.setdefault(r["kernel"], []).append(
                (r.get("values", {}).get("boot") or [None])[0])
            if size:
                row.sizes.add(size)
            if label not in ("split", "split" + EAGER_OFF):
                continue
            # Call counts cover the whole run: per operation, one per repetition.
            for key, hits in r.get("values", {}).items():
                if key.startswith("calls:") and hits:
                    row.calls.setdefault(r["kernel"], {}).setdefault(
                        key[len("calls:"):], []).append(hits[0] / max(1, len(vals)))
    return [by_key[k] for k in sorted(by_key, key=_sort_key)]


def _sort_key(key):
    target, test, path, figure = key
    order = SPLIT_BACKINGS.index(test) if test in SPLIT_BACKINGS else len(SPLIT_BACKINGS)
    return (target, order, test, {"enable": 0, "clear": 1}.get(path, 2), path,
            0 if figure == "split" else 1, figure)


def _num(x):
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"


def split_own(records, kernel="patched", against="base"):
    """[(row, {kernel: (added, on, off)}, (ratio, low, high))] of every split
    that also ran with eager splitting off (make bench FLOOR=1): the medians
    with it on and off, what the split adds (on - off) and kernel's added
    time over against's, with a 95% interval (stats.difference_ratio_ci)."""
    by_key = {r.key: r for r in rows(records)}
    out = []
    for r in by_key.values():
        twin = by_key.get(r.key[:3] + (r.figure + EAGER_OFF,))
        if r.figure != "split" or not twin:
            continue
        pairs, medians = {}, {}
        for k in kernel_order(set(r.samples) & set(twin.samples)):
            pairs[k] = _boot_pairs(r, twin, k)
            if not pairs[k]:
                continue
            on = stats.median([x for p in pairs[k] for x in p[0]])
            off = stats.median([x for p in pairs[k] for x in p[1]])
            medians[k] = (on - off, on, off)
        ratio = (None, None, None)
        if kernel in medians and against in medians:
            ratio = stats.difference_ratio_ci(pairs[against], pairs[kernel])
        out.append((r, medians, ratio))
    return out


def _boot_pairs(on_row, off_row, kernel):
    """[(on samples, off samples)] of a kernel, one pair per boot that has both."""
    off = dict(zip(off_row.boots[kernel], off_row.samples[kernel]))
    return [(g, off[b]) for b, g in zip(on_row.boots[kernel], on_row.samples[kernel])
            if b in off and g and off[b]]


def _ms(seconds):
    return f"{seconds * 1e3:.2f}"


def split_own_grid(records):
    """(header, body) of the split's own time, as split_own() gives it."""
    found = split_own(records)
    kernels = kernel_order({k for _, m, _ in found for k in m})
    header = (["target", "backing", "path"]
              + [f"{k}: on - off, ms" for k in kernels] + ["patched/base [95% CI]"])
    body = []
    for r, medians, (ratio, low, high) in found:
        cells = [f"{_ms(medians[k][0])} ({_ms(medians[k][1])} - {_ms(medians[k][2])})"
                 if k in medians else "-" for k in kernels]
        if ratio is None:
            text = "-"
        elif low is None:
            text = f"{ratio:.2f}x"
        else:
            text = f"{ratio:.2f}x [{low:.2f}-{high:.2f}]"
        body.append([r.target, r.test, r.path] + cells + [text])
    return header, body


def cell_text(samples):
    """'3.06 ms (3.00-3.09)': the median, and the range in the median's unit."""
    s = stats.summary(samples)
    if not s["n"]:
        return "-"
    med = abs(s["median"])
    scale, unit = (1e6, "us") if med < 1e-3 else (1e3, "ms") if med < 1 else (1, "s")
    return (f"{_num(s['median'] * scale)} {unit} "
            f"({_num(s['min'] * scale)}-{_num(s['max'] * scale)})")


def _ratio(c):
    if not c or c["ratio"] is None:
        return "-"
    if c["low"] is None:
        return f"{c['ratio']:.2f}x ({c['verdict']})"
    return f"{c['ratio']:.2f}x [{c['low']:.2f}-{c['high']:.2f}] {c['verdict']}"


def _calls(row, kernels):
    if not row.calls:
        return "-"
    fns = sorted({f for per in row.calls.values() for f in per})
    parts = []
    for fn in fns:
        vals = []
        for k in kernels:
            counts = row.calls.get(k, {}).get(fn)
            vals.append(f"{stats.median(counts):.0f}" if counts else "-")
        parts.append("/".join(vals) + (f" {fn}" if len(fns) > 1 else ""))
    return "; ".join(parts)


def grid(records):
    """(header, [cells per row]) shared by the text and markdown tables."""
    rs = rows(records)
    kernels = kernel_order({k for r in rs for k in r.samples})
    others = [k for k in kernels if k != "base"] if "base" in kernels else []
    # The RISC-V goal is set against upstream's own eager split: patched/ref;
    # an experiment earns its place against the series: experiment/patched.
    pairs = ([("patched", "ref")] if "patched" in kernels and "ref" in kernels else []) + [
        (k, "patched") for k in kernels if k in EXPERIMENTS and "patched" in kernels]
    header = (["target", "backing", "path", "figure", "size"]
              + [f"{k} median (min-max)" for k in kernels]
              + [f"{k}/base [95% CI]" for k in others]
              + [f"{a}/{b} [95% CI]" for a, b in pairs] + ["n"])
    with_calls = any(r.calls for r in rs)
    if with_calls:
        header.append("calls/op (" + "/".join(kernels) + ")")
    body = []
    for r in rs:
        line = ([r.target, r.test, r.path or "-", r.figure, r.size]
                + [cell_text(r.samples.get(k, [])) for k in kernels]
                + [_ratio(r.compare(k)) for k in others]
                + [_ratio(r.compare(a, against=b)) if a in r.samples and b in r.samples
                   else "-" for a, b in pairs]
                + ["/".join(str(stats.summary(r.samples.get(k, []))["n"]) for k in kernels)])
        if with_calls:
            line.append(_calls(r, kernels))
        body.append(line)
    return header, body


def text_table(header, body):
    """Columns padded to their widest cell, a rule under the header."""
    allrows = [header] + body
    widths = [max(len(str(r[i])) for r in allrows) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in allrows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def table(records):
    """The terminal table."""
    header, body = grid(records)
    if not body:
        return "(no figures: nothing passed)"
    return "\n".join(text_table(header, body))


def markdown_rows(header, body):
    """A markdown table of a header and rows, ending in a newline."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in body]
    return "\n".join(out) + "\n"


def markdown_table(records):
    header, body = grid(records)
    if not body:
        return "_No figures: nothing passed._\n"
    return markdown_rows(header, body)


# --- the plot ---------------------------------------------------------------

def plot_points(records, kernel="patched", against="base"):
    """[(label, figure, compare dict)] of every row that has both kernels."""
    out = []
    for r in rows(records):
        c = r.compare(kernel, against)
        if c and c["ratio"] is not None:
            label = " ".join(x for x in (r.target, r.test, r.path) if x)
            out.append((label, r.figure, c))
    return out


def svg(records, kernel="patched", against="base"):
    """Time saved per cell, (base - patched) / base, with its 95% interval.

    Hand-written SVG: one horizontal bar per cell, grouped by figure; green
    where patched is significantly faster, red where slower, grey where the
    interval covers no change.  The text beside each bar gives the time
    saved and the ratio.
    """
    points = plot_points(records, kernel, against)
    figures = []
    for _, fig, _ in points:
        if fig not in figures:
            figures.append(fig)
    row_h, label_w, plot_w, text_w, top = 20, 300, 360, 330, 50
    width = label_w + plot_w + text_w
    height = top + len(points) * row_h + len(figures) * 30 + 40
    x0 = label_w + plot_w / 2           # 0% saved
    scale = plot_w / 2 / 100            # px per percent; +-100% fills the plot

    def x(pct):
        return x0 + max(-100.0, min(100.0, pct)) * scale

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="10" y="20" font-size="15" font-weight="bold">Time saved by '
           f'{escape(kernel)} against {escape(against)}, per cell</text>',
           f'<text x="10" y="38" fill="#555">(median {escape(against)} - median '
           f'{escape(kernel)}) / median {escape(against)}; whiskers: 95% bootstrap '
           f'interval; grey: no significant difference</text>']
    y = top
    for fig in figures:
        y += 22
        out.append(f'<text x="10" y="{y}" font-weight="bold">{escape(fig)}</text>')
        y += 8
        first = y
        for label, f, c in points:
            if f != fig:
                continue
            pct = (1 - c["ratio"]) * 100
            color = {"faster": "#2a9d3c", "slower": "#c0392b"}.get(c["verdict"], "#999999")
            left, right = sorted((x0, x(pct)))
            out.append(f'<text x="{label_w - 8}" y="{y + 14}" text-anchor="end">'
                       f'{escape(label)}</text>')
            out.append(f'<rect x="{left:.1f}" y="{y + 4}" width="{max(right - left, 1):.1f}" '
                       f'height="{row_h - 8}" fill="{color}"/>')
            if c["low"] is not None:
                lo, hi = x((1 - c["high"]) * 100), x((1 - c["low"]) * 100)
                ym = y + row_h / 2
                out.append(f'<path d="M{lo:.1f} {ym}H{hi:.1f}M{lo:.1f} {ym - 4}V{ym + 4}'
                           f'M{hi:.1f} {ym - 4}V{ym + 4}" stroke="black" fill="none"/>')
            ci = (f" [{c['low']:.2f}-{c['high']:.2f}]" if c["low"] is not None else "")
            out.append(f'<text x="{label_w + plot_w + 8}" y="{y + 14}">'
                       f'{escape(_fmt(c["saved"]))} saved, {c["ratio"]:.2f}x{ci}</text>')
            y += row_h
        out.append(f'<line x1="{x0}" y1="{first}" x2="{x0}" y2="{y}" stroke="black"/>')
    y += 6
    for pct in (-100, -50, 0, 50, 100):
        out.append(f'<line x1="{x(pct)}" y1="{y - 4}" x2="{x(pct)}" y2="{y}" stroke="black"/>')
        sign = "+" if pct > 0 else ""
        out.append(f'<text x="{x(pct)}" y="{y + 14}" text-anchor="middle">'
                   f'{sign}{pct}%</text>')
    out.append(f'<text x="{x(-100)}" y="{y + 30}" fill="#555">&#8592; {escape(kernel)} '
               'slower</text>')
    out.append(f'<text x="{x(100)}" y="{y + 30}" text-anchor="end" fill="#555">'
               f'{escape(kernel)} faster &#8594;</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
