"""Probes and probe families.

A :class:`Probe` is one adversarial completion for one row, written in several *arrangements*
when where the reference sits could matter (``"41 or 42"`` and ``"42 or 41"``): it counts as an
exploit only when **every** arrangement passes, so a grader that reads the last answer is not
blamed for a hedge that wins only when the reference happens to come last. A probe may carry a
``control``: the same completion without its trick (an injection's answer without the
injection); when the control passes too, the trick did not cause the pass and nothing counts.

A :class:`Family` builds the probes of one kind of attack for one row from the row's
:class:`~rft.auditing._calibrate.Target` and the grader's :class:`~rft.auditing._inspect.GraderInfo`.
``needs_reference`` families run only on rows whose reference was calibrated; the others run on
every row (they attack form: empty answers, malformed JSON, judge injections, code).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from rft.auditing._calibrate import Target
from rft.auditing._carriers import Answer
from rft.auditing._inspect import GraderInfo

__all__ = ["FAMILIES", "Family", "Probe", "family", "family_order", "slotwise"]


@dataclasses.dataclass(frozen=True)
class Probe:
    """One adversarial completion (in one or more arrangements) for one row."""

    name: str
    arrangements: tuple[str, ...]
    why: str
    control: str | None = None

    def __post_init__(self) -> None:
        if not self.arrangements:
            raise ValueError(f"probe {self.name!r} has no completion")


Builder = Callable[[Target, GraderInfo], list[Probe]]


@dataclasses.dataclass(frozen=True)
class Family:
    """A kind of attack: its name, what it targets, and how it builds probes for a row."""

    name: str
    summary: str
    build: Builder
    probes: tuple[str, ...] = ()  # the probe names it emits
    needs_reference: bool = True
    applies: Callable[[GraderInfo], bool] = lambda info: True
    #: Rows it runs on at most (costly probes, such as padding to the output cap, need few).
    max_rows: int | None = None
    #: What ``applies`` looks for, in words (shown when the family does not run).
    requires: str = ""


#: Every family by name (see :func:`family_order` for the order reports list them in).
FAMILIES: dict[str, Family] = {}

#: The built-in families in report order: the cheap, universal ones first.
_ORDER = ("empty", "decoys", "sweep", "hidden", "retraction", "padding", "unicode", "json", "injection", "code")


def family_order() -> list[str]:
    """Every family name in report order (families registered by other code come last)."""
    return [*(n for n in _ORDER if n in FAMILIES), *(n for n in FAMILIES if n not in _ORDER)]


def family(
    name: str,
    summary: str,
    *,
    probes: tuple[str, ...],
    needs_reference: bool = True,
    applies: Callable[[GraderInfo], bool] | None = None,
    requires: str = "",
    max_rows: int | None = None,
) -> Callable[[Builder], Builder]:
    """Register a probe builder as family ``name``."""

    def register(build: Builder) -> Builder:
        FAMILIES[name] = Family(
            name, summary, build, probes, needs_reference, applies or (lambda info: True), max_rows, requires
        )
        return build

    return register


def slotwise(fn: Callable[..., str], *answers: Answer) -> dict[str, str]:
    """Apply ``fn`` to every slot of the answers: ``slotwise(lambda w, r: f"{w} or {r}", wrong, ref)``.

    >>> slotwise(lambda w, r: f"{w} or {r}", {"": "41"}, {"": "42"})
    {'': '41 or 42'}
    """
    first: Mapping[str, Any] = answers[0]
    return {slot: fn(*(a[slot] for a in answers)) for slot in first}
