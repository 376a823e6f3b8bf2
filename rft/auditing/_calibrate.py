"""Calibration: for each row, an honest right answer the grader passes and honest wrong ones it fails.

Probes are only meaningful against a baseline. For every row the audit looks for

- the **reference**: a value of an item field the grader reads (as written, or what follows the
  last ``####``, the last ``\\boxed{}``, the last ``<answer>`` or the last number in it), written
  in a **carrier** (:mod:`rft.auditing._carriers`). The first carrier and value the grader passes
  win, shortest value first, so GSM8K's "... #### 72" calibrates to ``#### 72``;
- honest **wrong** answers in the same carrier: numbers off by a little, other rows' references,
  letter-shifted text. The first one the grader fails is *the* wrong answer; a few more are kept
  as decoys.

A row where no honest answer passes, or where every wrong answer passes too, has no usable
reference: the grader does not (or cannot here) check correctness, so only the probes that need
no reference run on it, and the report says so. A grader without a ``pass_threshold`` whose best
honest answer stays under its default threshold is calibrated in *graded* mode: a probe then
counts when it scores above the row's honest wrong answer.

Everything is graded with ``grade_batch``: two batches for all rows (three for graders that read JSON).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from rft._extract import extract_answer
from rft._grade import Grade
from rft.auditing._carriers import Answer, Carrier, JsonCarrier, TextCarrier, text_carriers
from rft.auditing._inspect import GraderInfo

__all__ = ["Target", "as_number", "calibrate", "format_number"]

#: Extractions tried on a reference value, beside the value as written.
_EXTRACTIONS = ("hash", "boxed", "answer_tags", "last_number")
#: Honest wrong answers tried per row.
_WRONGS = 6
#: Decoys kept per row (wrong answers beside the one used as *the* wrong answer).
_DECOYS = 3
#: Reference-free rows get a well-formed JSON object to malform, when the grader reads JSON.
_JSON_BASES = ('{"answer": "Paris"}', '{"name": "Ada Lovelace", "value": 1}', "[1, 2, 3]")


@dataclasses.dataclass
class Target:
    """One row as the probes see it."""

    index: int
    item_id: Any
    item: Mapping[str, Any]
    mode: str = "reference-free"  # "pass": probes must pass; "graded": beat the honest wrong score
    carrier: Carrier | None = None
    ref: Answer | None = None
    wrong: Answer | None = None
    decoys: list[Answer] = dataclasses.field(default_factory=list)
    correct_score: float | None = None
    wrong_score: float | None = None
    json_base: str | None = None  # a well-formed JSON completion the grader passes
    note: str = ""

    @property
    def calibrated(self) -> bool:
        return self.mode != "reference-free"

    def wrap(self, answer: Answer, reasoning: str | None = None) -> str:
        assert self.carrier is not None
        return self.carrier.wrap(answer, reasoning)


# ------------------------------------------------------------------------------------------
# Numbers and text


def as_number(text: str) -> Decimal | None:
    """``text`` as a plain decimal number (``42``, ``-3.5``, ``1,000``), else None.

    >>> as_number("1,000"), as_number("x1")
    (Decimal('1000'), None)
    """
    t = text.strip().replace(",", "")
    if not t or len(t) > 40 or not all(c in "0123456789.-+" for c in t):
        return None
    try:
        value = Decimal(t)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def format_number(value: Decimal, like: str) -> str:
    """``value`` written with as many decimals as ``like`` has.

    >>> format_number(Decimal("43"), "42"), format_number(Decimal("1.5"), "0.5")
    ('43', '1.5')
    """
    decimals = len(like.split(".")[1]) if "." in like else 0
    return f"{value:.{decimals}f}"


def _shift(text: str) -> str:
    """Every letter moved one along the alphabet, every digit one up: same shape, other value."""
    out = []
    for c in text:
        if "a" <= c <= "y" or "A" <= c <= "Y" or "0" <= c <= "8":
            out.append(chr(ord(c) + 1))
        elif c in "zZ9":
            out.append({"z": "a", "Z": "A", "9": "0"}[c])
        else:
            out.append(c)
    return "".join(out)


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def wrong_texts(ref: str, others: Sequence[str]) -> list[str]:
    """Honest wrong answers for ``ref``: near numbers, other rows' references, shifted text.

    >>> wrong_texts("42", ["7"])[:3]
    ['43', '41', '49']
    >>> wrong_texts("Paris", ["Rome", "paris"])
    ['Rome', 'Qbsjt', 'sirap', 'none of these']
    """
    out: list[str] = []
    number = as_number(ref)
    if number is not None:
        for delta in (1, -1, 7, 100):
            out.append(format_number(number + delta, ref.strip()))
    for other in others:
        if other and not _same(other, ref) and other not in out and len(out) < _WRONGS:
            out.append(other)
    if number is None:
        for candidate in (_shift(ref), ref[::-1].lower(), "none of these"):
            if candidate and not _same(candidate, ref) and candidate not in out:
                out.append(candidate)
    return out[:_WRONGS]


# ------------------------------------------------------------------------------------------
# Reference values


def _walk(item: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if isinstance(item, Mapping) and key in item:
            item = item[key]
        else:
            return None
    return item


def reference_texts(value: Any) -> list[tuple[str, str]]:
    """``(how, text)`` pairs to try as the honest answer for an item value, shortest first.

    >>> reference_texts("Natalia sold 48 + 24 = 72 clips.\\n#### 72")
    [('hash', '72'), ('raw', 'Natalia sold 48 + 24 = 72 clips.\\n#### 72')]
    """
    if value is None or isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [("raw", repr(value) if isinstance(value, float) else str(value))]
    if isinstance(value, (Mapping, list)):
        return [("raw", json.dumps(value, ensure_ascii=False))]
    if not isinstance(value, str) or not value.strip():
        return []
    raw = value.strip()
    found: list[tuple[str, str]] = [("raw", raw)]
    for method in _EXTRACTIONS:
        try:
            text = extract_answer(raw, method)
        except Exception:  # an extraction that cannot run on this value: skip it
            text = None
        if text and text.strip() and all(text != t for _, t in found):
            found.append((method, text.strip()))
    return sorted(found, key=lambda pair: len(pair[1]))


def _extract_like(how: str, value: Any) -> str | None:
    for method, text in reference_texts(value):
        if method == how:
            return text
    return None


# ------------------------------------------------------------------------------------------
# Calibration


@dataclasses.dataclass
class _Try:
    row: int
    carrier: Carrier
    answer: dict[str, str]
    how: dict[str, tuple[tuple[str, ...], str]]  # slot -> (item path, extraction)
    text: str


#: Row fields never taken for a reference when guessing (an opaque grader's rows).
_NOT_REFERENCES = frozenset({"id", "prompt", "messages", "split", "question", "input", "text", "schema"})
#: Row fields tried first when guessing.
_LIKELY_REFERENCES = ("answer", "reference", "expected", "target", "solution", "label", "output", "gold")


def _reference_fields(info: GraderInfo, item: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """The item paths whose values may be the reference: those the grader's templates compare,
    else (for a grader whose code the audit cannot read) the row's likely fields."""
    if info.reference_fields or not info.opaque:
        return info.reference_fields
    keys = [k for k in item if isinstance(k, str) and k not in _NOT_REFERENCES]
    keys.sort(key=lambda k: _LIKELY_REFERENCES.index(k) if k in _LIKELY_REFERENCES else len(_LIKELY_REFERENCES))
    return [(k,) for k in keys]


