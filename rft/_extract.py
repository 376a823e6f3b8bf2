"""Answer extraction: the one answer a completion gives, found before it is compared.

Every method takes the **last** occurrence of its marker and never falls back to an earlier
one: a completion that writes several answers is judged on its final word, never on "any of
several candidates". When the last marker is malformed (an unbalanced ``\\boxed{``) there is no
answer, and the caller scores 0 with the reason "no answer found".

Methods (the config spelling is a name, or a one-key mapping ``{name: argument}``):

===============  ============================================================================
``answer_tags``  text inside the last ``<answer>`` tag, up to its ``</answer>`` (or the end of
                 the text when the last tag is never closed); ``{"answer_tags": "final"}``
                 reads ``<final>...</final>`` instead
``boxed``        content of the last ``\\boxed{...}`` or ``\\fbox{...}``, braces balanced
                 (``\\{`` and ``\\}`` are literal), or the token after ``\\boxed`` + space
``hash``         text after the last ``####`` up to the end of that line (GSM8K style)
``last_number``  the last number: sign, thousands commas (``1,000``), decimals and an
                 exponent kept as written; a ``-`` right after a letter or digit is a hyphen
                 or minus operator (``3-5``, ``x-1``), not a sign
``regex``        ``{"regex": "Answer: (\\\\d+)"}``: the last match of the pattern (RE2 syntax,
                 linear time); its first group that took part in the match, else the whole
                 match. Inline flags such as ``(?i)`` work. RE2's ``\\w \\d \\s \\b``
                 are ASCII-only: write ``\\pL`` for any letter, ``\\pN`` for any digit.
                 The walk to the last match stops after :data:`LAST_MATCH_BUDGET_S`
                 (:class:`ExtractionTimeout`; graders leave the row unscored).
===============  ============================================================================

``strip_think=True`` first removes ``<think>...</think>`` blocks, an unclosed trailing
``<think>...`` and everything before an unopened ``</think>`` (chat templates that put
``<think>`` in the prompt), so markers written while thinking do not count.

Extracted answers have outer whitespace stripped. Everything here is linear in the text:
``str.find``/``str.rfind`` scans, RE2 for user patterns, and stdlib ``re`` only for two fixed
patterns whose every match attempt either fails after a constant number of steps or consumes
what it read (argued beside each pattern).

>>> extract_answer("<answer>41</answer> no wait, <answer>42</answer>", "answer_tags")
'42'
>>> extract_answer("so x = -1,250.5 in total", "last_number")
'-1,250.5'
>>> extract_answer("<think>\\\\boxed{41}</think> \\\\boxed{\\\\frac{1}{2}}", "boxed", strip_think=True)
'\\\\frac{1}{2}'
>>> extract_answer("nothing to see", "boxed") is None
True
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import re2
import regex

from rft._errors import ConfigError

__all__ = [
    "EXTRACT_METHODS",
    "LAST_MATCH_BUDGET_S",
    "ExtractionTimeout",
    "Extractor",
    "compile_re2",
    "extract_answer",
    "last_number",
    "last_re2_match",
    "strip_think",
]

#: Method name -> whether it takes an argument (``True`` = required, ``None`` = optional).
EXTRACT_METHODS: dict[str, bool | None] = {
    "answer_tags": None,
    "boxed": False,
    "hash": False,
    "last_number": False,
    "regex": True,
}

_THINK_OPEN = "<think>"
_THINK_CLOSE = "</think>"


def strip_think(text: str) -> str:
    """``text`` without its reasoning: ``<think>...</think>`` blocks, an unclosed trailing
    ``<think>...``, and everything before a ``</think>`` that was never opened.

    >>> strip_think("<think>maybe 41</think>The answer is 42")
    'The answer is 42'
    >>> strip_think("thinking without an opening tag</think>42")
    '42'
    >>> strip_think("42<think>but maybe 43")
    '42'
    """
    if _THINK_OPEN not in text and _THINK_CLOSE not in text:
        return text
    kept: list[str] = []
    pos = 0
    # Cached next positions: each tag is searched for again only once `pos` has passed it, so
    # the whole loop reads the text a bounded number of times (no quadratic re-scanning).
    next_open = text.find(_THINK_OPEN)
    next_close = text.find(_THINK_CLOSE)
    while True:
        if next_open != -1 and next_open < pos:
            next_open = text.find(_THINK_OPEN, pos)
        if next_close != -1 and next_close < pos:
            next_close = text.find(_THINK_CLOSE, pos)
        if next_close != -1 and (next_open == -1 or next_close < next_open):
            kept = []  # an unopened </think>: all text so far was reasoning
            pos = next_close + len(_THINK_CLOSE)
            continue
        if next_open == -1:
            kept.append(text[pos:])
            break
        kept.append(text[pos:next_open])
        if next_close == -1:
            break  # unclosed <think>: the rest is reasoning
        pos = next_close + len(_THINK_CLOSE)
    return "".join(kept)


_strip_think = strip_think  # for functions whose `strip_think` argument shadows the name


def _answer_tags(tag: str) -> Callable[[str], str | None]:
    opening, closing, skip = f"<{tag}>", f"</{tag}>", len(tag) + 2

    def answer_tags(text: str) -> str | None:
        start = text.rfind(opening)
        if start < 0:
            return None
        start += skip
        end = text.find(closing, start)
        return (text[start:] if end < 0 else text[start:end]).strip()

    return answer_tags


# One character class, no quantifier: matches are single characters, trivially linear.
_BRACE_OR_ESCAPE = re.compile(r"[{}\\]")


def _boxed(text: str) -> str | None:
    # Hand-written because balanced braces are beyond any regular expression (RE2 included).
    start, marker = max((text.rfind(m), m) for m in ("\\boxed", "\\fbox"))
    if start < 0:
        return None
    i = start + len(marker)
    n = len(text)
    if i < n and text[i] not in "{ \t":
        return None  # \boxedfoo is another macro
    j = i
    while j < n and text[j] in " \t":
        j += 1
    if j >= n:
        return None
    if text[j] != "{":
        if j == i:
            return None
        end = j
        while end < n and not text[end].isspace() and text[end] != "$":
            end += 1
        return text[j:end].strip()  # "\boxed 5"
    depth = 0
    skip_to = -1
    for m in _BRACE_OR_ESCAPE.finditer(text, j):
        k = m.start()
        if k < skip_to:
            continue
        c = text[k]
        if c == "\\":
            skip_to = k + 2  # \{ \} \\ are not structure
        elif c == "{":
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return text[j + 1 : k].strip()
    return None  # unbalanced: the last box is broken, and no earlier one counts


def _hash(text: str) -> str | None:
    start = text.rfind("####")
    if start < 0:
        return None
    start += 4
    end = text.find("\n", start)
    return (text[start:] if end < 0 else text[start:end]).strip()


# Linear: a match attempt fails in O(1) unless it starts at a digit, sign or dot; from a digit it
# always succeeds (`\d\d*`), consuming what it read, and everything after the integer part is
# optional, so nothing is backtracked over more than a constant distance. Every branch opens
# with a required character class, which lets `re` skip non-candidate positions in C.
_INT = r"\d(?:\d{0,2}(?:,\d{3})+|\d*)"  # 1,000,000 or 1000000
_EXP = r"(?:[eE][-+]?\d+)?"
_NUMBER = re.compile(
    rf"[-+\u2212](?:{_INT}(?:\.\d+)?|\.\d+){_EXP}|{_INT}(?:\.\d+)?{_EXP}|\.\d+{_EXP}",
    re.ASCII,
)


def last_number(text: str) -> str | None:
    """The last number in ``text`` as written, or None.

    >>> last_number("between 3-5 apples, so 1,000")
    '1,000'
    >>> last_number("pages 3-5")
    '5'
    >>> last_number("x = -7")
    '-7'
    """
    last = None
    for last in _NUMBER.finditer(text):  # noqa: B007 (the loop keeps the last match)
        pass
    if last is None:
        return None
    found = last.group()
    start = last.start()
    if found[0] in "-+\u2212" and start > 0 and text[start - 1].isalnum():
        found = found[1:]  # "3-5", "x-1": an operator or hyphen, not a sign
    return found


_RE2_OPTIONS: Any = None


def compile_re2(pattern: str, field: str = "pattern") -> Any:
    """Compile ``pattern`` with RE2 (linear-time matching); a bad pattern is a :class:`ConfigError`.

    The error says whether the pattern is invalid or only beyond RE2 (backreferences,
    lookaround), and what to do.
    """
    global _RE2_OPTIONS
    if not isinstance(pattern, str):
        raise ConfigError(f"expected a regular expression string, got {type(pattern).__name__} {pattern!r}", field)
    if _RE2_OPTIONS is None:
        options = re2.Options()
        options.log_errors = False  # the error is raised as a ConfigError; keep stderr clean
        _RE2_OPTIONS = options
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        try:
            regex.compile(pattern)
        except regex.error as exc2:
            raise ConfigError(f"invalid regular expression {pattern!r}: {exc2}", field) from None
        raise ConfigError(
            f"RE2 cannot compile {pattern!r} ({reason}); RE2 has no backreferences or lookaround. "
            "Rewrite the pattern, or for the regex grader set engine: python (backtracking, run with a timeout)",
            field,
        ) from None


#: Seconds a search for the *last* RE2 match may take. Each RE2 search is linear, but walking all
#: matches of a pattern whose failed attempts run far (``a*b|a`` on "aaaa...") re-reads the text
#: once per match: quadratic. Past this budget the row is unscored (``error: timeout``).
LAST_MATCH_BUDGET_S = 2.0


class ExtractionTimeout(TimeoutError):
    """The search for the last match ran past :data:`LAST_MATCH_BUDGET_S`."""


def last_re2_match(compiled: Any, text: str) -> Any:
    """The last non-overlapping match of an RE2 pattern in ``text`` (matched as UTF-8 bytes), or None.

    Raises :class:`ExtractionTimeout` past :data:`LAST_MATCH_BUDGET_S`.
    """
    # Matching bytes skips the wrapper's per-match character-offset bookkeeping; RE2 matches
    # whole UTF-8 code points, so every group decodes cleanly.
    deadline = time.monotonic() + LAST_MATCH_BUDGET_S
    last = None
    for last in compiled.finditer(text.encode("utf-8", "surrogatepass")):  # noqa: B007 (keeps the last match)
        if time.monotonic() > deadline:
            raise ExtractionTimeout(
                f"looking for the last match of {compiled.pattern!r} took over {LAST_MATCH_BUDGET_S} s "
                "(the pattern re-reads the text for every match); anchor it or make its branches end sooner"
            )
    return last


def _last_match(compiled: Any, text: str) -> str | None:
    last = last_re2_match(compiled, text)
    if last is None:
        return None
    return _group_text(last, compiled.groups)


def _group_text(match: Any, groups: int, strip: bool = True) -> str:
    """The first group that took part in ``match``, else the whole match, as text."""
    value = None
    for g in range(1, groups + 1):
        value = match.group(g)
        if value is not None:
            break
    if value is None:
        value = match.group(0)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value.strip() if strip else value


class Extractor:
    """A compiled extraction spec: call it on a text to get the answer, or None.

    >>> Extractor.from_spec({"regex": r"(?i)answer:\\s*(\\S+)"})("Answer: 4\\nANSWER: 5")
    '5'
    >>> Extractor.from_spec("hash").spec
    'hash'
    """

    __slots__ = ("argument", "function", "method", "strip_think")

    def __init__(self, method: str, argument: Any = None, *, strip_think: bool = False, field: str = "extract"):
        if method not in EXTRACT_METHODS:
            raise ConfigError(
                f"unknown extraction method {method!r}; use one of {', '.join(EXTRACT_METHODS)}, "
                'or a one-key mapping such as {"regex": "Answer: (\\\\d+)"}',
                field,
            )
        takes = EXTRACT_METHODS[method]
        if takes is True and argument is None:
            raise ConfigError(f"extraction method {method!r} needs an argument: write {{{method!r}: ...}}", field)
        if takes is False and argument is not None:
            raise ConfigError(f"extraction method {method!r} takes no argument, got {argument!r}", field)
        self.method = method
        self.argument = argument
        self.strip_think = strip_think
        fn: Callable[[str], str | None]
        if method == "answer_tags":
            tag = "answer" if argument is None else argument
            if not isinstance(tag, str) or not tag or any(c in tag for c in "<>/ \t\n"):
                raise ConfigError(f"answer_tags takes a tag name such as 'answer', got {tag!r}", field)

            fn = _answer_tags(tag)
        elif method == "boxed":
            fn = _boxed
        elif method == "hash":
            fn = _hash
        elif method == "last_number":
            fn = last_number
        else:
            compiled = compile_re2(argument, field)

            def fn(text: str, _compiled: Any = compiled) -> str | None:
                return _last_match(_compiled, text)

        if strip_think:
            inner = fn

            def fn(text: str, _inner: Callable[[str], str | None] = inner) -> str | None:
                return _inner(_strip_think(text))

        #: The bare ``text -> answer | None`` function (hot loops call it without the method hop).
        self.function = fn

    @classmethod
    def from_spec(cls, spec: Any, *, strip_think: bool = False, field: str = "extract") -> Extractor | None:
        """Build from the config spelling: ``None``, a method name, or ``{method: argument}``."""
        if spec is None:
            return None
        if isinstance(spec, str):
            return cls(spec, strip_think=strip_think, field=field)
        if isinstance(spec, Mapping) and len(spec) == 1:
            ((method, argument),) = spec.items()
            return cls(method, argument, strip_think=strip_think, field=f"{field}.{method}")
        raise ConfigError(
            f"expected an extraction method name ({', '.join(EXTRACT_METHODS)}) or a one-key mapping "
            f'such as {{"regex": "Answer: (\\\\d+)"}}, got {spec!r}',
            field,
        )

    @property
    def spec(self) -> Any:
        """The config spelling of this extractor."""
        return self.method if self.argument is None else {self.method: self.argument}

    def __call__(self, text: str) -> str | None:
        return self.function(text)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.method, self.argument, self.strip_think))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Extractor):
            return NotImplemented
        return (self.method, self.argument, self.strip_think) == (other.method, other.argument, other.strip_think)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Extractor({self.spec!r}, strip_think={self.strip_think})"


def _rebuild(method: str, argument: Any, strip_think: bool) -> Extractor:
    return Extractor(method, argument, strip_think=strip_think)


def extract_answer(text: str, method: Any = "last_number", *, strip_think: bool = False) -> str | None:
    """The answer ``text`` gives by ``method`` (a name or ``{name: argument}``), or None.

    Compiles the spec on each call; graders build an :class:`Extractor` once instead.

    >>> extract_answer("Reasoning... #### 72", "hash")
    '72'
    >>> extract_answer("<final>B</final>", {"answer_tags": "final"})
    'B'
    >>> extract_answer("<think>#### 41</think>#### 42", "hash", strip_think=True)
    '42'
    """
    extractor = Extractor.from_spec(method, strip_think=strip_think, field="method")
    if extractor is None:
        return _strip_think(text) if strip_think else text
    return extractor(text)
