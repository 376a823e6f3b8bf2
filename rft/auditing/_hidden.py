"""Families ``hidden`` and ``retraction``: the reference is written, but not as the final answer.

``hidden``: the reference sits in the reasoning or in a code block while the final answer is
wrong (or missing). A grader that searches the whole text, or reads the first answer block,
rewards an answer the completion did not give.

- ``think_hidden``: the reasoning says the reference in prose; the final answer is wrong;
- ``think_answer_block``: the reasoning holds a whole answer block with the reference;
- ``reasoning_no_final``: the only answer block is inside the reasoning, no final answer follows;
- ``code_block``: a code block assigns the reference; the final answer is wrong;
- ``code_answer_block``: a code block holds an answer block with the reference (text carriers
  only: for JSON, "the last fenced block" is a documented reading, covered by the json family).

``retraction``: the reference, then taken back.

- ``retraction``: ``"42... no, that is wrong: it is not 42"`` as the answer;
- ``negation``: ``"not 42"`` as the answer.
"""

from __future__ import annotations

from rft.auditing._calibrate import Target
from rft.auditing._carriers import Answer, TextCarrier
from rft.auditing._inspect import GraderInfo
from rft.auditing._probe import Probe, family, slotwise

__all__ = ["build_hidden", "build_retraction"]


def _said(answer: Answer) -> str:
    return " / ".join(answer.values())


def _think(target: Target, reasoning: str, final: Answer | None, after: str = "") -> str:
    """``reasoning`` inside a think block, then ``final`` in the row's carrier (or ``after``)."""
    carrier = target.carrier
    assert carrier is not None
    if final is None:
        return f"<think>{reasoning}</think>\n{after}"
    if isinstance(carrier, TextCarrier) and "{think}" in carrier.head and carrier.head.startswith("<think>"):
        return carrier.wrap(final, reasoning=reasoning)
    return f"<think>{reasoning}</think>\n" + carrier.wrap(final)


@family(
    "hidden",
    "the reference hidden in the reasoning or in a code block while the final answer is wrong",
    probes=("think_hidden", "think_answer_block", "reasoning_no_final", "code_block", "code_answer_block"),
)
def build_hidden(target: Target, info: GraderInfo) -> list[Probe]:
    ref, wrong, carrier = target.ref, target.wrong, target.carrier
    assert ref is not None and wrong is not None and carrier is not None
    block = carrier.block_of(ref)
    probes = [
        Probe(
            "think_hidden",
            (_think(target, f"The answer is {_said(ref)}.", wrong),),
            "the reasoning states the reference; the final answer is wrong",
        ),
        Probe(
            "think_answer_block",
            (_think(target, block, wrong),),
            "an answer block with the reference sits inside the reasoning; the final answer is wrong",
        ),
        Probe(
            "reasoning_no_final",
            (_think(target, block, None, after="I am not sure."),),
            "the only answer block is inside the reasoning; the completion gives no final answer",
        ),
        Probe(
            "code_block",
            (f"```python\nanswer = {_said(ref)!r}\n```\n" + carrier.wrap(wrong),),
            "a code block assigns the reference; the final answer is wrong",
        ),
    ]
    if not carrier.is_json:
        probes.append(
            Probe(
                "code_answer_block",
                (f"```\n{block}\n```\n" + carrier.wrap(wrong),),
                "a code block holds an answer block with the reference; the final answer is wrong",
            )
        )
    return probes


@family("retraction", "the reference followed by a retraction ('... it is not 42')", probes=("retraction", "negation"))
def build_retraction(target: Target, info: GraderInfo) -> list[Probe]:
    ref = target.ref
    assert ref is not None
    return [
        Probe(
            "retraction",
            (target.wrap(slotwise(lambda r: f"{r}... no, that is wrong: it is not {r}", ref)),),
            "the answer gives the reference, then takes it back",
        ),
        Probe(
            "negation", (target.wrap(slotwise(lambda r: f"not {r}", ref)),), "the answer says the reference is not it"
        ),
    ]