def _honest_tries(info: GraderInfo, row: int, item: Mapping[str, Any]) -> list[_Try]:
    tries: list[_Try] = []
    if info.json_slots:
        slots = tuple(info.json_slots)
        per_slot = {s: reference_texts(_walk(item, p)) for s, p in info.json_slots.items()}
        if all(per_slot.values()):
            for pick in (0, -1):  # shortest reading of every slot, then the longest
                slot_answer = {s: per_slot[s][pick][1] for s in slots}
                slot_how = {s: (info.json_slots[s], per_slot[s][pick][0]) for s in slots}
                for typed in (False, True):
                    json_carrier = JsonCarrier(slots, typed=typed, name="json_typed" if typed else "json")
                    tries.append(_Try(row, json_carrier, slot_answer, slot_how, json_carrier.wrap(slot_answer)))
    # Every try of a judge is a model call: two readings of two fields; a lone judge reads free text, so
    # only the plain carrier (a composite may check a format beside the judge, so it gets them all).
    lone_judge = info.costly and not info.grader.children()
    carriers = [TextCarrier("plain", "{pre}", "{answer}")] if lone_judge else text_carriers(info.tags)
    fields = _reference_fields(info, item)
    for path in fields[:2] if info.costly else fields:
        texts = reference_texts(_walk(item, path))
        if info.costly:
            texts = texts[:2]
        for how, text in texts:
            for c in carriers:
                slot = "answer" if isinstance(c, JsonCarrier) else ""
                answer = {slot: text}
                tries.append(_Try(row, c, answer, {slot: (path, how)}, c.wrap(answer)))
    return tries


