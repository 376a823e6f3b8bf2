"""``exact_match``: the extracted answer equals the reference, after one documented normalisation."""

from __future__ import annotations

import dataclasses
import re
import string
import unicodedata
from collections.abc import Callable, Sequence
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from typing import Any

from rft._errors import ConfigError
from rft._extract import ExtractionTimeout, Extractor, strip_think
from rft._grade import Grade
from rft._template import Batch, Template
from rft._text import clip, normalize_text, short_repr
from rft.graders._base import Grader, Result, _number
from rft.graders._registry import register_grader

__all__ = ["ExactMatch", "numbers_equal", "parse_number"]

# --------------------------------------------------------------------------------------------
# Numbers

# The whole (stripped) answer must be one number. Linear: the pieces read disjoint character
# classes and no two `\s*` meet without a required character between them (two that did would
# try every split of a run of spaces: quadratic), so a failed fullmatch backtracks over each
# piece once with O(1) work per step.
_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?"
_NUMERIC = re.compile(
    r"(?P<s1>[-+\u2212]\s*)?(?:\\?[$\u20ac\u00a3\u00a5]\s*(?P<s2>[-+\u2212]\s*)?)?"
    rf"(?:(?P<num>{_NUM})(?:\s*/\s*(?P<den>{_NUM}))?"
    rf"|\\[dt]?frac\{{\s*(?P<fnum>[-+\u2212]?(?:{_NUM}))\s*\}}\{{\s*(?P<fden>{_NUM})\s*\}})"
    r"(?:\s*\\?%)?",
    re.ASCII,
)
_ONE = Decimal(1)
# Exact products (no rounding at any size: libmpdec allocates by the operands, not by `prec`).
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[])
# Differences for `tolerance`: 50 significant digits, huge exponents allowed, never raises.
_APPROX = Context(prec=50, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[])

Number = tuple[Decimal, Decimal]  # numerator, denominator (1 unless the answer was a fraction)


def _decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text.replace(",", ""))
    except ArithmeticError:  # decimal.InvalidOperation: an exponent beyond what Decimal holds
        return None
    return value if value.is_finite() else None


def parse_number(text: str) -> Number | None:
    """``text`` as an exact number ``(numerator, denominator)``, or None if it is not one number.

    Accepted: an optional sign (``-``, ``+``, ``\u2212``); an optional currency sign
    (``$ \u20ac \u00a3 \u00a5``, also ``\\$``) before the digits; digits with thousands
    commas in groups of three; a decimal part; an exponent; a fraction ``3/4`` or
    ``\\frac{3}{4}``; a trailing ``%``, which is a unit and does not scale the value
    (``50%`` equals ``50``). Anything else ("41 or 42", "about 5", "1,00") is not a number.

    >>> parse_number("$1,000.50")
    (Decimal('1000.50'), Decimal('1'))
    >>> parse_number("-3/4")
    (Decimal('-3'), Decimal('4'))
    >>> parse_number("41 or 42") is None
    True
    """
    if text.isdigit() and text.isascii():  # the common case, without the full grammar
        return Decimal(text), _ONE
    m = _NUMERIC.fullmatch(text.strip())
    if m is None:
        return None
    s1, s2, num, den = m.group("s1", "s2", "num", "den")
    s1, s2 = s1 and s1[0], s2 and s2[0]
    if num is None:
        num, den = m.group("fnum", "fden")
    if s1 and s2:
        return None  # "-$-5"
    if num[0] in "-+\u2212":
        if s1 or s2:
            return None
        s1, num = num[0], num[1:]
    value = _decimal(num)
    if value is None:
        return None
    if (s1 or s2) in ("-", "\u2212"):
        value = -value
    if den is None:
        return value, _ONE
    denominator = _decimal(den)
    if denominator is None or not denominator:
        return None
    return value, denominator


