"""`compare(before, after)`: did a change help, per grader, with a paired bootstrap CI over items.

Items are matched by id. Each item's score is the mean of its scored samples; items unscored in
either report are left out (and counted). The delta is the mean per-item difference, its CI a
percentile bootstrap that resamples *items*, keeping each item's before and after together: the
same hard items are hard in both runs, so pairing gives a much tighter interval than comparing
two independent means. A grader is flagged ``improved``/``regressed`` when the CI excludes 0.

>>> from rft import Grade
>>> from rft.eval import ItemResult, Report
>>> def rep(scores):
...     return Report([ItemResult(i, i, "", ["x"], {"g": [Grade(s, s >= 1)]}) for i, s in enumerate(scores)], ["g"])
>>> c = compare(rep([0.0] * 20 + [1.0] * 20), rep([1.0] * 40))
>>> c["g"].delta, c["g"].verdict, len(c["g"].fixed)
(0.5, 'improved', 20)
"""

from __future__ import annotations

import dataclasses
import html
import json
from collections.abc import Iterator, Sequence
from typing import Any

from rft.eval._report import Report, _fmt, _text_table
from rft.eval._stats import paired_bootstrap

__all__ = ["Comparison", "GraderDelta", "compare"]


@dataclasses.dataclass
class GraderDelta:
    """One grader's change from ``before`` to ``after``."""

    grader: str = dataclasses.field(metadata={"help": "Grader name."})
    n_paired: int = dataclasses.field(metadata={"help": "Items scored in both reports."})
    before: float | None = dataclasses.field(metadata={"help": "Mean item score before (paired items)."})
    after: float | None = dataclasses.field(metadata={"help": "Mean item score after (paired items)."})
    delta: float | None = dataclasses.field(metadata={"help": "Mean of after - before over paired items."})
    ci_low: float | None = dataclasses.field(metadata={"help": "Paired bootstrap CI, lower end."})
    ci_high: float | None = dataclasses.field(metadata={"help": "Paired bootstrap CI, upper end."})
    verdict: str = dataclasses.field(metadata={"help": "improved, regressed, no significant change, or no data."})
    fixed: list[Any] = dataclasses.field(default_factory=list, metadata={"help": "Item ids that went fail -> pass."})
    broken: list[Any] = dataclasses.field(default_factory=list, metadata={"help": "Item ids that went pass -> fail."})
    unpaired: int = dataclasses.field(default=0, metadata={"help": "Items left out: missing or unscored on a side."})

    @property
    def significant(self) -> bool:
        return self.verdict in ("improved", "regressed")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _item_view(report: Report, grader: str) -> dict[str, tuple[float, bool]]:
    """Item key -> (mean scored score, passed by majority of scored samples)."""
    out = {}
    for item in report.items:
        scored = [g for g in item.grades.get(grader, []) if g.score is not None]
        if scored:
            mean = sum(g.score for g in scored) / len(scored)  # type: ignore[misc]
            passed = sum(1 for g in scored if g.passed) * 2 >= len(scored)
            out[json.dumps(item.id)] = (mean, passed)
    return out


class Comparison:
    """Per-grader deltas between two reports (see :func:`compare`)."""

    def __init__(self, deltas: Sequence[GraderDelta], *, level: float, n_boot: int):
        self.deltas = list(deltas)
        self.level = level
        self.n_boot = n_boot

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
        pct = int(round(self.level * 100))
        header = ["grader", "items", "before", "after", "delta", f"{pct}% CI", "verdict", "fixed", "broken"]
        body = []
        for d in self.deltas:
            ci = "-" if d.ci_low is None else f"[{d.ci_low:+.3f}, {d.ci_high:+.3f}]"
            delta = "-" if d.delta is None else f"{d.delta:+.3f}"
            body.append(
                [d.grader, str(d.n_paired), _fmt(d.before), _fmt(d.after), delta, ci, d.verdict, str(len(d.fixed)), str(len(d.broken))]
            )
        return header, body

    def table(self) -> str:
        return _text_table(*self._rows())

    __str__ = table

    def __repr__(self) -> str:
        return "<Comparison " + ", ".join(f"{d.grader}: {d.verdict}" for d in self.deltas) + ">"

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "n_boot": self.n_boot, "graders": [d.to_dict() for d in self.deltas]}

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
        """Before/after bars per grader with the paired CI of the delta as an error bar on 'after'."""
        import matplotlib.pyplot as plt

        shown = [d for d in self.deltas if d.before is not None]
        fig, ax = plt.subplots(figsize=(1.2 + 1.4 * max(1, len(shown)), 2.8))
        xs = range(len(shown))
        ax.bar([x - 0.2 for x in xs], [d.before for d in shown], width=0.4, label="before", color="#999999")
        errs = [[d.delta - d.ci_low for d in shown], [d.ci_high - d.delta for d in shown]]  # type: ignore[operator]
        ax.bar([x + 0.2 for x in xs], [d.after for d in shown], width=0.4, label="after", color="#4c72b0",
               yerr=errs, capsize=3)
        ax.set_xticks(list(xs), [d.grader for d in shown], rotation=20, fontsize=8)
        ax.set_ylabel("mean score")
        ax.legend(fontsize=8)
        fig.tight_layout()
        return fig


def compare(
    before: Report | Any,
    after: Report | Any,
    *,
    graders: Sequence[str] | None = None,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """Compare two reports of the same items (reports or paths to saved ones).

    For each grader present in both: mean per-item delta, its paired bootstrap CI (``n_boot``
    resamples, ``level`` coverage, ``seed`` for repeatability), a verdict (``improved`` /
    ``regressed`` when the CI excludes 0), and the ids of items that flipped between pass and
    fail (an item passes when most of its scored samples pass).
    """
    from rft.eval._report import load_report

    if not isinstance(before, Report):
        before = load_report(before)
    if not isinstance(after, Report):
        after = load_report(after)
    names = list(graders) if graders else [g for g in before.graders if g in after.graders]
    deltas = []
    for name in names:
        b, a = _item_view(before, name), _item_view(after, name)
        all_keys = set(b) | set(a) | {json.dumps(i.id) for i in before.items} | {json.dumps(i.id) for i in after.items}
        keys = [k for k in (json.dumps(i.id) for i in after.items) if k in b and k in a]
        if not keys:
            deltas.append(GraderDelta(name, 0, None, None, None, None, None, "no data", unpaired=len(all_keys)))
            continue
        xb, xa = [b[k][0] for k in keys], [a[k][0] for k in keys]
        delta, low, high = paired_bootstrap(xb, xa, n_boot=n_boot, level=level, seed=seed)
        tol = 1e-12
        verdict = "improved" if low > tol else "regressed" if high < -tol else "no significant change"
        deltas.append(
            GraderDelta(
                grader=name,
                n_paired=len(keys),
                before=sum(xb) / len(xb),
                after=sum(xa) / len(xa),
                delta=delta,
                ci_low=low,
                ci_high=high,
                verdict=verdict,
                fixed=[json.loads(k) for k in keys if not b[k][1] and a[k][1]],
                broken=[json.loads(k) for k in keys if b[k][1] and not a[k][1]],
                unpaired=len(all_keys) - len(keys),
            )
        )
    return Comparison(deltas, level=level, n_boot=n_boot)
