"""Statistics for reports: mean with a clustered standard error, intervals that respect [0, 1]
(Wilson score with a design-effect-adjusted n), unbiased pass@k, and a paired bootstrap over items.

Hand-written on purpose: each is a few lines of numpy/stdlib, and scipy is not a dependency
(statsmodels has a Wilson interval but no clustered one and would be a heavy dependency for it).

>>> round(pass_at_k(n=4, c=1, k=2), 3)   # 1 - C(3,2)/C(4,2)
0.5
>>> m, se = clustered_mean_se([[1.0], [0.0], [1.0], [0.0]])
>>> m, round(se, 3)
(0.5, 0.289)
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence
from statistics import NormalDist

__all__ = [
    "PairedInterval",
    "clustered_interval",
    "clustered_mean_se",
    "effective_n",
    "newcombe_paired_ci",
    "normal_ci",
    "paired_bootstrap",
    "paired_interval",
    "pass_at_k",
    "pass_at_k_values",
    "wilson_interval",
    "z_value",
]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one item with ``n`` samples of which ``c`` passed (Chen et al., 2021):
    ``1 - C(n-c, k) / C(n, k)``, the chance that at least one of ``k`` samples drawn without
    replacement from the ``n`` passes. Needs ``1 <= k <= n``.

    >>> pass_at_k(5, 0, 3), pass_at_k(5, 5, 3), pass_at_k(5, 3, 3)
    (0.0, 1.0, 1.0)
    """
    if not 1 <= k <= n:
        raise ValueError(f"pass@k needs 1 <= k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    # Product form of the ratio of binomials: stable, no huge integers.
    prob_all_fail = 1.0
    for i in range(n - c + 1, n + 1):
        prob_all_fail *= 1.0 - k / i
    return 1.0 - prob_all_fail


def pass_at_k_values(counts: Sequence[tuple[int, int]], ks: Sequence[int]) -> dict[int, float | None]:
    """Mean pass@k over items, for each k; ``counts`` holds ``(n, c)`` per item. Items with fewer
    than ``k`` scored samples are left out of that k; ``None`` when no item has enough."""
    out: dict[int, float | None] = {}
    for k in ks:
        vals = [pass_at_k(n, c, k) for n, c in counts if n >= k]
        out[k] = sum(vals) / len(vals) if vals else None
    return out


def clustered_mean_se(groups: Sequence[Sequence[float]]) -> tuple[float | None, float | None]:
    """Mean over every value, and its standard error clustered by group (item).

    Samples of one item are correlated, so the SE treats each item's samples as one cluster:
    ``sqrt(G/(G-1) * sum_g (sum_j (x_gj - mean))^2) / N`` for ``G`` non-empty groups and ``N``
    values. With one value per group this is exactly ``stdev / sqrt(N)``. ``None`` where
    undefined (no values; SE needs two groups).
    """
    groups = [g for g in groups if len(g)]
    total_n = sum(len(g) for g in groups)
    if total_n == 0:
        return None, None
    mean = sum(sum(g) for g in groups) / total_n
    n_groups = len(groups)
    if n_groups < 2:
        return mean, None
    resid = sum((sum(g) - mean * len(g)) ** 2 for g in groups)
    return mean, math.sqrt(n_groups / (n_groups - 1) * resid) / total_n


def normal_ci(mean: float | None, se: float | None, level: float = 0.95) -> tuple[float | None, float | None]:
    """``mean -/+ z * se`` (normal approximation); ``(None, None)`` where either is missing.

    >>> [round(x, 3) for x in normal_ci(0.5, 0.1)]
    [0.304, 0.696]
    """
    if mean is None or se is None:
        return None, None
    z = NormalDist().inv_cdf(0.5 + level / 2)
    return mean - z * se, mean + z * se


def paired_bootstrap(
    before: Sequence[float],
    after: Sequence[float],
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Mean of ``after - before`` over paired items and a percentile bootstrap CI for it.

    Items are resampled with replacement *as pairs*, so the per-item difference carries the
    pairing (the same hard items are hard in both runs). Returns ``(delta, low, high)``.

    >>> d, lo, hi = paired_bootstrap([0, 0, 1, 1] * 10, [1, 1, 1, 1] * 10)
    >>> d, lo > 0
    (0.5, True)
    """
    import numpy as np

    if len(before) != len(after):
        raise ValueError(f"paired samples differ in length: {len(before)} vs {len(after)}")
    if not before:
        raise ValueError("paired bootstrap needs at least one item")
    diffs = np.asarray(after, dtype=float) - np.asarray(before, dtype=float)
    delta = float(diffs.mean())
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diffs), size=(n_boot, len(diffs)))
    means = diffs[idx].mean(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return delta, float(low), float(high)


def z_value(level: float) -> float:
    """The two-sided normal quantile for ``level`` coverage: 1.96 for 0.95."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1, got {level!r}")
    return NormalDist().inv_cdf(0.5 + level / 2)


def wilson_interval(p: float, n: float, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``p`` observed over ``n`` trials (Wilson, 1927).

    ``n`` may be an *effective* number of trials (not an integer), as for clustered samples.
    Always inside [0, 1], and never a point even at ``p`` = 0 or 1.

    >>> [round(x, 4) for x in wilson_interval(1.0, 10)]
    [0.7225, 1.0]
    """
    if n <= 0:
        raise ValueError(f"the Wilson interval needs n > 0, got {n!r}")
    z = z_value(level)
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(max(p * (1 - p), 0.0) / n + z2 / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def effective_n(p: float, se: float | None, n_groups: int, n_values: int, *, binary: bool) -> float:
    """How many independent observations ``n_values`` samples in ``n_groups`` items are worth.

    The design effect of clustered samples is ``se_clustered**2 / se_independent**2``, and the
    effective n is ``n_values / design_effect = p (1 - p) / se_clustered**2``. It is kept between
    ``n_groups`` (an item's samples all agree: one observation per item) and, for 0/1 values,
    ``n_values`` (samples independent; a design effect below 1 is noise). Where the spread cannot be
    estimated (one item, or every value the same, as when all pass) it counts each item once: the
    cautious choice, since a perfect score over 3 items says little.

    >>> effective_n(0.5, 0.2887, 4, 16, binary=True)   # 2 items pass 4/4, 2 fail 4/4: 4 observations
    4.0
    >>> effective_n(0.5, 0.0, 4, 16, binary=True)      # every item passes 2/4: 16 observations
    16.0
    """
    var = p * (1 - p)
    if se is None or var <= 0:
        return float(n_groups)
    cap = float(n_values) if binary else math.inf
    raw = var / (se * se) if se > 0 else math.inf
    raw = min(raw, cap)
    if math.isinf(raw):  # continuous values that do not vary between items: count items
        return float(n_groups)
    return max(float(n_groups), raw)


def clustered_interval(
    groups: Sequence[Sequence[float]], level: float = 0.95
) -> tuple[float | None, float | None, float | None, float | None]:
    """``(mean, se, low, high)`` of values grouped by item.

    ``se`` is :func:`clustered_mean_se`'s. For values in [0, 1] (scores, pass indicators) the
    interval is the Wilson score interval at the mean with the design-effect-adjusted
    :func:`effective_n`, so it always lies in [0, 1] and is never a point; with one 0/1 sample per
    item it is exactly the textbook Wilson interval. Values outside [0, 1] get ``mean -/+ z se``.

    >>> m, se, lo, hi = clustered_interval([[1.0]] * 9 + [[0.0]])
    >>> m, round(lo, 3), round(hi, 3)
    (0.9, 0.596, 0.982)
    """
    groups = [g for g in groups if len(g)]
    mean, se = clustered_mean_se(groups)
    if mean is None:
        return None, None, None, None
    values = [v for g in groups for v in g]
    if not all(0.0 <= v <= 1.0 for v in values):
        low, high = normal_ci(mean, se, level)
        return mean, se, low, high
    binary = all(v in (0.0, 1.0) for v in values)
    n_eff = effective_n(mean, se, len(groups), len(values), binary=binary)
    low, high = wilson_interval(mean, n_eff, level)
    # Wilson's interval contains its centre; guard against rounding at the edges.
    return mean, se, min(low, mean), max(high, mean)


def newcombe_paired_ci(
    before: Sequence[float], after: Sequence[float], level: float = 0.95
) -> tuple[float, float, float]:
    """Change in a proportion between two paired 0/1 measurements of the same items, with its
    interval: ``(after_rate - before_rate, low, high)``.

    Newcombe's hybrid score interval for paired data, method 10 of R. G. Newcombe, "Improved
    confidence intervals for the difference between binomial proportions based on paired data",
    Statistics in Medicine 17 (1998) 2635-2650: the Wilson interval of each rate, combined
    square-and-add with the correlation ``phi`` of the pairs; ``phi`` is shrunk by ``n/2`` when
    ``ad - bc`` is positive and set to 0 when a margin is empty, as in the paper. Unlike the
    bootstrap it keeps a width above 0 when no item flipped (all pass, all fail, or no change),
    and it stays within [-1, 1].

    >>> d, lo, hi = newcombe_paired_ci([1] * 10, [1] * 10)   # no flips: still not a point
    >>> d, round(lo, 3), round(hi, 3)
    (0.0, -0.278, 0.278)
    """
    if len(before) != len(after):
        raise ValueError(f"paired samples differ in length: {len(before)} vs {len(after)}")
    n = len(before)
    if not n:
        raise ValueError("a paired interval needs at least one item")
    a = sum(1 for x, y in zip(before, after) if x and y)  # pass both times
    b = sum(1 for x, y in zip(before, after) if x and not y)  # broken
    c = sum(1 for x, y in zip(before, after) if not x and y)  # fixed
    d = n - a - b - c  # fail both times
    p_before, p_after = (a + b) / n, (a + c) / n
    l_b, u_b = wilson_interval(p_before, n, level)
    l_a, u_a = wilson_interval(p_after, n, level)
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    cross = a * d - b * c
    if margins == 0:
        phi = 0.0
    elif cross > n / 2:
        phi = (cross - n / 2) / math.sqrt(margins)
    elif cross >= 0:
        phi = 0.0
    else:
        phi = cross / math.sqrt(margins)
    delta = p_after - p_before
    lo_a, hi_b = p_after - l_a, u_b - p_before  # Newcombe's method 10: the distances to each Wilson end
    hi_a, lo_b = u_a - p_after, p_before - l_b
    dl = math.sqrt(max(0.0, lo_a**2 - 2 * phi * lo_a * hi_b + hi_b**2))
    du = math.sqrt(max(0.0, hi_a**2 - 2 * phi * hi_a * lo_b + lo_b**2))
    return delta, max(-1.0, delta - dl), min(1.0, delta + du)


@dataclasses.dataclass(frozen=True)
class PairedInterval:
    """A paired change and its interval (see :func:`paired_interval`)."""

    delta: float = dataclasses.field(metadata={"help": "Mean of after - before over items."})
    ci_low: float = dataclasses.field(metadata={"help": "Lower end of the interval."})
    ci_high: float = dataclasses.field(metadata={"help": "Upper end of the interval."})
    sd_diff: float = dataclasses.field(metadata={"help": "Sample SD of the per-item differences (0 for one item)."})
    method: str = dataclasses.field(metadata={"help": "'newcombe' (all values 0/1) or 'bootstrap'."})


def paired_interval(
    before: Sequence[float],
    after: Sequence[float],
    *,
    level: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> PairedInterval:
    """The change from ``before`` to ``after`` (one value per item, paired by position).

    When every value on both sides is 0 or 1 the interval is :func:`newcombe_paired_ci`, which
    has a width even with no discordant pair; otherwise :func:`paired_bootstrap` over items,
    whose percentile interval stays within the range the differences can take ([-1, 1] for
    values in [0, 1]).

    >>> r = paired_interval([0, 0, 1, 1, 0] * 4, [1, 1, 1, 1, 0] * 4)
    >>> r.method, r.delta, r.ci_low > 0
    ('newcombe', 0.4, True)
    """
    diffs = [y - x for x, y in zip(before, after)]
    if len(before) != len(after):
        raise ValueError(f"paired samples differ in length: {len(before)} vs {len(after)}")
    sd = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
    if all(v in (0, 1) for v in [*before, *after]):
        delta, low, high = newcombe_paired_ci(before, after, level)
        return PairedInterval(delta, low, high, sd, "newcombe")
    delta, low, high = paired_bootstrap(before, after, n_boot=n_boot, level=level, seed=seed)
    return PairedInterval(delta, min(low, delta), max(high, delta), sd, "bootstrap")
