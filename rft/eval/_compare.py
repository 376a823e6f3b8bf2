"""`compare(before, after)`: did a change help, per grader? One metric-aware paired comparison.

Items are matched by id. Each item gives one number per report (:meth:`Report.item_values`): its
mean score (``metric="mean"``) or the fraction of its samples that passed (``"pass_rate"``).
Items unscored or missing on either side are left out (and counted). The delta is the mean
per-item difference ``after - before``. Its interval keeps each item's two values together (the
same hard items are hard in both runs, so pairing gives a much tighter interval than comparing two
independent means) and stays within [-1, 1]:

- all per-item values 0 or 1 on both sides (one sample per item, pass/fail): Newcombe's hybrid
  score interval for paired proportions, which keeps a width even when no item flipped;
- otherwise: a percentile bootstrap that resamples items.

The same comparison serves three decisions (:meth:`GraderDelta.holds`):

- ``superior``: the interval's lower end is above 0 (the change is an improvement);
- ``noninferior``: the lower end is above ``-tolerance`` (whatever changed, it did not lose more
  than the tolerance);
- ``lenient``: the point estimate is at least ``-tolerance``: a point estimate only, not a
  statistical decision.

Below :data:`MIN_ITEMS` paired items, or when the interval is wider than 1 (half the range of a
change of [0, 1] values), the verdict is ``"too few items"`` and ``superior``/``noninferior`` are
False: the data cannot decide.

>>> from rft import Grade
>>> from rft.eval import ItemResult, Report
>>> def rep(scores):
...     return Report([ItemResult(i, i, "", ["x"], {"g": [Grade(s, s >= 1)]}) for i, s in enumerate(scores)], ["g"])
>>> c = compare(rep([0.0] * 20 + [1.0] * 20), rep([1.0] * 40))
>>> c["g"].delta, c["g"].verdict, len(c["g"].fixed), c["g"].superior()
(0.5, 'improved', 20, True)
"""

from __future__ import annotations

import dataclasses
import html
import json
from collections.abc import Iterator, Sequence
from typing import Any

from rft._errors import ConfigError
from rft.eval._report import METRICS, Report, _fmt, _grades_of, _text_table, load_report
from rft.eval._stats import paired_interval

__all__ = ["MIN_ITEMS", "RULES", "Comparison", "GraderDelta", "compare", "decision_text"]

#: Fewer paired items than this cannot decide anything: the verdict is "too few items".
MIN_ITEMS = 5
#: An interval wider than this (of a change of values in [0, 1]) cannot decide either.
MAX_WIDTH = 1.0
#: The decision rules a :class:`GraderDelta` can apply.
RULES = ("superior", "noninferior", "lenient")
_EPS = 1e-12
_UNDECIDED = ("no data", "too few items")


def decision_text(rule: str, *, tolerance: float = 0.0, level: float = 0.95, metric: str = "mean") -> str:
    """The rule ``rule`` in words, for reports and logs.

    >>> print(decision_text("noninferior", tolerance=0.02, metric="pass_rate"))
    non-inferior: the lower end of the paired 95% confidence interval of the change in pass rate
    (after - before, per item) is above -0.02
    """
    _check_rule(rule)
    what = f"the change in {metric.replace('_', ' ')} (after - before, per item)"
    bound = f"the lower end of the paired {level:.0%} confidence interval of {what}"
    if rule == "superior":
        return f"superior: {bound} is above 0"
    if rule == "noninferior":
        return f"non-inferior: {bound} is above {-tolerance:g}"
    return f"lenient: {what} is at least {-tolerance:g} (point estimate only, not a statistical decision)"


def _check_rule(rule: str) -> None:
    if rule not in RULES:
        raise ConfigError(f"unknown rule {rule!r}; use one of: {', '.join(RULES)}", "rule")


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}; use one of: {', '.join(METRICS)}", "metric")