def _passes(grade: Grade) -> bool:
    return grade.score is not None and grade.passed is True


def calibrate(info: GraderInfo, rows: Sequence[Mapping[str, Any]], ids: Sequence[Any]) -> list[Target]:
    """A :class:`Target` per row, with the reference, carrier and wrong answers where found."""
    grader = info.grader
    targets = [Target(i, ids[i], rows[i]) for i in range(len(rows))]
    tries: list[_Try] = []
    for i, item in enumerate(rows):
        tries.extend(_honest_tries(info, i, item))
    grades = grader.grade_batch([t.text for t in tries], [rows[t.row] for t in tries]) if tries else []
    chosen: dict[int, tuple[_Try, Grade]] = {}
    best: dict[int, tuple[_Try, Grade]] = {}
    best_score: dict[int, float] = {}
    for t, g in zip(tries, grades, strict=True):
        if t.row not in chosen and _passes(g):
            chosen[t.row] = (t, g)
        if g.score is not None and g.score > best_score.get(t.row, 0.0):
            best[t.row], best_score[t.row] = (t, g), g.score
    graded = grader.pass_threshold is None
    picks: dict[int, tuple[_Try, Grade, str]] = {}
    for i in range(len(rows)):
        if i in chosen:
            picks[i] = (*chosen[i], "pass")
        elif graded and i in best:
            picks[i] = (*best[i], "graded")
        elif not _reference_fields(info, rows[i]):
            targets[i].note = "the grader reads no item field: it checks form, not correctness"
        else:
            targets[i].note = "no honest answer written in any known shape passes the grader"
    _find_wrongs(info, rows, targets, picks)
    _find_json_bases(info, rows, targets)
    return targets


def _find_wrongs(
    info: GraderInfo,
    rows: Sequence[Mapping[str, Any]],
    targets: list[Target],
    picks: dict[int, tuple[_Try, Grade, str]],
) -> None:
    grader = info.grader
    plans: list[tuple[int, dict[str, str]]] = []
    for i, (t, _, _) in picks.items():
        per_slot: dict[str, list[str]] = {}
        for slot, text in t.answer.items():
            path, how = t.how[slot]
            others: list[str] = []
            for j, other in enumerate(rows):
                if j != i and len(others) < 3:
                    value = _walk(other, path)
                    extracted = _extract_like(how, value) if value is not None else None
                    if extracted:
                        others.append(extracted)
            per_slot[slot] = (
                wrong_texts(text, others) if as_number(text) is not None or not text.startswith(("{", "[")) else []
            )
        if not all(per_slot.values()):
            targets[i].note = "the reference is a JSON value, not an answer: correctness probes need text or numbers"
            continue
        for k in range(_WRONGS):
            plans.append((i, {s: w[k % len(w)] for s, w in per_slot.items()}))
    texts = [picks[i][0].carrier.wrap(a) for i, a in plans]
    grades = grader.grade_batch(texts, [rows[i] for i, _ in plans]) if plans else []
    wrongs: dict[int, list[tuple[dict[str, str], Grade]]] = {}
    for (i, answer), g in zip(plans, grades, strict=True):
        t, right, mode = picks[i]
        assert right.score is not None
        fails = g.score is not None and (g.score < right.score if mode == "graded" else not g.passed)
        if fails and all(answer != a for a, _ in wrongs.get(i, [])):
            wrongs.setdefault(i, []).append((answer, g))
    for i, (t, right, mode) in picks.items():
        target = targets[i]
        found = wrongs.get(i)
        if not found and target.note:
            continue
        if not found:
            target.note = "every honest wrong answer tried passes too: the grader does not check this reference"
            continue
        target.mode = mode
        target.carrier = t.carrier
        target.ref = t.answer
        target.correct_score = right.score
        target.wrong, g = found[0]
        target.wrong_score = g.score
        target.decoys = [a for a, _ in found[1 : 1 + _DECOYS]]


