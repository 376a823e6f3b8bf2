"""Power check: the smallest change a suite of this size can resolve, before any training.

A guard holds when the paired interval's lower end lies above ``-tolerance`` (non-inferiority,
:meth:`rft.eval.GraderDelta.noninferior`). With ``n`` items whose per-item differences have SD
``sd_diff``, a true change of 0 shows up as non-inferior with probability ``power`` only when

    tolerance >= (z_{1-(1-level)/2} + z_{power}) * sd_diff / sqrt(n)

(the normal-approximation sample size for a paired mean difference). The right-hand side is the
*minimum detectable change*; below it the guard rejects good rounds by chance. Before training
only the baseline exists, so the SD of the differences is planned from it
(:func:`planning_sd`).

Hand-written (four lines of arithmetic with :class:`statistics.NormalDist`); statsmodels has the
same power formulas but would be a heavy dependency for them.

>>> round(min_detectable_change(0.5, 32), 3)      # 32 items, SD of differences 0.5
0.248
>>> items_needed(0.5, 0.05)                       # to resolve 0.05 instead
785
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence
from typing import Any

from rft._errors import ConfigError
from rft.eval._report import METRICS, Report, _grades_of
from rft.eval._stats import z_value

__all__ = ["PowerCheck", "items_needed", "min_detectable_change", "planning_sd", "power_check"]


def _z_sum(level: float, power: float) -> float:
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be between 0 and 1, got {power!r}")
    return z_value(level) + statistics.NormalDist().inv_cdf(power)


def min_detectable_change(sd_diff: float, n_items: int, *, level: float = 0.95, power: float = 0.8) -> float:
    """``(z_{1-(1-level)/2} + z_power) * sd_diff / sqrt(n_items)``: the smallest true change a
    paired comparison of ``n_items`` items detects with probability ``power`` at ``level``.

    >>> round(min_detectable_change(0.5, 25), 4)
    0.2802
    """
    if n_items < 1:
        raise ValueError(f"n_items must be at least 1, got {n_items!r}")
    if sd_diff < 0:
        raise ValueError(f"sd_diff must be >= 0, got {sd_diff!r}")
    return _z_sum(level, power) * sd_diff / math.sqrt(n_items)


def items_needed(sd_diff: float, change: float, *, level: float = 0.95, power: float = 0.8) -> int:
    """Items needed to resolve ``change``: ``ceil(((z_{1-(1-level)/2} + z_power) * sd_diff / change)^2)``.

    >>> items_needed(0.5, 0.1)
    197
    """
    if change <= 0:
        raise ValueError(f"change must be > 0, got {change!r}")
    if sd_diff < 0:
        raise ValueError(f"sd_diff must be >= 0, got {sd_diff!r}")
    n = (_z_sum(level, power) * sd_diff / change) ** 2
    return max(1, math.ceil(n - 1e-9))  # 1e-9: 25.000000000001 from rounding is 25 items


def planning_sd(
    values: Sequence[float], metric: str, *, samples_per_item: int = 1, binary: bool | None = None
) -> float:
    """SD of the per-item differences to plan with, from the baseline's per-item values alone.

    It is the SD of ``values`` (:meth:`rft.eval.Report.item_values` of the baseline). That
    assumes the after-run's per-item values correlate 0.5 with the baseline's, so that
    ``var(after - before) = 2 var (1 - 0.5) = var``: sd_diff is about the SD. A model changed only
    a little correlates more (fewer items needed), a very different one less.

    For pass rates and 0/1 data (``binary``; by default when ``metric == "pass_rate"`` or every
    value is 0 or 1) it is floored at the Agresti–Coull-adjusted binomial SD
    ``sqrt(p~ (1 - p~) / samples_per_item)`` with ``p~ = (x + 2) / (n + 4)`` over the ``n`` items
    (``x`` the sum of the values), so an all-pass or all-fail baseline (SD 0) does not claim
    infinite resolution. Over ``k`` samples per item an item's pass fraction varies at least as a
    binomial fraction of ``k`` draws, hence the ``/ k``. Values in [0, 1] that do not vary at all
    get the same floor; other values none.

    >>> round(planning_sd([1.0] * 32, "pass_rate"), 4)     # all pass: p~ = 34/36
    0.2291
    """
    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}; use one of: {', '.join(METRICS)}", "metric")
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("planning_sd needs at least one item value")
    sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
    if binary is None:
        binary = metric == "pass_rate" or all(v in (0.0, 1.0) for v in vals)
    in_unit = all(0.0 <= v <= 1.0 for v in vals)
    if binary or (in_unit and sd == 0.0):
        p = (sum(vals) + 2) / (len(vals) + 4)
        sd = max(sd, math.sqrt(p * (1 - p) / max(1, samples_per_item)))
    return sd


@dataclasses.dataclass(frozen=True)
class PowerCheck:
    """Whether a suite can resolve its tolerance (see :func:`power_check`)."""

    grader: str = dataclasses.field(metadata={"help": "The deciding grader."})
    metric: str = dataclasses.field(metadata={"help": "'mean' or 'pass_rate'."})
    n_items: int = dataclasses.field(metadata={"help": "Items with a scored sample in the baseline."})
    samples_per_item: int = dataclasses.field(metadata={"help": "Samples per item in the baseline."})
    sd_diff: float = dataclasses.field(metadata={"help": "Planned SD of per-item differences (planning_sd)."})
    resolvable: float = dataclasses.field(metadata={"help": "Minimum detectable change (inf with no items)."})
    tolerance: float = dataclasses.field(metadata={"help": "The drop the guard allows."})
    ok: bool = dataclasses.field(metadata={"help": "tolerance >= resolvable."})
    items_needed: int | None = dataclasses.field(
        metadata={"help": "Items to resolve the tolerance (None if it is <= 0 or nothing was scored)."}
    )
    advice: str = dataclasses.field(metadata={"help": "One sentence: what it resolves and how to fix it."})
    level: float = dataclasses.field(default=0.95, metadata={"help": "Confidence level."})
    power: float = dataclasses.field(default=0.8, metadata={"help": "Power."})

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        if math.isinf(self.resolvable):
            out["resolvable"] = None  # JSON has no infinity
        return out


def power_check(
    report: Report,
    grader: str,
    metric: str,
    tolerance: float,
    *,
    level: float = 0.95,
    power: float = 0.8,
    name: str | None = None,
) -> PowerCheck:
    """Can a suite of this size resolve ``tolerance``? Planned from its baseline ``report``.

    ``name`` labels the suite in the advice (default: the grader's name quoted), e.g.
    ``"guard 'plain_sum'"``. Items are the report's items with a scored sample of ``grader``;
    samples per item is the report's.

    >>> from rft import Grade
    >>> from rft.eval import ItemResult
    >>> r = Report([ItemResult(i, i, "", ["x"], {"g": [Grade(float(i % 2), bool(i % 2))]}) for i in range(32)], ["g"])
    >>> c = power_check(r, "g", "pass_rate", 0.02)
    >>> c.ok, round(c.resolvable, 2), c.items_needed
    (False, 0.25, 5064)
    """
    values = list(report.item_values(grader, metric).values())
    k = max(1, report.samples_per_item)
    label = name or repr(grader)
    what = metric.replace("_", " ")
    if not values:
        return PowerCheck(
            grader, metric, 0, k, math.nan, math.inf, tolerance, False, None,
            f"{label} has no scored items: nothing can be resolved; check the grader and the data", level, power,
        )
    scores = [g.score for item in report.items for g in _grades_of(item, grader) if g.score is not None]
    binary = metric == "pass_rate" or all(s in (0.0, 1.0) for s in scores)
    sd = planning_sd(values, metric, samples_per_item=k, binary=binary)
    n = len(values)
    mde = min_detectable_change(sd, n, level=level, power=power)
    need = items_needed(sd, tolerance, level=level, power=power) if tolerance > 0 and sd > 0 else None
    ok = tolerance >= mde
    head = (
        f"{label} has {n:,} items x {k} sample{'s' if k != 1 else ''}: it can resolve a drop of {mde:.3g} "
        f"in {what} at {level:.0%}/{power:.0%} power; "
    )
    if ok:
        advice = head + f"tolerance {tolerance:g} is enough"
    elif tolerance <= 0:
        advice = head + f"a tolerance of {tolerance:g} can never be shown — raise the tolerance"
    else:
        advice = head + (
            f"tolerance {tolerance:g} would need {need:,} items — add items, raise samples_per_item with "
            "temperature > 0, or raise the tolerance"
        )
    return PowerCheck(grader, metric, n, k, sd, mde, tolerance, ok, need, advice, level, power)