@dataclasses.dataclass
class GraderDelta:
    """One grader's change from ``before`` to ``after`` on one metric, over paired items."""

    grader: str = dataclasses.field(metadata={"help": "Grader name."})
    n_paired: int = dataclasses.field(metadata={"help": "Items scored in both reports."})
    before: float | None = dataclasses.field(metadata={"help": "Mean over paired items of the item's metric, before."})
    after: float | None = dataclasses.field(metadata={"help": "Mean over paired items of the item's metric, after."})
    delta: float | None = dataclasses.field(metadata={"help": "Mean of after - before over paired items."})
    ci_low: float | None = dataclasses.field(metadata={"help": "Lower end of the paired interval of delta."})
    ci_high: float | None = dataclasses.field(metadata={"help": "Upper end of the paired interval of delta."})
    verdict: str = dataclasses.field(
        metadata={"help": "improved, regressed, no significant change, too few items, or no data."}
    )
    fixed: list[Any] = dataclasses.field(default_factory=list, metadata={"help": "Item ids that went fail -> pass."})
    broken: list[Any] = dataclasses.field(default_factory=list, metadata={"help": "Item ids that went pass -> fail."})
    unpaired: int = dataclasses.field(default=0, metadata={"help": "Items left out: missing or unscored on a side."})
    metric: str = dataclasses.field(default="mean", metadata={"help": "'mean' (item mean score) or 'pass_rate'."})
    sd_diff: float | None = dataclasses.field(default=None, metadata={"help": "SD of the per-item differences."})
    method: str | None = dataclasses.field(default=None, metadata={"help": "'newcombe' or 'bootstrap'."})
    level: float = dataclasses.field(default=0.95, metadata={"help": "Coverage of the interval."})

    @property
    def significant(self) -> bool:
        return self.verdict in ("improved", "regressed")

    @property
    def decidable(self) -> bool:
        """False for "no data" and "too few items": then no rule but ``lenient`` can hold."""
        return self.verdict not in _UNDECIDED and self.ci_low is not None

    def superior(self) -> bool:
        """The paired interval lies above 0: an improvement."""
        return self.decidable and self.ci_low > _EPS  # type: ignore[operator]

    def noninferior(self, tolerance: float) -> bool:
        """The paired interval's lower end lies above ``-tolerance``: no loss beyond the tolerance."""
        return self.decidable and self.ci_low > -tolerance  # type: ignore[operator]

    def lenient(self, tolerance: float) -> bool:
        """The point estimate is at least ``-tolerance``: a point estimate only, not a statistical
        decision (one flipped item out of 32 moves it by 3 points)."""
        return self.delta is not None and self.delta >= -tolerance - _EPS

    def holds(self, rule: str, tolerance: float = 0.0) -> bool:
        """Apply ``rule`` (one of :data:`RULES`)."""
        _check_rule(rule)
        if rule == "superior":
            return self.superior()
        if rule == "noninferior":
            return self.noninferior(tolerance)
        return self.lenient(tolerance)

    def describe(self, rule: str | None = None, tolerance: float = 0.0) -> str:
        """One line with the numbers and, given ``rule``, whether it holds.

        >>> d = GraderDelta("g", 40, 0.5, 0.45, -0.05, -0.12, 0.02, "no significant change", metric="pass_rate")
        >>> print(d.describe("noninferior", 0.02))
        g pass rate 0.500 -> 0.450, delta -0.050 (95% CI -0.120..+0.020, 40 items):
        not non-inferior at tolerance 0.02 (fails)
        """
        name = f"{self.grader} {self.metric.replace('_', ' ')}"
        if self.delta is None:
            head = f"{name}: no item scored in both runs"
        else:
            head = (
                f"{name} {_fmt(self.before)} -> {_fmt(self.after)}, delta {self.delta:+.3f} "
                f"({self.level:.0%} CI {self.ci_low:+.3f}..{self.ci_high:+.3f}, {self.n_paired} items)"
            )
        if rule is None:
            return f"{head}: {self.verdict}"
        ok = self.holds(rule, tolerance)
        what = {
            "superior": "improved", "noninferior": "non-inferior", "lenient": "within tolerance (point estimate)"
        }[rule]
        at = "" if rule == "superior" else f" at tolerance {tolerance:g}"
        why = " (too few items to decide)" if not self.decidable and rule != "lenient" else ""
        return f"{head}: {'' if ok else 'not '}{what}{at}{why} ({'holds' if ok else 'fails'})"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _passes(report: Report, grader: str) -> dict[str, bool]:
    """Item key -> passed by a majority of its scored samples (for the fixed/broken lists)."""
    out = {}
    for item in report.items:
        scored = [g for g in _grades_of(item, grader) if g.score is not None]
        if scored:
            out[json.dumps(item.id)] = sum(1 for g in scored if g.passed) * 2 >= len(scored)
    return out