_FORMAT_VALUES = {
    "email": "ada@example.com",
    "date": "2024-01-31",
    "date-time": "2024-01-31T12:00:00Z",
    "uri": "https://example.com/",
    "uuid": "123e4567-e89b-12d3-a456-426614174000",
}


def instance_of(schema: Any, row: Mapping[str, Any] | None = None, depth: int = 0) -> Any:
    """A small value valid under a simple JSON Schema (``const``, ``enum``, ``type``, ``properties``,
    ``format``), taking same-named row values for properties when their type fits.

    >>> instance_of({"type": "object", "required": ["name", "email"],
    ...              "properties": {"name": {"type": "string"}, "email": {"type": "string", "format": "email"}}},
    ...             {"name": "Ada Lovelace"})
    {'name': 'Ada Lovelace', 'email': 'ada@example.com'}
    """
    if not isinstance(schema, Mapping) or depth > 5:
        return {}
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    kind = schema.get("type", "object" if "properties" in schema else None)
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind == "object":
        out = {}
        for key, sub in (schema.get("properties") or {}).items():
            given = row.get(key) if row is not None else None
            value = instance_of(sub, None, depth + 1)
            out[key] = given if given is not None and type(given) is type(value) else value
        return out
    if kind == "array":
        return []
    if kind == "string":
        return _FORMAT_VALUES.get(str(schema.get("format")), "x" * max(1, int(schema.get("minLength", 1) or 1)))
    if kind in ("integer", "number"):
        low = schema.get("minimum", 1)
        return low if isinstance(low, int) and kind == "integer" else (float(low) if kind == "number" else 1)
    if kind == "boolean":
        return True
    return None if kind == "null" else {}


def _schema_bases(item: Mapping[str, Any]) -> list[str]:
    """Instances of any schema-like value of the row (a dict, or JSON text, with a type or properties)."""
    out = []
    for value in item.values():
        if isinstance(value, str) and value.strip().startswith("{"):
            try:
                value = json.loads(value)
            except ValueError:
                continue
        if isinstance(value, Mapping) and ("properties" in value or "type" in value):
            out.append(json.dumps(instance_of(value, item), ensure_ascii=False))
    return out


def _find_json_bases(info: GraderInfo, rows: Sequence[Mapping[str, Any]], targets: list[Target]) -> None:
    plans: list[tuple[int, str]] = []
    for t in targets:
        if t.carrier is not None and t.carrier.is_json and t.ref is not None:
            t.json_base = t.carrier.wrap(t.ref)
        elif info.reads_json or info.opaque:
            plans.extend((t.index, base) for base in [*_schema_bases(t.item), *_JSON_BASES])
    if not plans:
        return
    grades = info.grader.grade_batch([b for _, b in plans], [rows[i] for i, _ in plans])
    for (i, base), g in zip(plans, grades, strict=True):
        if targets[i].json_base is None and _passes(g):
            targets[i].json_base = base