def numbers_equal(a: Number, b: Number, tolerance: Decimal | float | None = None) -> bool:
    """Exact equality of two parsed numbers, or ``|a - b| <= tolerance`` when one is given.

    >>> numbers_equal(parse_number("42.0"), parse_number("42"))
    True
    >>> numbers_equal(parse_number("-5"), parse_number("5"))
    False
    >>> numbers_equal(parse_number("0.5"), parse_number("1/2"))
    True
    """
    (p, q), (r, s) = a, b
    if tolerance:
        x = p if q == _ONE else _APPROX.divide(p, q)
        y = r if s == _ONE else _APPROX.divide(r, s)
        diff = _APPROX.subtract(x, y).copy_abs()
        if not isinstance(tolerance, Decimal):
            tolerance = Decimal(repr(tolerance))
        return diff.is_finite() and diff <= tolerance
    if q == _ONE and s == _ONE:
        return p == r  # Decimal equality is exact at any size
    return _EXACT.multiply(p, s) == _EXACT.multiply(r, q)


# --------------------------------------------------------------------------------------------
# Text folding

_ASCII_PUNCT = str.maketrans("", "", string.punctuation)


def _drop_punctuation(text: str) -> str:
    if text.isascii():
        return text.translate(_ASCII_PUNCT)
    return "".join(
        c for c in text if c not in string.punctuation and not unicodedata.category(c).startswith("P")
    )


def _collapse_whitespace(text: str) -> str:
    return " ".join(text.split())


def _compose(steps: list[Callable[[str], str]]) -> Callable[[str], str] | None:
    if not steps:
        return None
    if len(steps) == 1:
        return steps[0]

    def run(text: str) -> str:
        for step in steps:
            text = step(text)
        return text

    return run


def _strip(text: str) -> str:
    return text.strip()


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"expected true or false, got {value!r}", field)
    return value


# --------------------------------------------------------------------------------------------
# The grader


