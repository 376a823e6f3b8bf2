"""What the audit needs to know about a grader: which item fields it reads, which JSON output
paths it reads and from which field each is expected, the tags its config names, whether it has
judges or Python code inside, and the output cap.

Everything is read from the grader tree (``children()``) and each node's ``to_config()``; nothing
is specific to one grader type except recognising judges (:class:`~rft.ScoreModel`,
:class:`~rft.LabelModel`) and Python graders, which decide whether the injection and code
families apply.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from typing import Any

from rft.eval._checks import grader_item_fields
from rft.graders._base import Grader
from rft.graders._model import LabelModel, ScoreModel
from rft.graders._python import PythonGrader

__all__ = ["GraderInfo", "inspect_grader"]

_PLACEHOLDER = re.compile(r"\{\{\s*(item|sample)((?:\.[A-Za-z0-9_\-]+)+)\s*\}\}")
_TAG = re.compile(r"<([A-Za-z][A-Za-z0-9_\-]{0,30})>")
_KNOWN_TAGS = ("think", "answer")


@dataclasses.dataclass
class JudgeInfo:
    """One judge inside the grader: its scale and the verdicts that pass."""

    name: str
    top: float | None = None  # the highest score on a score_model's range
    passing_labels: tuple[str, ...] = ()


@dataclasses.dataclass
class GraderInfo:
    """The facts about a grader that probe builders read."""

    grader: Grader
    item_fields: list[tuple[str, ...]]  # item paths the grader reads
    reference_fields: list[tuple[str, ...]]  # of those, the ones compared with the output (first)
    json_slots: dict[str, tuple[str, ...]]  # output_json path -> the item path it is compared with
    reads_json: bool  # the grader parses the output as JSON somewhere
    tags: list[str]  # tag names its config mentions besides think/answer
    judges: list[JudgeInfo]
    has_python: bool
    max_output_chars: int
    is_async: bool
    #: Some part decides in code the audit cannot read (a Python grader, a third-party type): its
    #: reference fields are guessed from the rows, and calibration keeps what the grader checks.
    opaque: bool = False

    @property
    def has_judge(self) -> bool:
        return bool(self.judges)

    @property
    def costly(self) -> bool:
        """Every grade is a model call (a judge inside, or async work): probe sparingly."""
        return self.is_async or self.has_judge


def _nodes(grader: Grader) -> Iterator[Grader]:
    stack = [grader]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        try:
            stack.extend(node.children().values())
        except Exception:  # a third-party grader with a broken children(): inspect what we can
            continue


def _config(node: Grader) -> dict[str, Any]:
    try:
        config = node.to_config()
    except Exception:  # e.g. a python grader wrapping a lambda cannot be written as a config
        return {"type": getattr(node, "type", "")}
    return config if isinstance(config, dict) else {}


def _strings(value: Any, skip: tuple[str, ...] = ("graders",)) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, v in value.items():
            if key not in skip:
                yield from _strings(v, skip)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v, skip)


def _placeholders(text: str) -> list[tuple[str, tuple[str, ...]]]:
    return [(m.group(1), tuple(m.group(2)[1:].split("."))) for m in _PLACEHOLDER.finditer(text)]


def inspect_grader(grader: Grader) -> GraderInfo:
    """Walk ``grader`` and every sub-grader."""
    item_fields = list(grader_item_fields(grader))
    reference_fields: list[tuple[str, ...]] = []
    json_slots: dict[str, tuple[str, ...]] = {}
    reads_json = False
    tags: list[str] = []
    judges: list[JudgeInfo] = []
    has_python = False
    opaque = False
    cap = grader.max_output_chars
    for node in _nodes(grader):
        cap = min(cap, getattr(node, "max_output_chars", cap))
        config = _config(node)
        kind = config.get("type", getattr(node, "type", ""))
        if isinstance(node, PythonGrader) or kind == "python":
            has_python = opaque = True
        elif not type(node).__module__.startswith("rft."):
            opaque = True
        if isinstance(node, ScoreModel):
            judges.append(JudgeInfo(node.name, top=float(node.range[1])))
        elif isinstance(node, LabelModel):
            judges.append(JudgeInfo(node.name, passing_labels=tuple(node.passing_labels)))
        if kind == "json_schema":
            reads_json = True
        for text in _strings(config):
            for tag in _TAG.findall(text):
                if tag not in _KNOWN_TAGS and tag not in tags and not tag.startswith(("candidate", "/")):
                    tags.append(tag)
        extract = config.get("extract")
        if isinstance(extract, Mapping) and isinstance(extract.get("answer_tags"), str):
            if extract["answer_tags"] not in tags + list(_KNOWN_TAGS):
                tags.append(extract["answer_tags"])
        # Pairs of (output path, item path) compared by one leaf: contact_extraction's
        # {{sample.output_json.name}} against {{item.name}}, or json_schema's fields.
        if not node.children():
            outputs: list[str] = []
            items: list[tuple[str, ...]] = []
            for key, value in config.items():
                if key in ("fields", "graders", "examples", "description"):
                    continue
                for text in _strings(value):
                    for ns, path in _placeholders(text):
                        if ns == "sample" and path[0] == "output_json":
                            reads_json = True
                            if len(path) > 1:
                                outputs.append(".".join(path[1:]))
                        elif ns == "item" and key in ("reference", "input", "fields"):
                            items.append(path)
                        if ns == "item" and key == "reference" and path not in reference_fields:
                            reference_fields.append(path)
            if len(outputs) == 1 and len(items) == 1:
                json_slots.setdefault(outputs[0], items[0])
            fields = config.get("fields")
            if isinstance(fields, Mapping):
                reads_json = True
                for out_path, expected in fields.items():
                    found = _placeholders(expected) if isinstance(expected, str) else []
                    item_paths = [p for ns, p in found if ns == "item"]
                    if len(item_paths) == 1:
                        json_slots.setdefault(str(out_path), item_paths[0])
                        if item_paths[0] not in reference_fields:
                            reference_fields.append(item_paths[0])
    for path in json_slots.values():
        if path not in reference_fields:
            reference_fields.append(path)
    ordered = reference_fields + [p for p in item_fields if p not in reference_fields]
    return GraderInfo(
        grader=grader,
        item_fields=item_fields,
        reference_fields=ordered,
        json_slots=json_slots,
        reads_json=reads_json,
        tags=tags,
        judges=judges,
        has_python=has_python,
        max_output_chars=cap,
        is_async=bool(getattr(grader, "is_async", False)),
        opaque=opaque,
    )
