"""How far to trust a judge: accuracy and Cohen's kappa against human labels."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["judge_agreement", "load_labelled_rows"]

_POSITIVE = frozenset({"pass", "passed", "correct", "good", "yes", "true", "1"})


def _human_verdict(value: Any, labels: list[str] | None) -> Any:
    if labels is not None and isinstance(value, str) and value in labels:
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value >= 0.5
    return str(value).strip().lower() in _POSITIVE


def cohen_kappa(a: list[Any], b: list[Any]) -> float | None:
    """Cohen's kappa of two raters over the same items (None when undefined: no items, or chance
    agreement is total).

    Hand-written (eight lines) rather than pulling in scikit-learn for one formula.

    >>> cohen_kappa([1, 1, 0, 0], [1, 1, 0, 0]), cohen_kappa([1, 0, 1, 0], [1, 1, 0, 0])
    (1.0, 0.0)
    """
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb.get(k, 0) for k in ca) / (n * n)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def judge_agreement(
    judge: Any,
    rows: Iterable[Mapping[str, Any]] | str | os.PathLike[str],
    *,
    output: str = "output",
    label: str = "label",
) -> dict[str, Any]:
    """Grade ``rows`` (dicts with the output, the human ``label`` and any item fields the judge's
    template reads; or a JSONL path) and compare with the humans.

    A ``label_model`` judge is compared label for label when the human labels are among its
    ``labels``; otherwise pass/fail is compared (a human label passes when it is true, >= 0.5, or
    one of pass/correct/good/yes). Unscored rows are counted apart, not as disagreements.
    Returns ``n``, ``scored``, ``unscored``, ``accuracy``, ``kappa`` and a ``confusion`` table.

    >>> from rft import LabelModel
    >>> from rft.judge import ScriptedBackend
    >>> scripted = ScriptedBackend(lambda text: "Label: correct" if "\\n4\\n" in text else "Label: incorrect")
    >>> judge = LabelModel(name="j", labels=["correct", "incorrect"], passing_labels=["correct"], cache=False,
    ...                    input=[{"role": "user", "content": "{{sample.output_text}}"}], backend=scripted)
    >>> r = judge_agreement(judge, [{"output": "4", "label": "correct"}, {"output": "5", "label": "incorrect"}])
    >>> r["accuracy"], r["kappa"]
    (1.0, 1.0)
    """
    if isinstance(rows, (str, os.PathLike)):
        rows = load_labelled_rows(rows)
    rows = list(rows)
    labels = list(judge.labels) if getattr(judge, "type", "") == "label_model" else None
    grades = judge.grade_batch([row[output] for row in rows], rows)
    humans, machines = [], []
    unscored = 0
    confusion: Counter[tuple[str, str]] = Counter()
    for row, grade in zip(rows, grades):
        if grade.score is None:
            unscored += 1
            continue
        human = _human_verdict(row[label], labels)
        machine = grade.details.get("label") if isinstance(human, str) else grade.passed
        humans.append(human)
        machines.append(machine)
        confusion[(str(human), str(machine))] += 1
    scored = len(humans)
    return {
        "n": len(rows),
        "scored": scored,
        "unscored": unscored,
        "accuracy": sum(h == m for h, m in zip(humans, machines)) / scored if scored else None,
        "kappa": cohen_kappa(humans, machines),
        "confusion": {f"human={h} judge={m}": c for (h, m), c in sorted(confusion.items())},
    }


def load_labelled_rows(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Rows of a JSONL file (blank lines skipped)."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out
