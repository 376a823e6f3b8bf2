"""Statistics for reports: mean with a clustered standard error, normal 95% CI, unbiased pass@k,
and a paired bootstrap over items.

Hand-written on purpose: each is a few lines of numpy/stdlib, and scipy is not a dependency.

>>> round(pass_at_k(n=4, c=1, k=2), 3)   # 1 - C(3,2)/C(4,2)
0.5
>>> m, se = clustered_mean_se([[1.0], [0.0], [1.0], [0.0]])
>>> m, round(se, 3)
(0.5, 0.289)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

__all__ = ["clustered_mean_se", "normal_ci", "paired_bootstrap", "pass_at_k", "pass_at_k_values"]


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
