"""Composing graders in Python: arithmetic, weighted sums, ``all_of``, ``any_of`` and ``gate``.

Arithmetic on graders (``0.2 * fmt + 0.8 * correct``) and :func:`weighted` build a ``multi``
grader whose keys are the graders' names and whose ``calculate_output`` is the expression, so the
result saves as an OpenAI ``multi`` config. Its ``range`` is worked out from the sub-graders'
ranges (``fmt + correct`` scores in [0, 2]), so no sum is ever out of range.

``all_of``, ``any_of`` and ``gate`` are rft types (``"all_of"``, ``"any_of"``, ``"gate"``) with
configs of their own. Every composite carries its sub-grades in ``details["sub_grades"]``,
pickles, and turns async when it holds an async grader (a judge).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

from rft._errors import ConfigError
from rft._grade import Grade
from rft._template import Batch
from rft.graders._base import DEFAULT_MAX_OUTPUT_CHARS, Grader, Result, _number
from rft.graders._composite import Composite, build_child, fresh_key, sanitize, score_range, unique_keys
from rft.graders._formula import Binary, Node, Num, Var, bounds, rename, unparse
from rft.graders._multi import Multi
from rft.graders._registry import register_grader

__all__ = ["AllOf", "AnyOf", "Gate", "all_of", "any_of", "combine", "gate", "weighted"]

#: Auto-generated names (``multi(fmt,correct)``; no ``/``, which would split TRL's metric path)
#: longer than this fall back to the type name.
_MAX_AUTO_NAME = 64


# ------------------------------------------------------------------------------------------------
# Arithmetic -> multi


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _mergeable(grader: Any) -> bool:
    """A ``multi`` built by arithmetic and left as built: its formula can be extended in place."""
    return (
        isinstance(grader, Multi)
        and getattr(grader, "_combined_name", None) == grader.name
        and grader.pass_threshold is None
        and grader.max_output_chars == DEFAULT_MAX_OUTPUT_CHARS
    )


class _Builder:
    """Collects sub-graders under unique keys while an expression tree is assembled."""

    def __init__(self) -> None:
        self.graders: dict[str, Grader] = {}

    def key_for(self, grader: Grader, preferred: str) -> str:
        for key, known in self.graders.items():
            if known is grader:  # the same object twice is one sub-grader
                return key
        key = fresh_key(preferred, self.graders)
        self.graders[key] = grader
        return key

    def operand(self, value: Any) -> Node:
        if _is_number(value):
            number = float(value)
            if not math.isfinite(number):
                raise ConfigError(f"cannot combine a grader with {value!r}; use a finite number")
            return Num(number)
        if _mergeable(value):
            mapping = {key: self.key_for(child, key) for key, child in value.graders.items()}
            return rename(value.formula.ast, mapping)
        return Var(self.key_for(value, sanitize(value.name)))

    def build(self, tree: Node, name: str | None = None) -> Multi:
        text = unparse(tree)
        ranges = {key: score_range(g) for key, g in self.graders.items()}
        span = bounds(tree, ranges)
        if span is None:
            raise ConfigError(
                f"cannot tell the range of {text!r} from the sub-graders' ranges {ranges} (a division by a "
                "score that can be 0?); build rft.Multi(graders=..., calculate_output=..., range=[low, high])"
            )
        if not span[0] < span[1]:
            raise ConfigError(f"{text!r} always scores {span[0]:g}; it does not depend on any grader")
        multi = Multi(
            name=name or _auto_name("multi", list(self.graders)),
            graders=dict(self.graders),
            calculate_output=text,
            range=span,
        )
        if name is None:
            multi._combined_name = multi.name  # type: ignore[attr-defined]
        return multi


def combine(op: str, left: Any, right: Any) -> Any:
    """``left <op> right`` for graders and numbers as a ``multi`` grader (``Grader.__add__`` etc.).

    Operands that are themselves built this way are merged into one formula, so
    ``a + b + c`` is one ``multi`` with three keys; ``0 + grader`` is the grader (``sum()`` works).
    Returns ``NotImplemented`` for other operand types, so Python raises its usual TypeError.

    >>> import rft
    >>> fmt = rft.StringCheck(name="fmt", reference="<", operation="like")
    >>> correct = rft.StringCheck(name="correct", reference="{{item.answer}}", operation="like")
    >>> reward = 0.2 * fmt + 0.8 * correct
    >>> reward.name, reward.calculate_output, reward.range
    ('multi(fmt,correct)', '0.2 * fmt + 0.8 * correct', (0.0, 1.0))
    >>> reward.grade("<b>42</b>", {"answer": "42"}).score
    1.0
    >>> (fmt + correct).range
    (0.0, 2.0)
    """
    if op not in ("+", "-", "*", "/"):
        raise ValueError(f"unknown operator {op!r}; use + - * /")
    if not all(isinstance(x, Grader) or _is_number(x) for x in (left, right)):
        return NotImplemented
    if op == "+" and _is_number(left) and left == 0:
        return right
    if op == "+" and _is_number(right) and right == 0:
        return left
    builder = _Builder()
    tree = Binary(op, builder.operand(left), builder.operand(right))
    return builder.build(tree)


def weighted(
    weights: Mapping[Grader, float] | Iterable[tuple[Grader, float]],
    *,
    normalize: bool = False,
    name: str | None = None,
) -> Multi:
    """A weighted sum of graders as a ``multi`` grader.

    ``weights`` is a list of ``(grader, weight)`` pairs (graders are unhashable dataclasses, so
    a dict keyed by graders only works for hashable custom ones). The result is the plain sum
    ``w1 * g1 + w2 * g2 + ...``; with ``normalize=True`` it is divided by the total weight, so
    graders scoring in [0, 1] give a score in [0, 1] whatever the weights. Negative weights
    (penalties) are allowed.

    >>> import rft
    >>> a = rft.StringCheck(name="a", reference="x", operation="like")
    >>> b = rft.StringCheck(name="b", reference="y", operation="like")
    >>> g = rft.weighted([(a, 2), (b, 1)], normalize=True)
    >>> g.calculate_output, g.grade("x").score
    ('(2 * a + b) / 3', 0.6666666666666666)
    """
    pairs = list(weights.items()) if isinstance(weights, Mapping) else list(weights)
    if not pairs:
        raise ConfigError("weighted() needs at least one (grader, weight) pair")
    builder = _Builder()
    tree: Node | None = None
    total = 0.0
    for index, pair in enumerate(pairs):
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], Grader) and _is_number(pair[1])):
            raise ConfigError(f"expected a (grader, weight) pair, got {pair!r}", f"weights.{index}")
        grader, weight = pair[0], float(pair[1])
        if not math.isfinite(weight):
            raise ConfigError(f"weight {pair[1]!r} is not a finite number", f"weights.{index}")
        node = builder.operand(grader)
        total += weight
        if tree is None:
            tree = node if weight == 1 else Binary("*", Num(weight), node)
            continue
        # A negative weight after the first reads as a subtraction: a - 0.5 * b.
        size = abs(weight)
        term = node if size == 1 else Binary("*", Num(size), node)
        tree = Binary("-" if weight < 0 else "+", tree, term)
    assert tree is not None
    if normalize:
        if not total > 0:
            raise ConfigError(f"normalize=True divides by the total weight, which is {total:g}; make it positive")
        if total != 1:
            tree = Binary("/", tree, Num(total))
    return builder.build(tree, name)


# ------------------------------------------------------------------------------------------------
# all_of / any_of


def _pass_from_children(grader: Grader, grades: list[Grade], passes: Callable[[dict[str, Grade]], bool]) -> None:
    """Let composites decide ``passed`` from their children's verdicts (each with its own threshold)."""
    if grader.pass_threshold is not None:
        return  # an explicit threshold compares the composite's score, as for any grader
    for g in grades:
        subs = g.details.get("sub_grades")
        if g.score is not None and isinstance(subs, dict):
            g.passed = passes(subs)


