"""Grades already in hand (not from :func:`rft.evaluate`) into the one results type, a Report.

For scripts that grade samples themselves (the demo's per-subset tables): :func:`grade_all`
grades every sample with every grader, and :func:`grades_report` turns Grades into a
:class:`~rft.eval.Report`, one item per sample, so the statistics and the table are the report's.

>>> from rft import Grade
>>> grades = [Grade(1.0, True), Grade(0.0, False), Grade.unscored_because("?", error="missing_field")]
>>> report = grades_report({"correct": grades})
>>> s = report["correct"]
>>> (s.n, s.scored, s.mean, s.pass_rate, s.unscored)
(3, 2, 0.5, 0.5, {'missing_field': 1})
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from rft._grade import Grade
from rft.eval._report import ItemResult, Report

__all__ = ["grade_all", "grades_report"]


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


def grades_report(
    grades: Mapping[str, Sequence[Grade]], *, ids: Sequence[Any] | None = None, meta: Mapping[str, Any] | None = None
) -> Report:
    """A :class:`~rft.eval.Report` of ``{grader name: one Grade per sample}``, one item per sample.

    Graders may have graded different numbers of samples (sample *i* of each list is item *i*).
    """
    n = max((len(gs) for gs in grades.values()), default=0)
    items = [
        ItemResult(
            index=i,
            id=ids[i] if ids is not None else i,
            prompt=None,
            outputs=[""],
            grades={name: [gs[i]] for name, gs in grades.items() if i < len(gs)},
        )
        for i in range(n)
    ]
    return Report(items, list(grades), meta)
