"""Check a grader against a dataset before spending compute: does every row have what it reads?

A grader reads dataset fields through its templates (``{{item.answer}}``, ``{{item.a.b}}``). A
row that lacks one is unscored at grading time; :func:`check_rows` finds every such row up front.

>>> import rft
>>> g = rft.load_grader({"type": "string_check", "name": "same", "reference": "{{item.answer}}"})
>>> item_fields(g)
['item.answer']
>>> [str(p) for p in check_rows(g, [{"answer": "4"}, {"question": "2+2?"}])]
['row 1: missing item.answer (read by grader same)']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from rft._template import _PLACEHOLDER, MISSING, _walk
from rft.graders._base import Grader

__all__ = ["RowProblem", "check_examples", "check_rows", "item_fields"]

# Config keys whose strings are not templates (Python grader source code).
_NOT_TEMPLATES = frozenset({"source"})


@dataclasses.dataclass(frozen=True)
class RowProblem:
    """Row ``row`` lacks ``field``, which grader ``grader`` reads."""

    row: int
    field: str
    grader: str

    def __str__(self) -> str:
        return f"row {self.row}: missing {self.field} (read by grader {self.grader})"


def _strings(value: Any, key: str | None = None) -> list[str]:
    if key in _NOT_TEMPLATES:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for k, v in value.items() for s in _strings(v, str(k))]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


def item_fields(grader: Grader) -> list[str]:
    """Every ``item.…`` path the grader's templates read (sub-graders included), in config order."""
    fields: list[str] = []
    for text in _strings(grader.to_config()):
        if "{{" not in text:
            continue
        for match in _PLACEHOLDER.finditer(text):
            path = match.group(1)
            if path.startswith("item.") and path not in fields:
                fields.append(path)
    return fields


def check_rows(grader: Grader, rows: Sequence[Mapping[str, Any]]) -> list[RowProblem]:
    """One :class:`RowProblem` per (row, field) the grader reads and the row lacks."""
    fields = [(f, tuple(f.split(".")[1:])) for f in item_fields(grader)]
    problems: list[RowProblem] = []
    for i, row in enumerate(rows):
        for text, path in fields:
            if _walk(row, path) is MISSING:
                problems.append(RowProblem(i, text, grader.name))
    return problems


_EXAMPLE_KEYS = frozenset({"sample", "item", "expected_score", "expected_passed", "note"})


def check_examples(grader: Grader, examples: Any) -> list[str]:
    """Run a grader file's ``examples`` and describe each one that does not grade as declared.

    Each example is ``{sample, item?, expected_score?, expected_passed?, note?}``:
    ``expected_score: null`` declares the sample unscored; scores compare within 1e-6. A
    malformed example list raises :class:`~rft.ConfigError` naming the example.

    >>> import rft
    >>> g = rft.load_grader({"type": "string_check", "name": "yes", "reference": "yes"})
    >>> for failure in check_examples(g, [{"sample": "yes", "expected_score": 1.0}, {"sample": "no", "expected_passed": True}]):
    ...     print(failure)
    examples.1: expected passed=True, got passed=False (score 0.0: fail: input 'no' eq reference 'yes')
    """
    from rft._errors import ConfigError

    if not isinstance(examples, list):
        raise ConfigError(f"expected a list of examples, got {type(examples).__name__}", "examples")
    failures: list[str] = []
    for i, ex in enumerate(examples):
        where = f"examples.{i}"
        if not isinstance(ex, Mapping) or "sample" not in ex:
            raise ConfigError("an example is a mapping with a 'sample' (and 'item', 'expected_score' ...)", where)
        unknown = set(ex) - _EXAMPLE_KEYS
        if unknown:
            raise ConfigError(f"unknown key(s) {sorted(unknown)}; use {sorted(_EXAMPLE_KEYS)}", where)
        if "expected_score" not in ex and "expected_passed" not in ex:
            raise ConfigError("declares neither expected_score nor expected_passed", where)
        item = ex.get("item") or {}
        if not isinstance(item, Mapping):
            raise ConfigError(f"item must be a mapping, got {type(item).__name__}", f"{where}.item")
        grade = grader.grade(ex["sample"], item)
        seen = f"score {grade.score!r}: {grade.reason}"
        if "expected_score" in ex:
            want = ex["expected_score"]
            if want is None:
                if grade.score is not None:
                    failures.append(f"{where}: expected unscored, got {seen}")
            elif grade.score is None or abs(grade.score - float(want)) > 1e-6:
                failures.append(f"{where}: expected score {want!r}, got {seen}")
        if "expected_passed" in ex and grade.passed != ex["expected_passed"]:
            failures.append(f"{where}: expected passed={ex['expected_passed']!r}, got passed={grade.passed!r} ({seen})")
    return failures