@dataclasses.dataclass(kw_only=True, eq=True, repr=False)
class _Extremum(Composite):
    """Shared body of ``all_of`` (min / all pass) and ``any_of`` (max / any passes)."""

    child_fields: ClassVar[Mapping[str, str]] = {"graders": "list"}
    _pick: ClassVar[Callable[[Iterable[float]], float]]
    _agree: ClassVar[Callable[[Iterable[bool]], bool]]

    graders: list[Any] = dataclasses.field(metadata={"help": "The sub-graders (graders or configs)."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.graders, tuple):
            self.graders = list(self.graders)
        if not isinstance(self.graders, list) or not self.graders:
            raise ConfigError(f"expected a non-empty list of graders, got {self.graders!r}", "graders")
        self.graders = [build_child(g, f"graders.{i}") for i, g in enumerate(self.graders)]
        self._keys = unique_keys(self.graders)
        ranges = [score_range(g) for g in self.graders]
        self.score_range = (min(lo for lo, _ in ranges), max(hi for _, hi in ranges))  # type: ignore[misc]  # per instance

    def children(self) -> dict[str, Grader]:
        return dict(zip(self._keys, self.graders))

    async def _aevaluate(self, batch: Batch, rich: bool) -> Sequence[Result]:
        live, part = self._live(batch)
        results = await self._gather(self._child(g, part.view(), rich) for g in self.graders)
        return self._combine(batch.n, live, results, rich)

    def _combine(self, n: int, live: list[int], results: list[list[Any]], rich: bool) -> list[Result]:
        out: list[Result] = [None] * n
        pick = type(self)._pick
        for j, i in enumerate(live):
            if not rich:
                scores = [r[j] for r in results]
                out[i] = None if any(s is None for s in scores) else pick(scores)
                continue
            subs = {key: r[j] for key, r in zip(self._keys, results)}
            rewards = {key: g.score for key, g in subs.items()}
            missing = next((key for key, g in subs.items() if g.score is None), None)
            if missing is not None:
                out[i] = Grade.unscored_because(
                    f"sub-grader {missing!r} is unscored: {subs[missing].reason}",
                    error=subs[missing].error or "unscored",
                    sub_grader=missing,
                    sub_grades=subs,
                    sub_rewards=rewards,
                )
                continue
            value = pick(rewards.values())  # type: ignore[arg-type]
            details = {"sub_grades": subs, "sub_rewards": rewards}
            out[i] = Grade(value, reason=self._reason(subs, value), details=details)
        return out

    def _reason(self, subs: dict[str, Grade], value: float) -> str:
        raise NotImplementedError

    def _to_grades(self, batch: Batch, results: Sequence[Result]) -> list[Grade]:
        grades = super()._to_grades(batch, results)
        agree = type(self)._agree
        _pass_from_children(self, grades, lambda subs: agree(bool(g.passed) for g in subs.values()))
        return grades


@register_grader("all_of")
@dataclasses.dataclass(kw_only=True, eq=True, repr=False)
class AllOf(_Extremum):
    """Score = the lowest sub-score; passes only when every sub-grader passes by its own threshold.

    An unscored sub-grader makes the row unscored. Setting ``pass_threshold`` compares the lowest
    score with it instead.

    >>> import rft
    >>> g = rft.all_of(rft.StringCheck(name="has_a", reference="a", operation="like"),
    ...                rft.StringCheck(name="has_b", reference="b", operation="like"))
    >>> g.grade("ab").passed, g.grade("a").passed, g.grade("a").reason
    (True, False, "has_b did not pass: fail: input 'a' like reference 'b'")
    """

    _pick = min  # type: ignore[assignment]  # a builtin as a class attribute, which mypy reads as a method
    _agree = all

    def _reason(self, subs: dict[str, Grade], value: float) -> str:
        failed = [key for key, g in subs.items() if not g.passed]
        if not failed:
            return f"all {len(subs)} sub-graders passed; lowest score {value:.4g}"
        return f"{', '.join(failed)} did not pass: {subs[failed[0]].reason}"


@register_grader("any_of")
@dataclasses.dataclass(kw_only=True, eq=True, repr=False)
class AnyOf(_Extremum):
    """Score = the highest sub-score; passes when any sub-grader passes by its own threshold.

    An unscored sub-grader makes the row unscored (the highest score is then unknown).

    >>> import rft
    >>> g = rft.any_of(rft.StringCheck(name="yes", reference="yes"), rft.StringCheck(name="y", reference="y"))
    >>> g.grade("y").score, g.grade("y").passed, g.grade("no").passed
    (1.0, True, False)
    """

    _pick = max  # type: ignore[assignment]  # as in AllOf
    _agree = any

    def _reason(self, subs: dict[str, Grade], value: float) -> str:
        passed = [key for key, g in subs.items() if g.passed]
        if passed:
            return f"{passed[0]} passed: {subs[passed[0]].reason}"
        return f"none of {', '.join(subs)} passed; highest score {value:.4g}"


def _graders_arg(graders: tuple[Any, ...], function: str) -> list[Any]:
    if len(graders) == 1 and isinstance(graders[0], (list, tuple)):
        graders = tuple(graders[0])
    if not graders:
        raise ConfigError(f"{function}() needs at least one grader")
    return list(graders)


def _auto_name(kind: str, keys: Sequence[str]) -> str:
    name = f"{kind}({','.join(keys)})"
    return name if len(name) <= _MAX_AUTO_NAME else kind


def all_of(*graders: Any, name: str | None = None, pass_threshold: float | None = None) -> AllOf:
    """:class:`AllOf` over ``graders``: the lowest score, passing when every sub-grader passes."""
    children = [build_child(g, f"graders.{i}") for i, g in enumerate(_graders_arg(graders, "all_of"))]
    name = name or _auto_name("all_of", unique_keys(children))
    return AllOf(name=name, graders=children, pass_threshold=pass_threshold)


def any_of(*graders: Any, name: str | None = None, pass_threshold: float | None = None) -> AnyOf:
    """:class:`AnyOf` over ``graders``: the highest score, passing when any sub-grader passes."""
    children = [build_child(g, f"graders.{i}") for i, g in enumerate(_graders_arg(graders, "any_of"))]
    name = name or _auto_name("any_of", unique_keys(children))
    return AnyOf(name=name, graders=children, pass_threshold=pass_threshold)


# ------------------------------------------------------------------------------------------------
# gate


@register_grader("gate")
@dataclasses.dataclass(kw_only=True, eq=True, repr=False)
class Gate(Composite):
    """Run the ``expensive`` grader only on samples that pass the ``cheap`` one.

    Samples failing the cheap check score 0 (reason ``"gate failed: <cheap reason>"``) without
    the expensive grader seeing them: a format check in front of an LLM judge saves the judge's
    time. A sample the cheap grader cannot judge is unscored. Otherwise the score, pass verdict
    and reason are the expensive grader's. ``cheap_threshold`` opens the gate at a cheap score
    instead of the cheap grader's own pass verdict.

    >>> import rft
    >>> fmt = rft.StringCheck(name="fmt", reference="ANSWER:", operation="like")
    >>> right = rft.StringCheck(name="right", input="{{sample.output_text}}", reference="ANSWER: 4")
    >>> g = rft.gate(fmt, right)
    >>> [g.grade(t).score for t in ("ANSWER: 4", "ANSWER: 5", "4")]
    [1.0, 0.0, 0.0]
    >>> g.grade("4").reason
    "gate failed: fail: input '4' like reference 'ANSWER:'"
    """

    child_fields: ClassVar[Mapping[str, str]] = {"cheap": "one", "expensive": "one"}

    cheap: Any = dataclasses.field(metadata={"help": "Grader run on every sample; failing it scores 0."})
    expensive: Any = dataclasses.field(metadata={"help": "Grader run only on samples that pass the cheap one."})
    cheap_threshold: float | None = dataclasses.field(
        default=None, metadata={"help": "Cheap score that opens the gate (default: the cheap grader's own pass)."}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self.cheap = build_child(self.cheap, "cheap")
        self.expensive = build_child(self.expensive, "expensive")
        if self.cheap_threshold is not None:
            self.cheap_threshold = _number(self.cheap_threshold, "cheap_threshold")
        lo, hi = score_range(self.expensive)
        self.score_range = (min(lo, 0.0), max(hi, 0.0))  # type: ignore[misc]  # per instance; a closed gate scores 0

    @property
    def threshold(self) -> float:
        return self.expensive.threshold if self.pass_threshold is None else self.pass_threshold

    def children(self) -> dict[str, Grader]:
        return {"cheap": self.cheap, "expensive": self.expensive}

    def _opens(self, grade: Grade) -> bool:
        if self.cheap_threshold is not None:
            return grade.score is not None and grade.score >= self.cheap_threshold
        return bool(grade.passed)

    async def _aevaluate(self, batch: Batch, rich: bool) -> Sequence[Result]:
        live, part = self._live(batch)
        # The cheap grader's verdicts (not just scores) decide, on the reward path too.
        cheap = await self._child(self.cheap, part.view(), True)
        opened = [j for j, g in enumerate(cheap) if g.score is not None and self._opens(g)]
        expensive = await self._child(self.expensive, part.subset(opened), rich) if opened else []
        return self._combine(batch.n, live, cheap, dict(zip(opened, expensive)), rich)

    def _combine(
        self, n: int, live: list[int], cheap: list[Grade], expensive: dict[int, Any], rich: bool
    ) -> list[Result]:
        out: list[Result] = [None] * n
        for j, i in enumerate(live):
            c = cheap[j]
            if c.score is None:
                if rich:
                    out[i] = Grade.unscored_because(
                        f"gate: cheap grader {self.cheap.name!r} is unscored: {c.reason}",
                        error=c.error or "unscored",
                        sub_grader="cheap",
                        sub_grades={"cheap": c},
                        sub_rewards={"cheap": None},
                    )
                continue
            if j not in expensive:
                out[i] = (
                    Grade(
                        0.0,
                        reason=f"gate failed: {c.reason}",
                        details={"gate": "closed", "sub_grades": {"cheap": c}, "sub_rewards": {"cheap": c.score}},
                    )
                    if rich
                    else 0.0
                )
                continue
            e = expensive[j]
            if not rich:
                out[i] = e
                continue
            subs = {"cheap": c, "expensive": e}
            rewards = {"cheap": c.score, "expensive": e.score}
            if e.score is None:
                out[i] = Grade.unscored_because(
                    f"gate: expensive grader {self.expensive.name!r} is unscored: {e.reason}",
                    error=e.error or "unscored",
                    sub_grader="expensive",
                    sub_grades=subs,
                    sub_rewards=rewards,
                    gate="open",
                )
            else:
                details = {"gate": "open", "sub_grades": subs, "sub_rewards": rewards}
                out[i] = Grade(e.score, reason=e.reason, details=details)
        return out

    def _to_grades(self, batch: Batch, results: Sequence[Result]) -> list[Grade]:
        grades = super()._to_grades(batch, results)
        _pass_from_children(self, grades, lambda subs: "expensive" in subs and bool(subs["expensive"].passed))
        return grades


def gate(cheap: Any, expensive: Any, *, threshold: float | None = None, name: str | None = None) -> Gate:
    """:class:`Gate`: ``expensive`` runs only where ``cheap`` passes (or scores ``>= threshold``)."""
    cheap = build_child(cheap, "cheap")
    expensive = build_child(expensive, "expensive")
    return Gate(
        name=name or _auto_name("gate", unique_keys([cheap, expensive])),
        cheap=cheap,
        expensive=expensive,
        cheap_threshold=threshold,
    )
