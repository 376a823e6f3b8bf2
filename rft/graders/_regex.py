"""``regex``: the output matches a pattern, or the pattern's capture equals a reference."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import regex

from rft._errors import ConfigError
from rft._extract import ExtractionTimeout, _group_text, compile_re2, last_re2_match, strip_think
from rft._grade import Grade
from rft._template import Batch, Template
from rft._text import clip, normalize_text, short_repr
from rft.graders._base import Grader, Result
from rft.graders._registry import register_grader

__all__ = ["Regex"]

_FLAGS = {"i": "i", "ignorecase": "i", "m": "m", "multiline": "m", "s": "s", "dotall": "s"}
_MODES = ("search", "fullmatch")
_ENGINES = ("re2", "python")


class _Timeout(Exception):
    pass


def _flag_letters(flags: Any) -> str:
    if isinstance(flags, str):
        flags = [flags]
    if not isinstance(flags, (list, tuple)):
        raise ConfigError(f"expected a list of flags such as ['IGNORECASE', 'DOTALL'], got {flags!r}", "flags")
    letters = set()
    for i, flag in enumerate(flags):
        key = flag.lower() if isinstance(flag, str) else None
        if key in _FLAGS:
            letters.add(_FLAGS[key])
        elif key and set(key) <= set("ims"):
            letters.update(key)
        else:
            raise ConfigError(
                f"unknown flag {flag!r}; use IGNORECASE (i), MULTILINE (m) or DOTALL (s)", f"flags[{i}]"
            )
    return "".join(sorted(letters))


@register_grader("regex")
@dataclasses.dataclass(kw_only=True, eq=True, repr=False)
class Regex(Grader):
    """Score 1 when ``pattern`` matches the rendered ``input``, else 0; with a ``reference``,
    score 1 when the pattern's capture equals it.

    ``mode: search`` (default) looks anywhere in the input; ``fullmatch`` needs the whole input
    to match. With a ``reference``, the *last* match counts (never "any match"); its first
    group that took part in the match (else the whole match) is compared, after the
    normalisation (``normalize``: NFKC, zero-width characters removed, outer whitespace
    stripped), with the rendered reference normalised the same way. The input is normalised
    before matching too, so fullwidth digits match ``\\d``.

    ``engine: re2`` (default) matches in linear time, so no output can stall a run. Patterns
    RE2 cannot compile (backreferences, lookaround) are a config error unless you opt into
    ``engine: python``: the backtracking ``regex`` module, stopped after ``timeout`` seconds;
    a row that times out is unscored (``error: timeout``), since the grader could not judge.
    With RE2, the walk to the last match is bounded by ``rft._extract.LAST_MATCH_BUDGET_S``
    (a pattern like ``a*b|a`` re-reads the text for every match) and unscored past it.
    ``flags``: ``IGNORECASE``/``i``, ``MULTILINE``/``m``, ``DOTALL``/``s``. The pattern is
    static config, never a template. RE2 writes end-of-text as ``\\z`` (Python's ``\\Z``).

    >>> from rft import Regex
    >>> fmt = Regex(name="format", pattern=r"^<think>.*</think>\\s*<answer>.*</answer>$", flags=["DOTALL"])
    >>> fmt.grade("<think>hm</think> <answer>4</answer>").score, fmt.grade("4").score
    (1.0, 0.0)
    >>> ans = Regex(pattern=r"(?i)answer:\\s*(-?\\d+)", reference="{{item.answer}}")
    >>> ans.grade("Answer: 41. No, answer: 42", {"answer": "42"}).reason
    "captured '42' == reference '42'"
    """

    input: str = dataclasses.field(
        default="{{sample.output_text}}", metadata={"help": "Template of the text matched.", "always": True}
    )
    pattern: str = dataclasses.field(metadata={"help": "The regular expression (RE2 syntax unless engine: python)."})
    reference: str | None = dataclasses.field(
        default=None, metadata={"help": "Template the last match's first group must equal; None: any match scores 1."}
    )
    flags: list[str] = dataclasses.field(
        default_factory=list, metadata={"help": "IGNORECASE (i), MULTILINE (m), DOTALL (s)."}
    )
    mode: str = dataclasses.field(default="search", metadata={"help": "search (anywhere) or fullmatch (whole input)."})
    engine: str = dataclasses.field(
        default="re2", metadata={"help": "re2 (linear time) or python (backreferences, lookaround; with timeout)."}
    )
    timeout: float = dataclasses.field(
        default=0.1, metadata={"help": "engine: python only: seconds per row before the row is unscored."}
    )
    normalize: bool = dataclasses.field(
        default=True, metadata={"help": "NFKC, remove zero-width characters, strip (input and reference)."}
    )
    strip_think: bool = dataclasses.field(
        default=False, metadata={"help": "Drop <think>...</think> reasoning before matching."}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self._input = Template(self.input, field="input")
        self._reference = Template(self.reference, field="reference") if self.reference is not None else None
        if isinstance(self.flags, (str, tuple)):
            self.flags = [self.flags] if isinstance(self.flags, str) else list(self.flags)
        letters = _flag_letters(self.flags)
        for name in ("normalize", "strip_think"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"expected true or false, got {getattr(self, name)!r}", name)
        if self.mode not in _MODES:
            raise ConfigError(f"unknown mode {self.mode!r}; use search or fullmatch", "mode")
        if self.engine not in _ENGINES:
            raise ConfigError(f"unknown engine {self.engine!r}; use re2 (linear time) or python", "engine")
        if (
            isinstance(self.timeout, bool)
            or not isinstance(self.timeout, (int, float))
            or not (math.isfinite(self.timeout) and self.timeout > 0)
        ):
            raise ConfigError(f"expected a timeout in seconds > 0, got {self.timeout!r}", "timeout")
        if not isinstance(self.pattern, str):
            raise ConfigError(f"expected a regular expression string, got {self.pattern!r}", "pattern")
        if self.engine == "re2":
            self._compiled = compile_re2(f"(?{letters}){self.pattern}" if letters else self.pattern, "pattern")
            self._groups = self._compiled.groups
        else:
            flag_bits = 0
            for letter in letters:
                flag_bits |= {"i": regex.IGNORECASE, "m": regex.MULTILINE, "s": regex.DOTALL}[letter]
            try:
                self._compiled = regex.compile(self.pattern, flag_bits)
            except (regex.error, TypeError, ValueError) as exc:
                raise ConfigError(f"invalid regular expression {self.pattern!r}: {exc}", "pattern") from None
            self._groups = self._compiled.groups
        steps: list[Callable[[str], str]] = []
        if self.strip_think:
            steps.append(strip_think)
        if self.normalize:
            steps.append(normalize_text)
        self._prepare = steps

    # One row: whether it matched and what it captured (None when no match).
    def _find(self, text: str) -> tuple[bool, str | None]:
        want_capture = self._reference is not None
        if self.engine == "re2":
            if self.mode == "fullmatch":
                m = self._compiled.fullmatch(text.encode("utf-8", "surrogatepass"))
            elif not want_capture:
                m = self._compiled.search(text.encode("utf-8", "surrogatepass"))
            else:
                try:
                    m = last_re2_match(self._compiled, text)
                except ExtractionTimeout as exc:
                    raise _Timeout(str(exc)) from None
        else:
            m = self._python_find(text, want_capture)
        if m is None:
            return False, None
        return True, (self._capture(m) if want_capture else None)

    def _python_find(self, text: str, want_capture: bool) -> Any:
        timeout = self.timeout
        try:
            if self.mode == "fullmatch":
                return self._compiled.fullmatch(text, timeout=timeout)
            if not want_capture:
                return self._compiled.search(text, timeout=timeout)
            deadline = time.monotonic() + timeout
            m = None
            for m in self._compiled.finditer(text, timeout=timeout):  # noqa: B007 (keeps the last match)
                if time.monotonic() > deadline:
                    raise TimeoutError
            return m
        except TimeoutError:
            raise _Timeout(
                f"regex timed out after {timeout} s (engine: python); the pattern backtracks on this output: "
                "simplify it or use engine: re2"
            ) from None

    def _capture(self, m: Any) -> str:
        return _group_text(m, self._groups, strip=self.normalize)

    def _evaluate(self, batch: Batch, rich: bool) -> Sequence[Result]:
        texts = self._input.render(batch, text=True)
        for step in self._prepare:
            texts = list(map(step, texts))
        refs: list[str] | None = None
        if self._reference is not None:
            refs = self._reference.render(batch, text=True)
            if self.normalize:
                refs = list(map(normalize_text, refs))
        find = self._find
        if not rich:
            out: list[Result] = []
            for i, text in enumerate(texts):
                try:
                    matched, captured = find(text)
                except _Timeout:
                    out.append(None)
                    continue
                if refs is None:
                    out.append(1.0 if matched else 0.0)
                else:
                    out.append(1.0 if matched and captured == refs[i] else 0.0)
            return out
        grades: list[Result] = []
        for i, text in enumerate(texts):
            try:
                matched, captured = find(text)
            except _Timeout as exc:
                grades.append(Grade.unscored_because(str(exc), error="timeout"))
                continue
            how = "fully match" if self.mode == "fullmatch" else "match"
            if refs is None:
                if matched:
                    grades.append(Grade(1.0, reason=f"pattern {short_repr(self.pattern)} {how}es the input"))
                else:
                    grades.append(Grade(0.0, reason=f"pattern {short_repr(self.pattern)} does not {how} the input"))
                continue
            ref = refs[i]
            details = {"answer": clip(captured), "reference": clip(ref)}
            if not matched:
                reason = f"no answer found: pattern {short_repr(self.pattern)} does not {how} the input"
                grades.append(Grade(0.0, reason=reason, details=details))
            else:
                same = captured == ref
                reason = f"captured {short_repr(captured)} {'==' if same else '!='} reference {short_repr(ref)}"
                grades.append(Grade(1.0 if same else 0.0, reason=reason, details=details))
        return grades