class Comparison:
    """Per-grader deltas between two reports (see :func:`compare`)."""

    def __init__(self, deltas: Sequence[GraderDelta], *, level: float, n_boot: int, metric: str = "mean"):
        self.deltas = list(deltas)
        self.level = level
        self.n_boot = n_boot
        self.metric = metric

    def __getitem__(self, grader: str) -> GraderDelta:
        for d in self.deltas:
            if d.grader == grader:
                return d
        raise KeyError(f"no grader {grader!r} in this comparison; graders: {', '.join(d.grader for d in self.deltas)}")

    def __iter__(self) -> Iterator[GraderDelta]:
        return iter(self.deltas)

    @property
    def regressions(self) -> list[GraderDelta]:
        return [d for d in self.deltas if d.verdict == "regressed"]

    @property
    def improvements(self) -> list[GraderDelta]:
        return [d for d in self.deltas if d.verdict == "improved"]

    def _rows(self) -> tuple[list[str], list[list[str]]]:
        pct = round(self.level * 100)
        header = ["grader", "items", "metric", "before", "after", "delta", f"{pct}% CI", "verdict", "fixed", "broken"]
        body = []
        for d in self.deltas:
            ci = "-" if d.ci_low is None else f"[{d.ci_low:+.3f}, {d.ci_high:+.3f}]"
            delta = "-" if d.delta is None else f"{d.delta:+.3f}"
            body.append(
                [d.grader, str(d.n_paired), d.metric, _fmt(d.before), _fmt(d.after), delta, ci, d.verdict,
                 str(len(d.fixed)), str(len(d.broken))]
            )
        return header, body

    def table(self) -> str:
        return _text_table(*self._rows())

    __str__ = table

    def __repr__(self) -> str:
        return "<Comparison " + ", ".join(f"{d.grader}: {d.verdict}" for d in self.deltas) + ">"

    def to_dict(self) -> dict[str, Any]:
        graders = [d.to_dict() for d in self.deltas]
        return {"level": self.level, "n_boot": self.n_boot, "metric": self.metric, "graders": graders}

    def to_markdown(self) -> str:
        header, body = self._rows()
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        header, body = self._rows()
        cells = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body)
        return f"<table><thead><tr>{cells}</tr></thead><tbody>{rows}</tbody></table>"

    def plot(self) -> Any:
        """Two panels: before/after per grader (left), and the paired change with its interval on
        its own axis around 0 (right). Returns the Figure."""
        import matplotlib.pyplot as plt

        shown = [d for d in self.deltas if d.delta is not None]
        before = [float(d.before or 0.0) for d in shown]
        after = [float(d.after or 0.0) for d in shown]
        deltas = [float(d.delta or 0.0) for d in shown]
        lows = [float(d.ci_low if d.ci_low is not None else 0.0) for d in shown]
        highs = [float(d.ci_high if d.ci_high is not None else 0.0) for d in shown]
        n = max(1, len(shown))
        fig, (ax, ax_d) = plt.subplots(1, 2, figsize=(2.4 + 2.2 * n, 2.8), gridspec_kw={"width_ratios": [1.4, 1]})
        xs = list(range(len(shown)))
        names = [d.grader for d in shown]
        ax.bar([x - 0.2 for x in xs], before, width=0.4, label="before", color="#999999")
        ax.bar([x + 0.2 for x in xs], after, width=0.4, label="after", color="#4c72b0")
        ax.set_xticks(xs, names, rotation=20, fontsize=8)
        ax.set_ylabel(self.metric.replace("_", " "))
        ax.set_ylim(0, max([1.0, *before, *after]) * 1.05)
        ax.legend(fontsize=8)
        ax_d.axhline(0.0, color="#666666", linewidth=0.8)
        for x, d, mid, lo, hi in zip(xs, shown, deltas, lows, highs):
            colour = {"improved": "#2a9d4b", "regressed": "#c0392b"}.get(d.verdict, "#4c72b0")
            ax_d.errorbar([x], [mid], yerr=[[mid - lo], [hi - mid]], fmt="o", color=colour, capsize=4)
        ax_d.set_xticks(xs, names, rotation=20, fontsize=8)
        ax_d.set_xlim(-0.6, len(shown) - 0.4)
        bottom, top = min([0.0, *lows]), max([0.0, *highs])
        pad = 0.1 * max(0.1, top - bottom)
        ax_d.set_ylim(max(-1.05, bottom - pad), min(1.05, top + pad))
        ax_d.set_ylabel(f"after - before ({self.level:.0%} CI)")
        fig.tight_layout()
        return fig


