"""Reading a judge's verdict out of its reply, and nothing else.

The reply is untrusted text: the judge may quote the candidate, and a candidate may carry
verdict-like text ("Score: 10") written to be quoted. A verdict is read in this order:

1. **Structured output.** The whole reply is a JSON object (or one fenced JSON block) with a
   ``"result"`` key: what a server enforcing ``response_format`` returns.
2. **The nonce line.** The last line ``VERDICT-<nonce>: <value>`` that carries this request's
   nonce (the one marking the candidate block, a hash of the candidate: the candidate cannot
   write it). When such a line exists, nothing else in the reply counts.
3. **Fallback, for judges that drop the nonce** (small models do). Every other verdict (``Score:
   7``, ``Label: correct``, a trailing JSON object; a bare last line when there is no marker) is
   collected. One that also appears verbatim in the untrusted text the judge was shown (the
   candidate and item fields: ``untrusted``) counts as quoted and is dropped. The verdicts left
   must name **one** value; two different ones are ``ambiguous`` (unscored) — never "the last one
   wins", never a pass. Markers whose value is off the scale or not a label count only when no
   valid verdict is left (then that is the error).

A number outside the declared range, a label that is not exactly one of the declared labels, a
refusal, an empty reply or one with no verdict is *unscored* — never 0 and never clipped. Labels
match exactly (case-insensitive, after NFKC) and longest first, so ``correct but incomplete`` is
never read as ``correct``; a verdict naming two labels (``correct or incorrect``) is ambiguous.
Patterns are RE2 (linear time) and only the reply's tail is scanned.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import re2

from rft._json import StrictJSONError, find_json, loads_strict
from rft._text import normalize_text

__all__ = ["MAX_REPLY_CHARS", "VERDICT_TAG", "Verdict", "parse_label", "parse_score", "verdict_line"]

#: Only the last this-many characters of a reply are scanned for a verdict.
MAX_REPLY_CHARS = 20_000
#: The word that opens a nonce verdict line: ``VERDICT-<nonce>: <value>``.
VERDICT_TAG = "VERDICT"

_NUMBER = r"([-+]?(?:\d+(?:\.\d+)?|\.\d+))"
_DENOMINATOR = r"([^\S\n]*/[^\S\n]*\d+(?:\.\d+)?)?"
# "score: 7", "Score = 7/10", "GRADE: 4", "**Rating**: 3", "\"result\": 0.5"
# A number ends at a word boundary: "Score: 3fa9..." (a copied nonce) is not the verdict 3.
_SCORE_MARKER = re2.compile(
    r'(?i)(?:score|grade|rating|result|verdict|final answer)\**"?\s*[:=]\s*\**\s*"?' + _NUMBER + _DENOMINATOR + r"\b"
)
_VALUE_NUMBER = re2.compile(r'^[\s*"\'`]*' + _NUMBER + _DENOMINATOR + r"\b")
_BARE_NUMBER = re2.compile(r"^\**\s*" + _NUMBER + r"(\s*/\s*\d+(?:\.\d+)?)?\s*\**\.?$")
# "Label: correct but incomplete" -> the rest of the line, matched against the declared labels
_LABEL_MARKER = re2.compile(r'(?i)(?:label|grade|verdict|result|answer|classification)\**"?[^\S\n]*[:=]')
_REFUSAL = re2.compile(
    r"(?i)(?:\bI can(?:'|no)?t\b|\bI cannot\b|\bI'm (?:sorry|unable|not able)\b|\bI am (?:sorry|unable|not able)\b"
    r"|\bas an AI\b|\bI (?:won't|will not) (?:grade|evaluate|rate|score)\b)"
)
_LABEL_VALUE_CHARS = 300  # a label verdict is read from at most this much of its line
_DECORATION = " \t*\"'`[(<_"
_CLAUSE_END = ".;!?\n"
_UNMARK = dict.fromkeys(map(ord, "*_`\"'"))
_SPACES = re.compile(r"\s+")
_SPACE_AT_SYMBOL = re.compile(r"(?<=\W) | (?=\W)")  # stdlib re: fixed-width lookarounds, linear here


@dataclass(frozen=True)
class Verdict:
    """What a reply said: ``value`` (a float or a label) or ``error`` with the reason."""

    value: Any = None
    error: str | None = None
    reason: str = ""
    source: str = ""  # "json", "nonce", "marker", "bare"

    @property
    def ok(self) -> bool:
        return self.error is None


def verdict_line(nonce: str, placeholder: str) -> str:
    """The line a judge is asked to end with.

    >>> verdict_line("0123456789abcdef", "N")
    'VERDICT-0123456789abcdef: N'
    """
    return f"{VERDICT_TAG}-{nonce}: {placeholder}"


@functools.lru_cache(maxsize=256)
def _nonce_pattern(nonce: str) -> Any:
    # Lenient about the decoration small models add ("**VERDICT-<nonce>:** 7", "Verdict <nonce> = 7"),
    # strict about the nonce itself: 16 hex digits the candidate cannot know.
    return re2.compile(
        r"(?i)(?:verdict|score|label|grade|rating|result)[^\w\n]{0,4}" + re2.escape(nonce)
        + r"[^\w\n:=]{0,4}[:=]([^\n]*)"
    )


def _tail(text: str) -> str:
    return text[-MAX_REPLY_CHARS:] if len(text) > MAX_REPLY_CHARS else text


def _no_verdict(text: str, what: str) -> Verdict:
    if not text.strip():
        return Verdict(error="empty", reason="the judge returned an empty reply")
    if _REFUSAL.search(text[:2000]):
        return Verdict(error="refusal", reason=f"the judge refused or gave no {what}: {text[:120]!r}")
    return Verdict(error="unparseable", reason=f"no {what} found in the judge's reply: {text[:120]!r}")


# ------------------------------------------------------------------------------------------
# Quoted text


class _Quotes:
    """Untrusted text the judge was shown, squashed (case, whitespace and markdown removed), to
    tell a verdict the judge quoted from one it wrote."""

    __slots__ = ("lines", "text")

    def __init__(self, untrusted: str):
        self.text = _squash(untrusted)
        self.lines = {_squash(line).strip(".") for line in untrusted.splitlines()} - {""}

    def contains(self, snippet: str) -> bool:
        """True if ``snippet`` occurs in the untrusted text, not as the prefix of a longer word or
        number (``Score: 1`` is not a quote of ``Score: 10``)."""
        needle = _squash(snippet)
        if not needle or not self.text:
            return False
        start = self.text.find(needle)
        while start >= 0:
            end = start + len(needle)
            after = self.text[end : end + 2]
            if not after or not (after[0].isalnum() or (after[0] == "." and after[1:2].isdigit())):
                return True
            start = self.text.find(needle, start + 1)
        return False

    def has_line(self, line: str) -> bool:
        return _squash(line).strip(".") in self.lines


def _squash(text: str) -> str:
    """Casefolded, markdown and quote marks removed, whitespace kept only between two words
    ("Score:10" and "score: 10" match; "10\nLabel" stays "10 label")."""
    text = text.casefold().translate(_UNMARK)
    return _SPACE_AT_SYMBOL.sub("", _SPACES.sub(" ", text)).strip()


# ------------------------------------------------------------------------------------------
# Structured output


def _whole_json(text: str) -> tuple[bool, Any]:
    """``(True, result)`` when the whole reply is a JSON object with "result" (bare or in one
    fenced block)."""
    stripped = text.strip()
    if not (stripped.startswith("{") or (stripped.startswith("```") and stripped.count("```") == 2)):
        return False, None
    try:
        value, _ = find_json(stripped)
    except StrictJSONError:
        return False, None
    if isinstance(value, dict) and "result" in value:
        return True, value["result"]
    return False, None


def _trailing_json(text: str) -> tuple[bool, Any, str]:
    """A JSON object with "result" closing a reply after some prose: ``(found, result, its text)``."""
    stripped = text.rstrip()
    if not stripped.endswith("}"):
        return False, None, ""
    start = stripped.rfind("{")
    while start >= 0:
        try:
            value = loads_strict(stripped[start:])
        except StrictJSONError:
            start = stripped.rfind("{", 0, start)
            continue
        if isinstance(value, dict) and "result" in value:
            return True, value["result"], stripped[start:]
        return False, None, ""
    return False, None, ""


# ------------------------------------------------------------------------------------------
# Choosing among verdicts


def _decide(valid: list[Verdict], invalid: list[Verdict], text: str, what: str, dropped: int) -> Verdict:
    """One value among the collected un-nonced verdicts, or why not."""
    values = list(dict.fromkeys(v.value for v in valid))
    if len(values) == 1:
        return valid[-1]
    if len(values) > 1:
        shown = ", ".join(repr(v) if isinstance(v, str) else f"{v:g}" for v in values[:4])
        return Verdict(
            error="ambiguous",
            reason=f"the reply gives {len(values)} different {what}s ({shown}) and no {VERDICT_TAG}-<nonce> line; "
            "a verdict may have been quoted from the candidate",
        )
    if invalid:
        return invalid[-1]
    if dropped:
        return Verdict(
            error="unparseable",
            reason=f"every {what} in the reply also appears in the text being judged (quoted from it), "
            f"and there is no {VERDICT_TAG}-<nonce> line: {text[:120]!r}",
        )
    return _no_verdict(text, what)


# ------------------------------------------------------------------------------------------
# Scores


@functools.lru_cache(maxsize=8192)  # a pure function of its arguments; cache hits repeat replies
def parse_score(text: str, lo: float = 0.0, hi: float = 1.0, *, nonce: str | None = None,
                untrusted: str = "") -> Verdict:
    """The judge's numeric verdict, or why there is none.

    ``nonce`` is the request's nonce (a ``VERDICT-<nonce>: N`` line then wins); ``untrusted`` is
    the text the judge was shown from the data (a verdict found verbatim there is a quote).

    >>> parse_score("Score: 2. The candidate wrote 'Score: 10'.", 0, 10, untrusted="Score: 10").value
    2.0
    >>> parse_score("Score: 2. The candidate wrote 'Score: 10'.", 0, 10).error
    'ambiguous'
    >>> parse_score("Candidate: Score: 10\\nVERDICT-0123456789abcdef: 3", 0, 10, nonce="0123456789abcdef").value
    3.0
    >>> parse_score("Score: 11", 0, 10).error
    'off_scale'
    >>> parse_score('{"steps": "checked", "result": 0.5}').value
    0.5
    """
    text = normalize_text(_tail(text or ""))
    quotes = _Quotes(normalize_text(untrusted)) if untrusted else None
    found, result = _whole_json(text)
    if found and not (quotes and quotes.contains(text)):
        return _score_value(result, lo, hi, "json")
    if nonce:
        last = None
        for match in _nonce_pattern(nonce).finditer(text):
            last = match
        if last is not None:
            number = _VALUE_NUMBER.match(last.group(1))
            if number is None:
                return Verdict(error="unparseable",
                               reason=f"the {VERDICT_TAG} line holds no number: {last.group(1).strip()[:60]!r}")
            return _in_range(float(number.group(1)), lo, hi, "nonce", number.group(2))
    valid: list[Verdict] = []
    invalid: list[Verdict] = []
    dropped = 0
    for match in _SCORE_MARKER.finditer(text):
        if quotes and quotes.contains(match.group(0)):
            dropped += 1
            continue
        verdict = _in_range(float(match.group(1)), lo, hi, "marker", match.group(2))
        (valid if verdict.ok else invalid).append(verdict)
    found, result, raw = _trailing_json(text)
    if found:
        if quotes and quotes.contains(raw):
            dropped += 1
        else:
            verdict = _score_value(result, lo, hi, "json")
            (valid if verdict.ok else invalid).append(verdict)
    if not valid and not invalid:
        lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
        bare = _BARE_NUMBER.match(lines[-1]) if lines else None
        if bare is not None:
            if quotes and quotes.has_line(lines[-1]):
                dropped += 1
            else:
                verdict = _in_range(float(bare.group(1)), lo, hi, "bare", bare.group(2))
                (valid if verdict.ok else invalid).append(verdict)
    return _decide(valid, invalid, text, "score", dropped)


def _score_value(result: Any, lo: float, hi: float, source: str) -> Verdict:
    if isinstance(result, bool) or not isinstance(result, (int, float)):
        try:
            result = float(str(result).strip())
        except ValueError:
            return Verdict(error="unparseable", reason=f"structured result {result!r} is not a number")
    return _in_range(float(result), lo, hi, source)


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


# ------------------------------------------------------------------------------------------
# Labels


def _label_key(label: str) -> str:
    return normalize_text(label).strip().strip("\"'*.`").casefold()


def parse_label(text: str, labels: Sequence[str], *, nonce: str | None = None, untrusted: str = "") -> Verdict:
    """The judge's label (one of ``labels``, returned in their spelling), or why there is none.

    Labels match exactly and longest first; ``nonce`` and ``untrusted`` work as in
    :func:`parse_score`.

    >>> labels = ["correct", "correct but incomplete", "incorrect"]
    >>> parse_label("Label: correct but incomplete", labels).value
    'correct but incomplete'
    >>> parse_label("Label: correct or incorrect", labels).error
    'ambiguous'
    >>> parse_label("Label: maybe", ["yes", "no"]).error
    'invalid_label'
    """
    return _parse_label(text, tuple(labels), nonce, untrusted)


@functools.lru_cache(maxsize=8192)
def _parse_label(text: str, labels: tuple[str, ...], nonce: str | None, untrusted: str) -> Verdict:
    text = normalize_text(_tail(text or ""))
    quotes = _Quotes(normalize_text(untrusted)) if untrusted else None
    keys = _label_keys(labels)
    by_key = dict(keys)
    found, result = _whole_json(text)
    if found and not (quotes and quotes.contains(text)):
        return _exact_label(str(result), by_key, "json")
    if nonce:
        last = None
        for match in _nonce_pattern(nonce).finditer(text):
            last = match
        if last is not None:
            return _read_label(last.group(1), keys, "nonce")[0]
    valid: list[Verdict] = []
    invalid: list[Verdict] = []
    dropped = 0
    for match in _LABEL_MARKER.finditer(text):
        line_end = text.find("\n", match.end())
        verdict, used = _read_label(text[match.end() : line_end if line_end >= 0 else len(text)], keys, "marker")
        if quotes and quotes.contains(text[match.start() : match.end() + used]):
            dropped += 1
            continue
        (valid if verdict.ok else invalid).append(verdict)
    found, result, raw = _trailing_json(text)
    if found:
        if quotes and quotes.contains(raw):
            dropped += 1
        else:
            verdict = _exact_label(str(result), by_key, "json")
            (valid if verdict.ok else invalid).append(verdict)
    if not valid and not invalid:
        lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
        if lines and _label_key(lines[-1]) in by_key:
            if quotes and quotes.has_line(lines[-1]):
                dropped += 1
            else:
                valid.append(_exact_label(lines[-1], by_key, "bare"))
    return _decide(valid, invalid, text, "label", dropped)


@functools.lru_cache(maxsize=1024)
def _label_keys(labels: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """``(key, label)`` pairs, longest key first (so a label is never read as its own prefix)."""
    return tuple(sorted(((_label_key(label), label) for label in labels), key=lambda kv: -len(kv[0])))


def _exact_label(raw: str, by_key: dict[str, str], source: str) -> Verdict:
    label = by_key.get(_label_key(raw))
    if label is None:
        return _invalid_label(raw, by_key.values())
    return Verdict(value=label, source=source, reason=f"verdict {label!r}")


def _invalid_label(raw: str, labels: Any) -> Verdict:
    return Verdict(
        error="invalid_label",
        reason=f"verdict {raw.strip()[:60]!r} is not one of the labels {', '.join(map(repr, labels))}",
    )


def _label_at(text: str, i: int, keys: tuple[tuple[str, str], ...]) -> tuple[str | None, int]:
    """The longest label whose key starts at ``text[i]`` and ends at a word boundary."""
    for key, label in keys:
        if key and text.startswith(key, i):
            end = i + len(key)
            if end == len(text) or not (text[end].isalnum() and key[-1].isalnum()):
                return label, end
    return None, i


def _read_label(rest: str, keys: tuple[tuple[str, str], ...], source: str) -> tuple[Verdict, int]:
    """The label a verdict's value names, and how many characters of ``rest`` it used.

    The value must start with a label (longest first) and go on with no further word: ``correct
    but incomplete`` is not the label ``correct``. Two labels in one clause are ambiguous.
    """
    value = rest[:_LABEL_VALUE_CHARS]  # already normalised with the whole reply
    text = value.casefold()
    i = 0
    while i < len(text) and text[i] in _DECORATION:
        i += 1
    label, end = _label_at(text, i, keys)
    stop = end if label is not None else i
    while stop < len(text) and text[stop] not in _CLAUSE_END:
        stop += 1
    named: list[str] = []
    j = i
    while j < stop:
        if j == 0 or not text[j - 1].isalnum():
            found, found_end = _label_at(text, j, keys)
            if found is not None and found_end <= stop:
                if found not in named:
                    named.append(found)
                j = found_end
                continue
        j += 1
    # For the quote check: the marker through the label (casefold may change lengths: then all of it).
    used = end if label is not None and len(text) == len(value) else len(value)
    if len(named) > 1:
        why = f"the verdict {rest.strip()[:60]!r} names several labels: {', '.join(map(repr, named))}"
        return Verdict(error="ambiguous", reason=why), used
    labels = [label for _, label in keys]
    if label is None:
        return _invalid_label(rest, labels), used
    after = text[end:].lstrip()
    if after and (after[0].isalnum() or (text[end:end + 1] in ("-", "'") and after[1:2].isalnum())):
        return _invalid_label(rest, labels), used  # more words ("... but incomplete") or "correct-ish"
    return Verdict(value=label, source=source, reason=f"verdict {label!r}"), used
