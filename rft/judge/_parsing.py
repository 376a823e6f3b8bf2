"""Reading a judge's verdict out of its reply, and nothing else.

The reply is untrusted text (the judge may have been talked into echoing the candidate), so:
structured output (``{"result": ..., "steps": ...}``) is preferred; otherwise the **last**
verdict marker in the text counts; a number outside the declared range, a label outside the
declared labels, a refusal, an empty reply or one with no verdict is *unscored* — never 0 and
never clipped. Patterns are RE2 (linear time) and the reply is capped before any scan.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import re2

from rft._json import StrictJSONError, find_json, loads_strict
from rft._text import normalize_text

__all__ = ["MAX_REPLY_CHARS", "Verdict", "parse_label", "parse_score"]

#: Only the last this-many characters of a reply are scanned for a verdict.
MAX_REPLY_CHARS = 20_000

_NUMBER = r"([-+]?(?:\d+(?:\.\d+)?|\.\d+))"
# "score: 7", "Score = 7/10", "GRADE: 4", "**Rating**: 3", "\"result\": 0.5"
_SCORE_MARKER = re2.compile(
    r'(?i)(?:score|grade|rating|result|verdict|final answer)\**"?\s*[:=]\s*\**\s*"?' + _NUMBER + r"(\s*/\s*\d+(?:\.\d+)?)?"
)
_BARE_NUMBER = re2.compile(r"^\**\s*" + _NUMBER + r"(\s*/\s*\d+(?:\.\d+)?)?\s*\**\.?$")
_LABEL_MARKER = re2.compile(
    r'(?i)(?:label|grade|verdict|result|answer|classification)\**"?\s*[:=]\s*\**\s*"?([^\s"*.,;!]+)'
)
_REFUSAL = re2.compile(
    r"(?i)(?:\bI can(?:'|no)?t\b|\bI cannot\b|\bI'm (?:sorry|unable|not able)\b|\bI am (?:sorry|unable|not able)\b"
    r"|\bas an AI\b|\bI (?:won't|will not) (?:grade|evaluate|rate|score)\b)"
)


@dataclass(frozen=True)
class Verdict:
    """What a reply said: ``value`` (a float or a label) or ``error`` with the reason."""

    value: Any = None
    error: str | None = None
    reason: str = ""
    source: str = ""  # "json", "marker", "bare"

    @property
    def ok(self) -> bool:
        return self.error is None


def _tail(text: str) -> str:
    return text[-MAX_REPLY_CHARS:] if len(text) > MAX_REPLY_CHARS else text


def _no_verdict(text: str, what: str) -> Verdict:
    if not text.strip():
        return Verdict(error="empty", reason="the judge returned an empty reply")
    if _REFUSAL.search(text[:2000]):
        return Verdict(error="refusal", reason=f"the judge refused or gave no {what}: {text[:120]!r}")
    return Verdict(error="unparseable", reason=f"no {what} found in the judge's reply: {text[:120]!r}")


def _structured(text: str) -> tuple[bool, Any]:
    """``(True, result)`` when the reply is (or ends in a fenced block of) a JSON object with "result"."""
    stripped = text.strip()
    if not stripped.endswith(("}", "```")):
        return False, None
    try:
        value, _ = find_json(stripped)
    except StrictJSONError:
        # A trailing object after some prose: try the last "{" that parses.
        start = stripped.rfind("{")
        if start < 0:
            return False, None
        try:
            value = loads_strict(stripped[start:])
        except StrictJSONError:
            return False, None
    if isinstance(value, dict) and "result" in value:
        return True, value["result"]
    return False, None


@functools.lru_cache(maxsize=8192)  # a pure function of its arguments; cache hits repeat replies
def parse_score(text: str, lo: float = 0.0, hi: float = 1.0) -> Verdict:
    """The judge's numeric verdict, or why there is none.

    >>> parse_score("The answer says score: 10, but it is wrong. Score: 0", 0, 10).value
    0.0
    >>> parse_score("Score: 11", 0, 10).error
    'off_scale'
    >>> parse_score('{"steps": "checked", "result": 0.5}').value
    0.5
    """
    text = normalize_text(_tail(text or ""))
    found, result = _structured(text)
    if found:
        if isinstance(result, bool) or not isinstance(result, (int, float)):
            try:
                result = float(str(result).strip())
            except ValueError:
                return Verdict(error="unparseable", reason=f"structured result {result!r} is not a number")
        return _in_range(float(result), lo, hi, "json")
    last = None
    for match in _SCORE_MARKER.finditer(text):
        last = match
    if last is not None:
        return _in_range(_to_float(last.group(1)), lo, hi, "marker", last.group(2))
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if lines:
        bare = _BARE_NUMBER.match(lines[-1])
        if bare is not None:
            return _in_range(_to_float(bare.group(1)), lo, hi, "bare", bare.group(2))
    return _no_verdict(text, "score")


def _to_float(token: str) -> float:
    return float(token)


def _in_range(value: float, lo: float, hi: float, source: str, denominator: str | None = None) -> Verdict:
    if not math.isfinite(value):
        return Verdict(error="unparseable", reason=f"verdict {value!r} is not a finite number")
    if denominator:
        den = float(denominator.strip().lstrip("/").strip())
        if den != hi:
            return Verdict(
                error="off_scale", reason=f"verdict {value:g}/{den:g} is on another scale than [{lo:g}, {hi:g}]"
            )
    if not (lo <= value <= hi):
        return Verdict(error="off_scale", reason=f"verdict {value:g} is outside the range [{lo:g}, {hi:g}]")
    return Verdict(value=value, source=source, reason=f"verdict {value:g} in [{lo:g}, {hi:g}]")


def _label_key(label: str) -> str:
    return normalize_text(label).strip().strip("\"'*.`").casefold()


def parse_label(text: str, labels: Sequence[str]) -> Verdict:
    """The judge's label (one of ``labels``, returned in their spelling), or why there is none.

    >>> parse_label("Candidate says GRADE: correct. My verdict: incorrect", ["correct", "incorrect"]).value
    'incorrect'
    >>> parse_label("Label: maybe", ["yes", "no"]).error
    'invalid_label'
    """
    return _parse_label(text, tuple(labels))


@functools.lru_cache(maxsize=8192)
def _parse_label(text: str, labels: tuple[str, ...]) -> Verdict:
    text = normalize_text(_tail(text or ""))
    by_key = {_label_key(label): label for label in labels}
    found, result = _structured(text)
    if found:
        return _known_label(str(result), by_key, "json")
    last = None
    for match in _LABEL_MARKER.finditer(text):
        last = match
    if last is not None:
        return _known_label(last.group(1), by_key, "marker")
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if lines and _label_key(lines[-1]) in by_key:
        return _known_label(lines[-1], by_key, "bare")
    return _no_verdict(text, "label")


def _known_label(raw: str, by_key: dict[str, str], source: str) -> Verdict:
    label = by_key.get(_label_key(raw))
    if label is None:
        return Verdict(
            error="invalid_label",
            reason=f"verdict {raw[:60]!r} is not one of the labels {', '.join(map(repr, by_key.values()))}",
        )
    return Verdict(value=label, source=source, reason=f"verdict {label!r}")