@register_grader("exact_match")
@dataclasses.dataclass(kw_only=True, eq=True, repr=False)
class ExactMatch(Grader):
    """Score 1 when the answer equals the reference, else 0; no containment, no "any of".

    The completion (rendered ``input``) goes through, in order: ``strip_think``; the
    normalisation (``normalize``: NFKC, zero-width characters removed, outer whitespace
    stripped, case kept); answer extraction (``extract``, always the *last* marker, see
    :mod:`rft._extract`; nothing found scores 0 with "no answer found"); then
    ``collapse_whitespace``, ``ignore_punctuation`` and ``case_sensitive``. The rendered
    ``reference`` goes through ``reference_extract`` (e.g. ``"hash"`` for GSM8K's
    "...#### 72"), the normalisation and the same folding.

    ``extract`` / ``reference_extract`` are a method name (``answer_tags``, ``boxed``, ``hash``,
    ``last_number``) or a one-key mapping ``{"regex": "Answer: (\\\\d+)"}`` /
    ``{"answer_tags": "final"}``.

    ``numeric=True`` compares values, exactly (``Decimal``): ``42.0 == 42``,
    ``1,000 == 1000``, ``$5 == 5``, ``1/2 == 0.5``, but ``-5 != 5``; see
    :func:`parse_number`. An answer that is not one number scores 0; a reference that is not a
    number leaves the row unscored (the data is at fault, not the policy). ``tolerance``
    accepts ``|answer - reference| <= tolerance``.

    >>> from rft import ExactMatch
    >>> g = ExactMatch(reference="{{item.answer}}", extract="answer_tags", numeric=True)
    >>> g.grade("<answer>42.0</answer>", {"answer": "42"}).score
    1.0
    >>> g.grade("<answer>41 or 42</answer>", {"answer": "42"}).reason
    "answer '41 or 42' is not a number"
    >>> g.grade("<answer>-42</answer>", {"answer": "42"}).reason
    "answer '-42' != reference '42'"
    """

    input: str = dataclasses.field(
        default="{{sample.output_text}}",
        metadata={"help": "Template of the text the answer is read from.", "always": True},
    )
    reference: str = dataclasses.field(
        default="", metadata={"help": "Template of the expected answer, e.g. {{item.answer}}.", "always": True}
    )
    extract: str | dict[str, Any] | None = dataclasses.field(
        default=None,
        metadata={
            "help": "How to find the answer: answer_tags, boxed, hash, last_number, {regex: pattern}, "
            "{answer_tags: tag}; None compares the whole input."
        },
    )
    reference_extract: str | dict[str, Any] | None = dataclasses.field(
        default=None,
        metadata={"help": "Extraction applied to the reference (e.g. hash for GSM8K '... #### 72')."},
    )
    strip_think: bool = dataclasses.field(
        default=False, metadata={"help": "Drop <think>...</think> reasoning before extracting."}
    )
    normalize: bool = dataclasses.field(
        default=True,
        metadata={"help": "NFKC, remove zero-width characters, strip outer whitespace (both sides)."},
    )
    case_sensitive: bool = dataclasses.field(default=True, metadata={"help": "False compares casefolded text."})
    collapse_whitespace: bool = dataclasses.field(
        default=False, metadata={"help": "Turn every run of whitespace into one space (both sides)."}
    )
    ignore_punctuation: bool = dataclasses.field(
        default=False,
        metadata={"help": "Remove punctuation (Unicode P* and ASCII punctuation, '-' and '.' too) before comparing."},
    )
    numeric: bool = dataclasses.field(
        default=False, metadata={"help": "Compare as numbers: 42.0 == 42, 1,000 == 1000, -5 != 5."}
    )
    tolerance: float | None = dataclasses.field(
        default=None, metadata={"help": "With numeric: accept |answer - reference| <= tolerance."}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self._input = Template(self.input, field="input")
        self._reference = Template(self.reference, field="reference")
        flags = ("strip_think", "normalize", "case_sensitive", "collapse_whitespace", "ignore_punctuation", "numeric")
        for name in flags:
            _bool(getattr(self, name), name)
        if self.tolerance is not None:
            if not self.numeric:
                raise ConfigError("tolerance needs numeric: true (it compares numbers)", "tolerance")
            self.tolerance = _number(self.tolerance, "tolerance")
            if self.tolerance < 0:
                raise ConfigError(f"expected a tolerance >= 0, got {self.tolerance!r}", "tolerance")
        if self.numeric and self.ignore_punctuation:
            raise ConfigError(
                "ignore_punctuation would remove signs and decimal points from numbers; drop it when numeric: true",
                "ignore_punctuation",
            )
        self._tol = Decimal(repr(self.tolerance)) if self.tolerance else None
        self._extractor = Extractor.from_spec(self.extract, field="extract")
        self._ref_extractor = Extractor.from_spec(self.reference_extract, field="reference_extract")

        fold: list[Callable[[str], str]] = []
        if self.ignore_punctuation:
            fold.append(_drop_punctuation)
            if not self.collapse_whitespace:
                fold.append(_strip)  # "Paris ." must not keep the space the dot leaves
        if self.collapse_whitespace:
            fold.append(_collapse_whitespace)
        if not self.case_sensitive:
            fold.append(str.casefold)

        # Answer side: think -> normalise -> extract -> fold. Reference side: normalise -> extract
        # -> fold. Each side is one composed function so the TRL path is one map per column.
        before: list[Callable[[str], str]] = []
        if self.strip_think:
            before.append(strip_think)
        if self.normalize:
            before.append(normalize_text)
        self._answer = self._side(_compose(before), self._extractor, _compose(fold))
        self._ref = self._side(normalize_text if self.normalize else None, self._ref_extractor, _compose(fold))

    @staticmethod
    def _side(
        before: Callable[[str], str] | None, extractor: Extractor | None, after: Callable[[str], str] | None
    ) -> Callable[[str], str | None]:
        if extractor is None:
            steps = [f for f in (before, after) if f is not None]
            return _compose(steps) or str  # type: ignore[return-value]
        find = extractor.function
        if after is None:
            if before is None:
                return find
            if before is normalize_text:
                # The common case, kept to one call: NFKC and zero-width removal are no-ops on ASCII.
                def normalized(text: str) -> str | None:
                    return find(text.strip() if text.isascii() else normalize_text(text))

                return normalized

            def prepared(text: str) -> str | None:
                return find(before(text))

            return prepared

        def side(text: str) -> str | None:
            if before is not None:
                text = before(text)
            found = find(text)
            return None if found is None else after(found)

        return side

    def _evaluate(self, batch: Batch, rich: bool) -> Sequence[Result]:
        inputs = self._input.render(batch, text=True)
        refs = self._reference.render(batch, text=True)
        unique = set(refs)
        if len(unique) * 2 <= len(refs):  # TRL repeats each reference num_generations times
            cache = {r: self._ref(r) for r in unique}
            references = list(map(cache.__getitem__, refs))
        else:
            references = list(map(self._ref, refs))
        f = self._answer
        if not rich and not self.numeric and self._ref_extractor is None:
            # The TRL hot loop: one comprehension (an answer not found is None, which equals no
            # reference string). For the default (normalize only) the ASCII case of normalize_text
            # is inlined: NFKC and zero-width removal are no-ops on ASCII.
            if f is normalize_text:
                return [1.0 if (a.strip() if a.isascii() else f(a)) == b else 0.0 for a, b in zip(inputs, references)]
            return [1.0 if f(a) == b else 0.0 for a, b in zip(inputs, references)]
        answers = list(map(f, inputs))
        if self.numeric:
            return self._numeric(answers, references, refs, rich)
        if not rich:
            return [
                None if b is None else 0.0 if a is None else 1.0 if a == b else 0.0
                for a, b in zip(answers, references)
            ]
        out: list[Result] = []
        for a, b, raw_ref in zip(answers, references, refs):
            if b is None:
                out.append(self._bad_reference(raw_ref, "no answer found in the reference"))
            elif a is None:
                out.append(self._no_answer(b))
            else:
                same = a == b
                reason = f"answer {short_repr(a)} {'==' if same else '!='} reference {short_repr(b)}"
                out.append(Grade(1.0 if same else 0.0, reason=reason, details=self._details(a, b)))
        return out

    def _numeric(
        self, answers: list[str | None], references: list[str | None], raw_refs: list[str], rich: bool
    ) -> list[Result]:
        cache: dict[str, Any] = {}
        ref_numbers: list[Any] = []  # parse_number's value for each reference, None where there is none
        for b in references:
            if b is None:
                ref_numbers.append(None)
                continue
            if b not in cache:
                cache[b] = parse_number(b)
            ref_numbers.append(cache[b])
        tol = self._tol
        if not rich:
            out: list[Result] = []
            for a, rn in zip(answers, ref_numbers):
                if rn is None:
                    out.append(None)
                    continue
                an = parse_number(a) if a is not None else None
                out.append(0.0 if an is None else 1.0 if numbers_equal(an, rn, tol) else 0.0)
            return out
        grades: list[Result] = []
        for a, b, rn, raw in zip(answers, references, ref_numbers, raw_refs):
            if b is None:
                grades.append(self._bad_reference(raw, "no answer found in the reference"))
                continue
            if rn is None:
                grades.append(self._bad_reference(b, "reference is not a number"))
                continue
            if a is None:
                grades.append(self._no_answer(b))
                continue
            an = parse_number(a)
            details = self._details(a, b)
            if an is None:
                grades.append(Grade(0.0, reason=f"answer {short_repr(a)} is not a number", details=details))
            elif numbers_equal(an, rn, tol):
                how = f"within {self.tolerance} of" if tol else "=="
                reason = f"answer {short_repr(a)} {how} reference {short_repr(b)}"
                grades.append(Grade(1.0, reason=reason, details=details))
            else:
                reason = f"answer {short_repr(a)} != reference {short_repr(b)}"
                grades.append(Grade(0.0, reason=reason, details=details))
        return grades

    def _crash_grade(self, exc: Exception) -> Grade:
        # A regex extraction that ran past its budget raises out of the hot loop; the base class
        # then isolates the row, and here it is reported as what it is: a timeout, not a crash.
        if isinstance(exc, ExtractionTimeout):
            return Grade.unscored_because(str(exc), error="timeout")
        return super()._crash_grade(exc)

    def _details(self, answer: str | None, reference: str | None) -> dict[str, Any]:
        return {"answer": clip(answer), "reference": clip(reference)}

    def _no_answer(self, reference: str) -> Grade:
        spec = self._extractor.spec if self._extractor is not None else None
        return Grade(0.0, reason=f"no answer found (extract: {spec})", details=self._details(None, reference))

    def _bad_reference(self, reference: str | None, why: str) -> Grade:
        return Grade.unscored_because(
            f"{why}: {short_repr(reference)}", error="invalid_reference", reference=clip(reference)
        )

