"""The power check of a tuning run: what each suite can resolve, from its baseline evaluation.

Before any training, for the target and every guard: the smallest change the suite's size
(items x samples, the baseline's spread) can resolve at the run's confidence level and power
(:func:`rft.eval._power.power_check`). A guard whose tolerance is below that would fail its
non-inferiority gate by chance even when nothing changed: the check says so, with the number of
items that tolerance needs. ``tune_until`` prints these lines, keeps them in ``state.json`` and
the report, and with ``power_check="refuse"`` stops before training.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rft.eval._power import items_needed, power_check
from rft.eval._report import load_report

__all__ = ["check_power"]


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _target_advice(suite: Any, check: Any) -> str:
    what = suite.metric.replace("_", " ")
    k = check.samples_per_item
    head = f"target {suite.name!r} has {check.n_items:,} items x {k} sample{'s' if k != 1 else ''}"
    if not math.isfinite(check.resolvable):
        return f"{head}: nothing was scored at baseline, so no gain can be shown; check the grader and the data"
    at = f"{check.level:.0%}/{check.power:.0%} power"
    text = f"{head}: it can show a gain of {check.resolvable:.3g} in {what} or more at {at}"
    if check.resolvable > 0.3:
        text += f"; smaller gains need more items (about {_items_for(check, 0.3):,} for 0.3)"
    return text


def _items_for(check: Any, change: float) -> int:
    return items_needed(check.sd_diff, change, level=check.level, power=check.power)


def check_power(target: Any, guards: Sequence[Any], baseline: Mapping[str, Any], options: Any) -> list[dict[str, Any]]:
    """One record per suite (target first): what it can resolve, whether a guard's tolerance is
    enough, how many items it would need, and one line of advice.

    ``baseline`` is the loop's baseline scores (each suite's saved report path under ``report``).
    """
    out = []
    for role, suite, scores in [
        ("target", target, baseline["target"]),
        *[("guard", g, baseline["guards"][g.name]) for g in guards],
    ]:
        report = load_report(scores["report"])
        tolerance = suite.tolerance if role == "guard" else max(options.min_delta, 1e-9)
        check = power_check(
            report,
            suite.grader,
            suite.metric,
            tolerance,
            level=options.level,
            power=options.power,
            name=f"guard {suite.name!r}",
        )
        record = {k: _clean(v) for k, v in check.to_dict().items()}
        record.update(role=role, suite=suite.name)
        if role == "target":
            record.update(tolerance=None, ok=True, items_needed=None, advice=_target_advice(suite, check))
        out.append(record)
    return out