def compare(
    before: Report | Any,
    after: Report | Any,
    *,
    graders: Sequence[str] | None = None,
    metric: str = "mean",
    level: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> Comparison:
    """Compare two reports of the same items (reports or paths to saved ones) on ``metric``.

    For each grader present in both (or each of ``graders``; sub-graders as ``parent.key``): the
    mean per-item change, its paired interval (``level`` coverage; Newcombe's for 0/1 item values,
    else ``n_boot`` bootstrap resamples with ``seed``), the SD of the per-item differences, a
    verdict (``improved``/``regressed`` when the interval excludes 0, ``no significant change``,
    ``too few items`` below :data:`MIN_ITEMS` paired items or for an interval wider than 1, ``no
    data``), and the ids of items that flipped between pass and fail (an item passes when most of
    its scored samples pass).
    """
    _check_metric(metric)
    if not isinstance(before, Report):
        before = load_report(before)
    if not isinstance(after, Report):
        after = load_report(after)
    names = list(graders) if graders else [g for g in before.graders if g in after.graders]
    deltas = [
        _grader_delta(before, after, name, metric=metric, level=level, n_boot=n_boot, seed=seed) for name in names
    ]
    return Comparison(deltas, level=level, n_boot=n_boot, metric=metric)


def _grader_delta(
    before: Report, after: Report, name: str, *, metric: str, level: float, n_boot: int, seed: int
) -> GraderDelta:
    b, a = before.item_values(name, metric), after.item_values(name, metric)
    all_keys = set(b) | set(a) | {json.dumps(i.id) for i in before.items} | {json.dumps(i.id) for i in after.items}
    keys = [k for k in dict.fromkeys(json.dumps(i.id) for i in after.items) if k in b and k in a]
    if not keys:
        return GraderDelta(
            name, 0, None, None, None, None, None, "no data", unpaired=len(all_keys), metric=metric, level=level
        )
    xb, xa = [b[k] for k in keys], [a[k] for k in keys]
    r = paired_interval(xb, xa, level=level, n_boot=n_boot, seed=seed)
    in_unit = all(0.0 <= v <= 1.0 for v in [*xb, *xa])
    if len(keys) < MIN_ITEMS or (in_unit and r.ci_high - r.ci_low > MAX_WIDTH):
        verdict = "too few items"
    elif r.ci_low > _EPS:
        verdict = "improved"
    elif r.ci_high < -_EPS:
        verdict = "regressed"
    else:
        verdict = "no significant change"
    pb, pa = _passes(before, name), _passes(after, name)
    return GraderDelta(
        grader=name,
        n_paired=len(keys),
        before=sum(xb) / len(xb),
        after=sum(xa) / len(xa),
        delta=r.delta,
        ci_low=r.ci_low,
        ci_high=r.ci_high,
        verdict=verdict,
        fixed=[json.loads(k) for k in keys if not pb[k] and pa[k]],
        broken=[json.loads(k) for k in keys if pb[k] and not pa[k]],
        unpaired=len(all_keys) - len(keys),
        metric=metric,
        sd_diff=r.sd_diff,
        method=r.method,
        level=level,
    )
