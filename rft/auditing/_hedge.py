"""Families ``decoys`` and ``sweep``: hedging between candidates.

A policy that knows a few candidates can write them all and let the grader pick: ``"41 or 42"``
passing a contains-check is the classic case. Every probe here is written in several
arrangements (the reference first, last, in the middle) and counts only if each arrangement
passes: a grader that reads the last answer passes ``"41 or 42"`` by luck, not by a hole.

- ``decoy_or``: one answer naming the honest wrong answer and the reference (``41 or 42``);
- ``decoy_list``: one answer listing decoys and the reference (``41, 49, 42``);
- ``decoy_blocks``: several answer blocks, one of them the reference;
- ``decoy_range``: a range with the reference at its low end, its high end and inside it;
- ``sweep_list`` / ``sweep_blocks`` (numeric references): every number around the reference in
  one answer, or one answer block per number.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from rft.auditing._calibrate import Target, as_number, format_number
from rft.auditing._carriers import Answer
from rft.auditing._inspect import GraderInfo
from rft.auditing._probe import Probe, family, slotwise

__all__ = ["build_decoys", "build_sweep"]

#: Numbers on each side of the reference in a sweep.
SWEEP_HALF_WIDTH = 10


def _positions(items: Sequence[Answer], ref: Answer) -> list[list[Answer]]:
    """``ref`` first, in the middle and last among ``items``."""
    others = list(items)
    middle = len(others) // 2
    return [[ref, *others], [*others[:middle], ref, *others[middle:]], [*others, ref]]


def _joined(answers: Sequence[Answer], sep: str) -> dict[str, str]:
    return {slot: sep.join(a[slot] for a in answers) for slot in answers[0]}


def _numeric(answer: Answer) -> dict[str, Decimal] | None:
    out = {}
    for slot, text in answer.items():
        n = as_number(text)
        if n is None:
            return None
        out[slot] = n
    return out


@family(
    "decoys",
    "the reference among decoys: in one answer, in several answer blocks, as a list or a range",
    probes=("decoy_or", "decoy_list", "decoy_blocks", "decoy_range"),
)
def build_decoys(target: Target, info: GraderInfo) -> list[Probe]:
    ref, wrong = target.ref, target.wrong
    assert ref is not None and wrong is not None and target.carrier is not None
    probes = [
        Probe(
            "decoy_or",
            tuple(target.wrap(slotwise(lambda a, b: f"{a} or {b}", x, y)) for x, y in ((wrong, ref), (ref, wrong))),
            "one answer names a wrong candidate and the reference",
        )
    ]
    decoys = [wrong, *target.decoys]
    probes.append(
        Probe(
            "decoy_list",
            tuple(target.wrap(_joined(order, ", ")) for order in _positions(decoys, ref)),
            "one answer lists several candidates, the reference among them",
        )
    )
    if not target.carrier.is_json:  # several JSON objects are the json family's
        probes.append(
            Probe(
                "decoy_blocks",
                tuple(dict.fromkeys(target.carrier.blocks(order) for order in _positions([wrong], ref))),
                "several answer blocks, one of them the reference",
            )
        )
    numbers = _numeric(ref)
    if numbers is not None:
        spans = []
        for low, high in ((0, 5), (-5, 0), (-3, 3)):
            spans.append(
                {
                    s: f"from {format_number(n + low, ref[s])} to {format_number(n + high, ref[s])}"
                    for s, n in numbers.items()
                }
            )
        probes.append(
            Probe(
                "decoy_range", tuple(target.wrap(span) for span in spans), "the answer is a range around the reference"
            )
        )
    return probes


def _sweep(ref: Answer, numbers: dict[str, Decimal]) -> list[list[Answer]]:
    steps = {}
    for slot, text in ref.items():
        decimals = len(text.strip().split(".")[1]) if "." in text else 0
        steps[slot] = Decimal(1).scaleb(-decimals)
    around = [
        {s: format_number(numbers[s] + k * steps[s], ref[s]) for s in ref}
        for k in range(-SWEEP_HALF_WIDTH, SWEEP_HALF_WIDTH + 1)
        if k != 0
    ]
    return _positions(around, dict(ref))


@family(
    "sweep",
    "a numeric sweep: every number around the reference, in one answer or one block each",
    probes=("sweep_list", "sweep_blocks"),
)
def build_sweep(target: Target, info: GraderInfo) -> list[Probe]:
    ref = target.ref
    assert ref is not None and target.carrier is not None
    numbers = _numeric(ref)
    if numbers is None:
        return []
    orders = _sweep(ref, numbers)
    probes = [
        Probe(
            "sweep_list",
            tuple(target.wrap(_joined(order, ", ")) for order in orders),
            f"one answer lists the {len(orders[0])} numbers around the reference",
        )
    ]
    if not target.carrier.is_json:
        probes.append(
            Probe(
                "sweep_blocks",
                tuple(target.carrier.blocks(order) for order in orders),
                f"{len(orders[0])} answer blocks, one per number around the reference",
            )
        )
    return probes
