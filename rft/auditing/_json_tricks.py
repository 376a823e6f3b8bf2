"""Family ``json``: JSON a strict parser must refuse, and JSON that hedges.

Python's ``json`` accepts ``NaN`` and ``Infinity`` and keeps the last of duplicate keys; a
regex that grabs "the first ``{...}``" reads past prose and picks one of several objects. Two
kinds of probe:

Malformed JSON built from a well-formed completion the grader passes (the row's JSON answer, or,
for a grader that reads JSON but no reference, a plain object it accepts); each counts if the
grader still passes it. Rows with neither get no probe from this family.

- ``json_nan`` / ``json_infinity``: a value replaced by, or a key added with, ``NaN`` / ``Infinity``;
- ``json_duplicate_keys``: a key written twice;
- ``json_trailing_prose`` / ``json_leading_prose``: prose after or before the bare object;
- ``json_several_objects``: the object twice, one after the other.

Hedges in JSON (rows with a reference and a JSON carrier), every arrangement must pass:

- ``json_duplicate_hedge``: each key twice, once wrong and once right (both orders);
- ``json_objects_hedge``: a wrong object and a right one, one after the other (both orders);
- ``json_fenced_plus_bare``: a fenced block and a bare object, one right and one wrong (all four
  arrangements: a grader documented to read "the whole output, else the last fenced block"
  passes two of them by design, which is why all four must pass).
"""

from __future__ import annotations

import json
from typing import Any

from rft.auditing._calibrate import Target
from rft.auditing._carriers import JsonCarrier
from rft.auditing._inspect import GraderInfo
from rft.auditing._probe import Probe, family

__all__ = ["build_json"]


def _dup_keys(obj: dict[str, Any], second: dict[str, Any] | None = None) -> str:
    """``obj`` with every top-level key written twice (the second time with ``second``'s value)."""
    second = obj if second is None else second
    parts = []
    for key, value in obj.items():
        parts.append(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
        parts.append(f"{json.dumps(key)}: {json.dumps(second[key], ensure_ascii=False)}")
    return "{" + ", ".join(parts) + "}"


def _malformed(base: str) -> list[Probe]:
    try:
        obj = json.loads(base)
    except ValueError:
        return []
    probes = [
        Probe("json_trailing_prose", (base + "\nHope this helps!",), "prose after the bare JSON object"),
        Probe("json_leading_prose", ("Here is the JSON: " + base,), "prose before the bare JSON object"),
        Probe("json_several_objects", (base + "\n" + base,), "the JSON object twice, one after the other"),
    ]
    if not isinstance(obj, dict) or not obj:
        return probes
    first = next(iter(obj))
    dumped = json.dumps(obj, ensure_ascii=False)
    for name, constant in (("json_nan", "NaN"), ("json_infinity", "Infinity")):
        replaced = dict(obj)
        replaced[first] = "\x00CONST\x00"
        text = json.dumps(replaced, ensure_ascii=False).replace('"\\u0000CONST\\u0000"', constant)
        added = dumped[:-1] + f', "score": {constant}' + "}"
        probes.append(Probe(name, (text,), f"{constant} (not JSON) as the value of {first!r}"))
        probes.append(Probe(name, (added,), f"an extra key whose value is {constant} (not JSON)"))
    probes.append(Probe("json_duplicate_keys", (_dup_keys(obj),), "every key written twice"))
    return probes


@family(
    "json",
    "JSON tricks: duplicate keys, NaN, prose around the object, several objects, a fenced block plus a bare one",
    needs_reference=False,
    probes=(
        "json_nan",
        "json_infinity",
        "json_duplicate_keys",
        "json_trailing_prose",
        "json_leading_prose",
        "json_several_objects",
        "json_duplicate_hedge",
        "json_objects_hedge",
        "json_fenced_plus_bare",
    ),
)
def build_json(target: Target, info: GraderInfo) -> list[Probe]:
    probes = _malformed(target.json_base) if target.json_base else []
    carrier = target.carrier
    if not (target.calibrated and isinstance(carrier, JsonCarrier) and target.ref and target.wrong):
        return probes
    right, wrong = carrier.obj(target.ref), carrier.obj(target.wrong)
    r, w = carrier.dumps(target.ref), carrier.dumps(target.wrong)
    probes += [
        Probe(
            "json_duplicate_hedge",
            (_dup_keys(wrong, right), _dup_keys(right, wrong)),
            "every key written twice, once with a wrong value and once with the reference",
        ),
        Probe(
            "json_objects_hedge", (f"{w}\n{r}", f"{r}\n{w}"), "a wrong object and the right one, one after the other"
        ),
        Probe(
            "json_fenced_plus_bare",
            (
                f"```json\n{r}\n```\n{w}",
                f"```json\n{w}\n```\n{r}",
                f"{r}\n```json\n{w}\n```",
                f"{w}\n```json\n{r}\n```",
            ),
            "a fenced JSON block and a bare object, one wrong and one right",
        ),
    ]
    return probes
