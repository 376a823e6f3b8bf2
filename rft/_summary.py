"""Summaries of many Grades: count, mean score, pass rate, unscored by kind, as a table.

The mean and the pass rate are taken over *scored* samples only; unscored samples (the grader
could not judge) are counted apart, by the ``error`` kind their Grade carries, so an outage never
looks like a bad model and a bad model never hides behind an outage.

>>> from rft import Grade
>>> grades = [Grade(1.0, True), Grade(0.0, False), Grade.unscored_because("no answer field", error="missing_field")]
>>> s = summarize("correct", grades)
>>> s.n, s.scored, s.mean, s.pass_rate, s.unscored
(3, 2, 0.5, 0.5, {'missing_field': 1})
>>> print(format_table([s]))
grader   n  mean   pass rate  unscored
-------  -  -----  ---------  -----------------
correct  3  0.500  50.0%      1 missing_field:1
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rft._grade import Grade

__all__ = ["Summary", "check_thresholds", "format_table", "grade_all", "summarize", "summarize_all"]


@dataclasses.dataclass
class Summary:
    """Aggregate of one grader's Grades over a dataset."""

    grader: str = dataclasses.field(metadata={"help": "Grader name (sub-graders as parent.key)."})
    n: int = dataclasses.field(metadata={"help": "Samples graded."})
    scored: int = dataclasses.field(metadata={"help": "Samples the grader could judge."})
    mean: float | None = dataclasses.field(metadata={"help": "Mean score over scored samples; None if none."})
    passed: int = dataclasses.field(metadata={"help": "Scored samples that passed."})
    pass_rate: float | None = dataclasses.field(metadata={"help": "passed / scored; None if none scored."})
    unscored: dict[str, int] = dataclasses.field(metadata={"help": "Unscored samples by error kind."})
    depth: int = dataclasses.field(default=0, metadata={"help": "0 for a grader, 1+ for its sub-graders."})

    @property
    def unscored_count(self) -> int:
        return sum(self.unscored.values())

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _as_grade(value: Any) -> Grade | None:
    if isinstance(value, Grade):
        return value
    if isinstance(value, Mapping) and "score" in value:
        return Grade.from_dict(value)
    return None


def summarize(name: str, grades: Iterable[Grade], *, depth: int = 0) -> Summary:
    """Aggregate ``grades`` of the grader ``name`` (counted by the report's own statistics)."""
    from rft.eval._report import grader_stats

    stats = grader_stats(name, [[g] for g in grades], depth=depth)
    return Summary(
        grader=name,
        n=stats.n,
        scored=stats.scored,
        mean=stats.mean,
        passed=stats.passed,
        pass_rate=stats.pass_rate,
        unscored=stats.unscored,
        depth=depth,
    )


def summarize_all(grades_by_grader: Mapping[str, Sequence[Grade]], *, sub_grades: bool = True) -> list[Summary]:
    """One :class:`Summary` per grader, each followed by its sub-graders' (``name.key``) when
    ``sub_grades`` is true and the Grades carry ``details["sub_grades"]`` (composite graders)."""
    out: list[Summary] = []

    def visit(name: str, grades: Sequence[Grade], depth: int) -> None:
        out.append(summarize(name, grades, depth=depth))
        if not sub_grades:
            return
        keys: list[str] = []
        for g in grades:
            subs = g.details.get("sub_grades")
            if isinstance(subs, Mapping):
                keys.extend(k for k in subs if k not in keys)
        for key in keys:
            children = []
            for g in grades:
                subs = g.details.get("sub_grades")
                child = _as_grade(subs.get(key)) if isinstance(subs, Mapping) else None
                if child is not None:
                    children.append(child)
            visit(f"{name}.{key}", children, depth + 1)

    for name, grades in grades_by_grader.items():
        visit(name, list(grades), 0)
    return out


def grade_all(
    graders: Sequence[Any],
    samples: Sequence[Any],
    items: Sequence[Mapping[str, Any] | None],
    *,
    batch_size: int = 64,
    progress: bool = False,
) -> dict[str, list[Grade]]:
    """Grade every sample with every grader, ``batch_size`` at a time; Grades by grader name.

    With ``progress`` a tqdm bar runs on stderr (only when stderr is a terminal).
    """
    from tqdm import tqdm

    grades: dict[str, list[Grade]] = {g.name: [] for g in graders}
    # disable=None: tqdm shows the bar only when stderr is a terminal.
    with tqdm(total=len(samples) * len(graders), desc="grading", unit="grade", file=sys.stderr,
              disable=None if progress else True, leave=False) as bar:
        for start in range(0, len(samples), batch_size):
            chunk, chunk_items = samples[start : start + batch_size], items[start : start + batch_size]
            for g in graders:
                grades[g.name].extend(g.grade_batch(chunk, chunk_items))
                bar.update(len(chunk))
    return grades


def _fmt_mean(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _fmt_rate(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _fmt_unscored(s: Summary) -> str:
    if not s.unscored:
        return "0"
    kinds = " ".join(f"{k}:{v}" for k, v in s.unscored.items())
    return f"{s.unscored_count} {kinds}"


def format_table(summaries: Sequence[Summary]) -> str:
    """A plain-text table, one line per summary (sub-graders indented under their parent)."""
    header = ("grader", "n", "mean", "pass rate", "unscored")
    body = [
        ("  " * s.depth + s.grader, str(s.n), _fmt_mean(s.mean), _fmt_rate(s.pass_rate), _fmt_unscored(s))
        for s in summaries
    ]
    widths = [max(len(row[c]) for row in [header, *body]) for c in range(len(header))]
    lines = []
    for row in [header, tuple("-" * w for w in widths), *body]:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


def check_thresholds(
    summaries: Sequence[Summary], *, min_score: float | None = None, min_pass_rate: float | None = None
) -> list[str]:
    """Why the summaries fall short of the thresholds (empty list = all met).

    Only top-level graders (``depth == 0``) are checked. A grader that scored nothing fails any
    threshold: there is no evidence that it was met.

    >>> from rft import Grade
    >>> check_thresholds([summarize("g", [Grade(0.5, False)])], min_score=0.8)
    ['g: mean score 0.500 is below --min-score 0.8']
    """
    problems: list[str] = []
    for s in summaries:
        if s.depth:
            continue
        if min_score is not None:
            if s.mean is None:
                problems.append(f"{s.grader}: no sample was scored, so --min-score {min_score:g} is not met")
            elif s.mean < min_score:
                problems.append(f"{s.grader}: mean score {s.mean:.3f} is below --min-score {min_score:g}")
        if min_pass_rate is not None:
            if s.pass_rate is None:
                problems.append(f"{s.grader}: no sample was scored, so --min-pass-rate {min_pass_rate:g} is not met")
            elif s.pass_rate < min_pass_rate:
                problems.append(
                    f"{s.grader}: pass rate {s.pass_rate:.3f} is below --min-pass-rate {min_pass_rate:g}"
                )
    return problems
