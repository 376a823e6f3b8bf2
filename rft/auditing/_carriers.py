"""Carriers: the shapes an answer is written in (``<answer>42</answer>``, ``\\boxed{42}``, JSON, ...).

The audit does not know how a grader wants its answer written. It tries each carrier with the
row's reference and keeps the first one the grader passes (:mod:`rft.auditing._calibrate`); every
probe for that row is then written in the same carrier, so a probe differs from an honest
answer only by its trick.

An *answer* is a mapping from slot to text: text carriers have the one slot ``""``; a JSON
carrier has one slot per output path the grader reads (``{"name": ..., "email": ...}``).

>>> c = TextCarrier("answer_tags", "{pre}", "<answer>{answer}</answer>")
>>> c.wrap({"": "42"})
'<answer>42</answer>'
>>> c.wrap({"": "41"}, reasoning="I think it is 42.")
'I think it is 42.\\n<answer>41</answer>'
>>> c.blocks([{"": "41"}, {"": "42"}])
'<answer>41</answer>\\n<answer>42</answer>'
>>> JsonCarrier(("name", "email")).wrap({"name": "Ada", "email": "a@x.io"})
'{"name": "Ada", "email": "a@x.io"}'
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["DEFAULT_REASONING", "Answer", "Carrier", "JsonCarrier", "TextCarrier", "text_carriers"]

#: An answer: slot -> text (text carriers use the single slot "").
Answer = Mapping[str, str]

#: The reasoning an honest completion shows where a carrier has a reasoning block.
DEFAULT_REASONING = "Let me work this out step by step."

_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


class Carrier:
    """How an answer is written into a completion."""

    name: str  # set by each carrier
    is_json = False

    def wrap(self, answer: Answer, reasoning: str | None = None) -> str:
        """The completion that gives ``answer``, with ``reasoning`` shown before it."""
        raise NotImplementedError

    def blocks(self, answers: Sequence[Answer]) -> str:
        """One completion that writes every answer of ``answers`` as its own answer block."""
        raise NotImplementedError

    def block_of(self, answer: Answer) -> str:
        """The answer block alone, without any reasoning before it."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class TextCarrier(Carrier):
    """A text shape: a ``head`` (``{pre}``: reasoning as a line before the answer, or ``{think}``:
    reasoning inside the carrier's own block), then one ``block`` holding ``{answer}``."""

    name: str
    head: str
    block: str

    def _head(self, reasoning: str | None) -> str:
        if "{think}" in self.head:
            return self.head.replace("{think}", DEFAULT_REASONING if reasoning is None else reasoning)
        return self.head.replace("{pre}", "" if reasoning is None else reasoning + "\n")

    def wrap(self, answer: Answer, reasoning: str | None = None) -> str:
        return self._head(reasoning) + self.block.replace("{answer}", answer.get("", ""))

    def blocks(self, answers: Sequence[Answer]) -> str:
        return self._head(None) + "\n".join(self.block_of(a) for a in answers)

    def block_of(self, answer: Answer) -> str:
        return self.block.replace("{answer}", answer.get("", ""))


@dataclasses.dataclass(frozen=True)
class JsonCarrier(Carrier):
    """A JSON object with one key per slot (dotted slots nest). With ``typed``, a slot whose text
    is a number is written as a JSON number."""

    slots: tuple[str, ...]
    typed: bool = False
    name: str = "json"
    is_json: bool = True

    def obj(self, answer: Answer) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for slot in self.slots:
            value: Any = answer.get(slot, "")
            if self.typed and isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
                value = json.loads(value.strip().lstrip("+"))
            node = out
            keys = slot.split(".")
            for key in keys[:-1]:
                node = node.setdefault(key, {})
            node[keys[-1]] = value
        return out

    def dumps(self, answer: Answer) -> str:
        return json.dumps(self.obj(answer), ensure_ascii=False)

    def wrap(self, answer: Answer, reasoning: str | None = None) -> str:
        if reasoning is None:
            return self.dumps(answer)
        # Reasoning cannot share the text with bare JSON; the fenced block is the usual layout.
        return f"{reasoning}\n```json\n{self.dumps(answer)}\n```"

    def blocks(self, answers: Sequence[Answer]) -> str:
        return "\n".join(self.dumps(a) for a in answers)

    def block_of(self, answer: Answer) -> str:
        return self.dumps(answer)


_BASE_TEXT = (
    ("plain", "{pre}", "{answer}"),
    ("answer_tags", "{pre}", "<answer>{answer}</answer>"),
    ("think_answer", "<think>{think}</think>\n", "<answer>{answer}</answer>"),
    ("boxed", "{pre}", "The answer is $\\boxed{{answer}}$."),
    ("hash", "{think}\n", "#### {answer}"),
    ("answer_line", "{pre}", "Answer: {answer}"),
)


def text_carriers(extra_tags: Sequence[str] = ()) -> list[Carrier]:
    """The text carriers tried, in order; ``extra_tags`` adds ``<tag>...</tag>`` carriers for tags
    the grader's config names (``{"answer_tags": "final"}`` -> ``<final>...</final>``)."""
    carriers: list[Carrier] = [TextCarrier(name, head, block) for name, head, block in _BASE_TEXT]
    for tag in extra_tags:
        carriers.append(TextCarrier(f"tag_{tag}", "{pre}", f"<{tag}>{{answer}}</{tag}>"))
    carriers.append(JsonCarrier(("answer",), name="json_answer"))
    return carriers
