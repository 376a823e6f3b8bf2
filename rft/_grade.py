"""`Grade`: what every grader returns for one sample."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["Grade"]


class Grade:
    """The verdict of one grader on one sample.

    ``score`` is a float, or ``None`` when the grader could not judge (the row lacked a field,
    the judge was down, the grader code crashed or timed out). ``None`` is *unscored*, never the
    same as ``0.0``, which means the output was judged and found bad. ``passed`` compares the score
    with the grader's pass threshold and is ``None`` whenever the score is.

    ``details`` carries what the grader saw: the extracted ``answer``, the ``reference``,
    sub-grades of composites (``sub_grades``), and for unscored grades an ``error`` kind
    (``"missing_field"``, ``"timeout"``, ``"crash"``, ``"invalid_result"``, ...).

    >>> from rft import Grade
    >>> g = Grade(1.0, passed=True, reason="answer 42 equals reference 42")
    >>> g.score, g.passed, g.unscored
    (1.0, True, False)
    >>> Grade.unscored_because("missing field item.answer", error="missing_field").passed is None
    True
    """

    # A plain class with slots, not a dataclass: graders build one per sample on hot paths.
    __slots__ = ("details", "passed", "reason", "score")

    def __init__(
        self,
        score: float | None,
        passed: bool | None = None,
        reason: str = "",
        details: dict[str, Any] | None = None,
    ):
        self.score = score
        self.passed = passed
        self.reason = reason
        self.details = details if details is not None else {}

    @classmethod
    def unscored_because(cls, reason: str, *, error: str = "error", **details: Any) -> Grade:
        """An unscored grade: the grader could not judge this sample."""
        details["error"] = error
        return cls(None, None, reason, details)

    @property
    def unscored(self) -> bool:
        """True when the grader could not judge (``score is None``)."""
        return self.score is None

    @property
    def error(self) -> str | None:
        """The kind of failure behind an unscored grade, else None."""
        return self.details.get("error") if self.score is None else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` turns it back into an equal Grade."""
        return {
            "score": self.score,
            "passed": self.passed,
            "reason": self.reason,
            "details": _jsonable(self.details),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Grade:
        details = dict(data.get("details") or {})
        if "sub_grades" in details and isinstance(details["sub_grades"], Mapping):
            details["sub_grades"] = {
                k: cls.from_dict(v) if isinstance(v, Mapping) else v
                for k, v in details["sub_grades"].items()
            }
        return cls(data.get("score"), data.get("passed"), data.get("reason", ""), details)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Grade):
            return NotImplemented
        return (
            _same_score(self.score, other.score)
            and self.passed == other.passed
            and self.reason == other.reason
            and self.details == other.details
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = [f"score={self.score!r}", f"passed={self.passed!r}"]
        if self.reason:
            parts.append(f"reason={self.reason!r}")
        if self.details:
            parts.append(f"details={self.details!r}")
        return f"Grade({', '.join(parts)})"


def _same_score(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Grade):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)
