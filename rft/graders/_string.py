"""``string_check``: OpenAI's string comparison grader, with OpenAI's semantics exactly."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from rft._errors import ConfigError
from rft._grade import Grade
from rft._template import Batch, Template
from rft._text import short_repr
from rft.graders._base import CheckedScores, Grader, Result
from rft.graders._registry import register_grader

__all__ = ["StringCheck"]


def _eq(a: str, b: str) -> bool:
    return a == b


def _ne(a: str, b: str) -> bool:
    return a != b


def _like(a: str, b: str) -> bool:
    return b in a


def _ilike(a: str, b: str) -> bool:
    return b.lower() in a.lower()


_OPERATIONS = {"eq": _eq, "ne": _ne, "like": _like, "ilike": _ilike}


@register_grader("string_check")
@dataclasses.dataclass(kw_only=True, eq=True, repr=False)
class StringCheck(Grader):
    """Compare the rendered ``input`` with the rendered ``reference``; score 1 or 0.

    Operations, as OpenAI defines them: ``eq`` (equal, case-sensitive), ``ne`` (not equal),
    ``like`` (input contains reference, case-sensitive), ``ilike`` (contains, ignoring case).
    No normalisation is applied (use ``exact_match`` for that).

    >>> from rft import StringCheck
    >>> g = StringCheck(name="says_yes", reference="yes", operation="ilike")
    >>> g.grade("YES, indeed").score, g.grade("no").score
    (1.0, 0.0)
    """

    input: str = dataclasses.field(
        default="{{sample.output_text}}", metadata={"help": "Template of the text checked.", "always": True}
    )
    reference: str = dataclasses.field(default="", metadata={"help": "Template of the reference text."})
    operation: str = dataclasses.field(default="eq", metadata={"help": "eq, ne, like or ilike.", "always": True})

    def __post_init__(self) -> None:
        super().__post_init__()
        self._input = Template(self.input, field="input")
        self._reference = Template(self.reference, field="reference")
        if self.operation not in _OPERATIONS:
            raise ConfigError(
                f"unknown operation {self.operation!r}; use one of {', '.join(_OPERATIONS)}", "operation"
            )
        self._op = _OPERATIONS[self.operation]

    def _evaluate(self, batch: Batch, rich: bool) -> Sequence[Result]:
        # OpenAI renders both templates to text, so an int column 42 compares as "42".
        inputs = self._input.render(batch, text=True)
        refs = self._reference.render(batch, text=True)
        op = self._op
        if not rich:
            if op is _eq:  # the common case, inlined: no function call per row
                return CheckedScores([1.0 if a == b else 0.0 for a, b in zip(inputs, refs)])
            return CheckedScores([1.0 if op(a, b) else 0.0 for a, b in zip(inputs, refs)])
        out: list[Result] = []
        for a, b in zip(inputs, refs):
            ok = op(a, b)
            out.append(
                Grade(
                    1.0 if ok else 0.0,
                    reason=f"{'pass' if ok else 'fail'}: input {short_repr(a, 40)} {self.operation} "
                    f"reference {short_repr(b, 40)}",
                    details={"input": a[:200], "reference": b[:200]},
                )
            )
        return out
