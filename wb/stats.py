"""Statistics for make bench: medians, ranges and patched/base ratios with a
confidence interval.  Pure functions of the samples; no I/O.

Why these:

- Times under emulation (and on busy hosts) are skewed, with rare slow
  outliers, so the centre is the median and the spread is min-max: neither
  assumes a distribution, and one outlier moves neither much.
- The figure of merit is the ratio of medians, patched/base: 0.25 means the
  operation takes a quarter of the time.  Its 95% confidence interval comes
  from a percentile bootstrap (each kernel's samples resampled on their own,
  4000 times, ratio of the resampled medians, 2.5th and 97.5th percentiles).
  The bootstrap needs no model of the times, works directly on a ratio of
  medians (which has no simple closed-form interval), and with a fixed seed
  gives the same interval for the same samples, so reports are reproducible.
- Samples come in groups: the repetitions of one boot share that boot's
  host load and memory layout and are not independent.  When the samples
  are given as groups, the resampling is two-stage: boots with replacement,
  then repetitions within each boot drawn with replacement, so boot-to-boot
  variation widens the interval as it should.
- When the interval covers 1 the report says "no significant difference".

Limits: with few boots (3 per kernel by default) a bootstrap interval tends
to be somewhat too narrow; read intervals that end near 1 with care.  With
fewer than 2 samples on a side there is no interval at all.
"""

import math
import random

SEED = 6                # fixed: the same samples always give the same interval
RESAMPLES = 4000
LEVEL = 0.95


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    if not n:
        return None
    mid = n // 2
    return xs[mid] if n % 2 else (xs[mid - 1] + xs[mid]) / 2


def quantile(xs, q):
    """The q-quantile of xs, interpolating linearly between order statistics
    (the usual 'type 7' definition)."""
    xs = sorted(xs)
    if not xs:
        return None
    pos = (len(xs) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def flatten(samples):
    """Samples given flat ([x, ...]) or in groups ([[x, ...], ...])."""
    return [x for g in groups(samples) for x in g]


def groups(samples):
    """The samples as non-empty groups; a flat list is one group per sample."""
    if samples and all(isinstance(s, (list, tuple)) for s in samples):
        return [list(g) for g in samples if g]
    return [[x] for x in samples]


def summary(samples):
    """{n, median, min, max} of flat or grouped samples."""
    xs = flatten(samples)
    if not xs:
        return {"n": 0, "median": None, "min": None, "max": None}
    return {"n": len(xs), "median": median(xs), "min": min(xs), "max": max(xs)}


def _resample(gs, rng):
    """A two-stage bootstrap resample: groups, then members within each."""
    out = []
    for _ in gs:
        g = gs[int(rng.random() * len(gs))]
        out += [g[int(rng.random() * len(g))] for _ in g]
    return out


def ratio(base, new):
    """median(new) / median(base), or None when base's median is 0 or missing."""
    b, n = median(flatten(base)), median(flatten(new))
    if b is None or n is None or b == 0:
        return None
    return n / b


def ratio_ci(base, new, level=LEVEL, resamples=RESAMPLES, seed=SEED):
    """(ratio of medians new/base, low, high): a percentile-bootstrap interval.

    low and high are None when either side has fewer than 2 samples.
    """
    r = ratio(base, new)
    gb, gn = groups(base), groups(new)
    if r is None or sum(map(len, gb)) < 2 or sum(map(len, gn)) < 2:
        return r, None, None
    rng = random.Random(seed)
    ratios = []
    for _ in range(resamples):
        b = median(_resample(gb, rng))
        n = median(_resample(gn, rng))
        if b > 0:
            ratios.append(n / b)
    if not ratios:
        return r, None, None
    tail = (1 - level) / 2
    return r, quantile(ratios, tail), quantile(ratios, 1 - tail)


def difference_ratio_ci(base_pairs, new_pairs, level=LEVEL, resamples=RESAMPLES,
                        seed=SEED):
    """(ratio, low, high) of what two kernels add to a shared cost, each
    kernel's samples given as [(on, off)], one pair of sample lists per
    boot: (median on - median off) of new over that of base.

    The interval is a percentile bootstrap that keeps each boot's on and
    off together: boots are drawn with replacement, then each boot's on
    and off samples within it, so that what a boot shares (host load,
    memory layout) cancels in the difference as it does in the estimate.
    The ratio is None when base adds nothing; there is no interval with
    fewer than 2 boots on a side, or when more than the tail's share of
    resamples has base adding nothing (the ratio is then unbounded).
    """
    def added(pairs):
        on = median([x for p in pairs for x in p[0]])
        off = median([x for p in pairs for x in p[1]])
        return None if on is None or off is None else on - off

    b, n = added(base_pairs), added(new_pairs)
    if b is None or n is None or b <= 0:
        return None, None, None
    if len(base_pairs) < 2 or len(new_pairs) < 2:
        return n / b, None, None
    rng = random.Random(seed)

    def resample(pairs):
        on, off = [], []
        for _ in pairs:
            p_on, p_off = pairs[int(rng.random() * len(pairs))]
            on += [p_on[int(rng.random() * len(p_on))] for _ in p_on]
            off += [p_off[int(rng.random() * len(p_off))] for _ in p_off]
        return median(on) - median(off)

    tail = (1 - level) / 2
    ratios = []
    for _ in range(resamples):
        rb, rn = resample(base_pairs), resample(new_pairs)
        if rb > 0:
            ratios.append(rn / rb)
    if resamples - len(ratios) > tail * resamples:
        return n / b, None, None
    return n / b, quantile(ratios, tail), quantile(ratios, 1 - tail)


def verdict(low, high):
    """'faster', 'slower' or 'no significant difference' for a ratio interval."""
    if low is None or high is None:
        return "too few samples"
    if high < 1:
        return "faster"
    if low > 1:
        return "slower"
    return "no significant difference"


def compare(base, new, **kw):
    """Everything a report row needs about new against base."""
    r, low, high = ratio_ci(base, new, **kw)
    sb, sn = summary(base), summary(new)
    saved = (sb["median"] - sn["median"]) if sb["n"] and sn["n"] else None
    return {"base": sb, "new": sn, "ratio": r, "low": low, "high": high,
            "saved": saved, "verdict": verdict(low, high) if r is not None else "-"}
