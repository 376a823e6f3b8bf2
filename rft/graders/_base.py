"""The one grader protocol.

Every grader is a dataclass whose fields *are* its config (``to_config()`` / ``load_grader``
round-trip), built on :class:`Grader`, which owns everything that is the same for all types:

- ``grade(sample, item)`` and ``grade_batch(samples, items)`` return :class:`~rft.Grade` objects;
- ``grader(prompts=..., completions=..., **columns)`` is TRL's reward contract and returns floats
  or ``None``, one per completion;
- hostile-input policy: over-long outputs score 0 before any check, a row that crashes the grader
  is unscored (the rest of the batch goes on), non-finite or out-of-range scores are unscored.

A subclass implements one method, :meth:`Grader._evaluate`, over a whole :class:`~rft._template.Batch`
(columns, not rows, so the TRL path costs a list comprehension). The same method feeds both the
reward floats and the rich Grades: with ``rich=False`` it may return bare floats, with
``rich=True`` it returns Grades with reasons. Scores are never computed a second way.

Sync and async are written once (:mod:`rft.graders._async`): every entry point runs one
coroutine, :meth:`Grader._agrade` (screen, guarded evaluation, Grades or floats). A grader whose
work waits on I/O (a judge) implements :meth:`Grader._aevaluate` instead and mixes in
:class:`~rft.graders._async.AsyncCall`, which gives it the ``async def __call__`` TRL awaits.
"""

from __future__ import annotations

import builtins
import dataclasses
import math
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, ClassVar, TypeVar, cast

from rft._errors import ConfigError, GraderError
from rft._grade import Grade
from rft._sample import as_text
from rft._template import Batch, Template
from rft.graders._async import run_inline, run_sync, sync_class

__all__ = ["DEFAULT_MAX_OUTPUT_CHARS", "CheckedScores", "Grader", "Result"]

#: Outputs longer than this score 0 before any grader looks at them (override per grader).
DEFAULT_MAX_OUTPUT_CHARS = 100_000

#: What ``_evaluate`` may return per row.
Result = float | None | Grade

# TRL passes these keyword arguments beside the dataset columns; they are not item fields.
_TRL_KWARGS = frozenset({"trainer_state", "log_extra", "log_metric", "environments", "completion_ids"})

G = TypeVar("G", bound="Grader")
T = TypeVar("T")


def _help(text: str, **extra: Any) -> dict[str, Any]:
    return {"help": text, **extra}


@dataclasses.dataclass(kw_only=True, eq=True, repr=False)
class Grader:
    """Base class of every grader type. Subclasses are dataclasses registered with
    :func:`rft.register_grader` and implement :meth:`_evaluate`.
    """

    #: The config ``type`` this class is registered under.
    type: ClassVar[str] = ""
    #: Pass threshold used when ``pass_threshold`` is not set.
    default_pass_threshold: ClassVar[float] = 1.0
    #: Scores outside this closed range are unscored (``invalid_result``).
    score_range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    #: True for graders whose work is async (judges); TRL then runs them concurrently.
    is_async: ClassVar[bool] = False

    name: str = dataclasses.field(
        default="", metadata=_help("Unique name; TRL logs rewards/<name>/mean. Defaults to the type.")
    )
    pass_threshold: float | None = dataclasses.field(
        default=None, metadata=_help("Score at or above which a sample passes (default per type).")
    )
    max_output_chars: int = dataclasses.field(
        default=DEFAULT_MAX_OUTPUT_CHARS,
        metadata=_help("Outputs longer than this score 0 without being checked (bounds time and memory)."),
    )

    def __post_init__(self) -> None:
        if not self.name:
            self.name = self.type or type(self).__name__.lower()
        if not isinstance(self.name, str):
            raise ConfigError(f"expected a string, got {self.name!r}", "name")
        if self.pass_threshold is not None:
            self.pass_threshold = _number(self.pass_threshold, "pass_threshold")
        limit = self.max_output_chars
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ConfigError(f"expected a positive integer, got {self.max_output_chars!r}", "max_output_chars")
        # TRL names a reward function by __name__; pickling rebuilds from the fields.
        self.__name__ = self.name

    # ----------------------------------------------------------------------------------------
    # What subclasses implement

    def _evaluate(self, batch: Batch, rich: bool) -> Sequence[Result]:
        """Score every row of ``batch``: floats (or None) when ``rich`` is False, Grades otherwise."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _evaluate")

    async def _aevaluate(self, batch: Batch, rich: bool) -> Sequence[Result]:
        """Async form of :meth:`_evaluate`; graders whose work waits on I/O implement this one instead."""
        return self._evaluate(batch, rich)

    def children(self) -> dict[str, Grader]:
        """Sub-graders of a composite, by key (empty for leaf graders)."""
        return {}

    # ----------------------------------------------------------------------------------------
    # The protocol: every entry point runs the coroutine _agrade, inline or on the event loop

    @property
    def threshold(self) -> float:
        """The pass threshold in force."""
        return self.default_pass_threshold if self.pass_threshold is None else self.pass_threshold

    def grade(self, sample: Any, item: Mapping[str, Any] | None = None) -> Grade:
        """Grade one sample (string, chat message list, or ``{"output_text": ...}``) against its row."""
        return self.grade_batch([sample], [item])[0]

    def grade_batch(
        self, samples: Sequence[Any], items: Sequence[Mapping[str, Any] | None] | None = None
    ) -> list[Grade]:
        """Grade many samples at once; ``items[i]`` is the dataset row of ``samples[i]``."""
        return self._drive(self._agrade(Batch.of(samples, items), rich=True))

    async def agrade_batch(
        self, samples: Sequence[Any], items: Sequence[Mapping[str, Any] | None] | None = None
    ) -> list[Grade]:
        """Async :meth:`grade_batch`: judges run concurrently with other async work."""
        return await self._agrade(Batch.of(samples, items), rich=True)

    def __call__(
        self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] | None = None, **kwargs: Any
    ) -> list[float | None]:
        """TRL's reward contract: one float (or ``None`` = unscored) per completion.

        Async graders (:class:`~rft.graders._async.AsyncCall`) have ``async def __call__`` instead.
        """
        return run_inline(self._acall(prompts, completions, **kwargs))

    async def _acall(
        self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] | None = None, **kwargs: Any
    ) -> list[float | None]:
        batch, log_metric = self._trl_batch(prompts, completions, kwargs)
        scores = await self._agrade(batch, rich=False)
        self._log(log_metric, scores)
        return scores

    async def _agrade(self, batch: Batch, rich: bool) -> list[Any]:
        """Grades (``rich``) or reward floats for ``batch``: the one path of every entry point,
        of composites' children and of the reward adapter.

        The crash policy lives here: if the batch raises, each row is retried alone, so only the
        rows that crash are unscored. A GraderError (the grader is broken, e.g. a wrong-length
        result) is raised, never hidden.
        """
        self._screen(batch)
        try:
            if type(self)._aevaluate is Grader._aevaluate:  # sync work: skip a coroutine on the hot path
                results = self._evaluate(batch, rich)
            else:
                results = await self._aevaluate(batch, rich)
        except Exception as exc:
            results = await self._row_by_row(batch, rich) if batch.n > 1 else [self._crash_grade(exc)]
        else:
            self._check_length(batch, results)
        return self._to_grades(batch, results) if rich else self._to_scores(batch, results)

    async def _row_by_row(self, batch: Batch, rich: bool) -> list[Result]:
        """Grade each row of a batch that raised on its own, to isolate the row(s) that crash."""
        out: list[Result] = []
        for i in range(batch.n):
            sub = batch.subset([i])
            try:
                res = await self._aevaluate(sub, rich)
                self._check_length(sub, res)
                out.extend(res)
            except GraderError:
                raise
            except Exception as exc:
                out.append(self._crash_grade(exc))
            _adopt(batch, sub, i)
        return out

    def _drive(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run one of this grader's coroutines from sync code."""
        return run_sync(coro) if self.is_async else run_inline(coro)

    # ----------------------------------------------------------------------------------------
    # Config

    def to_config(self) -> dict[str, Any]:
        """A plain dict that :func:`rft.load_grader` turns back into an equal grader."""
        config: dict[str, Any] = {"type": self.type, "name": self.name}
        for f in dataclasses.fields(self):
            if not f.init or f.name == "name" or f.metadata.get("config") is False:
                continue
            value = getattr(self, f.name)
            has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else dataclasses.MISSING
            )
            if has_default and value == default and not f.metadata.get("always"):
                continue
            config[f.name] = _config_value(value)
        return config

    @classmethod
    def from_config(cls: builtins.type[G], config: Mapping[str, Any], *, trust_code: bool = False) -> G:
        """Build from a config dict (``type`` may be present). Errors name the bad field."""
        known = {f.name: f for f in dataclasses.fields(cls) if f.init}
        values: dict[str, Any] = {}
        for key, value in config.items():
            if key == "type":
                continue
            if key not in known:
                raise ConfigError(
                    f"unknown field {key!r} for a {cls.type!r} grader; known fields: {', '.join(sorted(known))}",
                    str(key),
                )
            values[key] = value
        for name, f in known.items():
            if name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"missing required field {name!r} for a {cls.type!r} grader", name)
        values = cls._config_values(values, trust_code=trust_code)
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(f"cannot build a {cls.type!r} grader: {exc}") from None

    @classmethod
    def _config_values(cls, values: dict[str, Any], *, trust_code: bool) -> dict[str, Any]:
        """Hook: turn config values into constructor values (composites build sub-graders here)."""
        return values

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild from the fields: compiled patterns and worker processes are not picklable, and
        # an async twin (a composite holding a judge) is rebuilt through its sync class's __new__.
        cls = sync_class(type(self))
        return (_rebuild, (cls, {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_config()!r})"

    # Composition: 0.2 * fmt + 0.8 * correct builds a `multi` grader (see _combine below).
    def __add__(self, other: Any) -> Grader:
        return _combine("+", self, other)

    def __radd__(self, other: Any) -> Grader:
        return _combine("+", other, self)

    def __sub__(self, other: Any) -> Grader:
        return _combine("-", self, other)

    def __rsub__(self, other: Any) -> Grader:
        return _combine("-", other, self)

    def __mul__(self, other: Any) -> Grader:
        return _combine("*", self, other)

    def __rmul__(self, other: Any) -> Grader:
        return _combine("*", other, self)

    def __truediv__(self, other: Any) -> Grader:
        return _combine("/", self, other)

    # ----------------------------------------------------------------------------------------
    # Machinery shared by every type

    def _trl_batch(
        self, prompts: Sequence[Any] | None, completions: Sequence[Any] | None, kwargs: dict[str, Any]
    ) -> tuple[Batch, Callable[[str, float], None] | None]:
        if completions is None:
            raise GraderError(f"grader {self.name!r} was called without completions=; call it as TRL does")
        n = _column_length(self.name, "completions", completions, None)
        if set(map(type, completions)) == {str}:  # C-speed check, no copy of long completions
            texts = completions if type(completions) is list else list(completions)
        else:  # message lists, None, other objects
            texts = [c if type(c) is str else as_text(c) for c in completions]
        columns = {}
        for key, value in kwargs.items():
            # TRL's extras are not columns; neither are values that are not sequences (None, numbers,
            # tensors), which TRL does not send as columns. Strings and sequences are columns and must
            # hold one value per completion.
            if key not in _TRL_KWARGS and (isinstance(value, Sequence) or isinstance(value, _TEXT_TYPES)):
                _column_length(self.name, key, value, n)
                columns[key] = value
        if prompts is not None:
            _column_length(self.name, "prompts", prompts, n)
            columns.setdefault("prompt", prompts)
        return Batch(texts, columns=columns), kwargs.get("log_metric")

    def _screen(self, batch: Batch) -> None:
        """Score over-long outputs 0 before any check and hide them from the grader."""
        limit = self.max_output_chars
        texts = batch.texts
        if not texts:
            return
        lengths = list(map(len, texts))  # map/len/max run in C: numpy would add its import and no speed
        if max(lengths) <= limit:
            return
        kept = list(texts)
        for i in (i for i, n in enumerate(lengths) if n > limit):
            batch.fixed[i] = Grade(
                0.0,
                False,
                f"output has {lengths[i]} characters, over max_output_chars={limit}",
                {"error": "output_too_long"},
            )
            kept[i] = ""
        batch.texts = kept
        batch._samples = None

    def _crash_grade(self, exc: Exception) -> Grade:
        return Grade.unscored_because(
            f"grader {self.name!r} crashed: {type(exc).__name__}: {exc}", error="crash", exception=type(exc).__name__
        )

    def _check_length(self, batch: Batch, results: Sequence[Result]) -> None:
        if len(results) != batch.n:
            raise GraderError(
                f"grader {self.name!r} ({type(self).__name__}) returned {len(results)} results for a batch of "
                f"{batch.n}; _evaluate must return one result per sample"
            )

    def _to_scores(self, batch: Batch, results: Sequence[Result]) -> list[float | None]:
        lo, hi = self.score_range
        scores: list[Any]  # floats in range or None once this block is done; checked here, not by types
        if type(results) is CheckedScores or _all_floats_in(results, lo, hi):
            scores = results if type(results) is list else list(results)
        else:
            scores = [r if r is None or type(r) is float else _score_of(r) for r in results]
            scores = [s if s is None or lo <= s <= hi else None for s in scores]  # NaN fails the comparison too
        if batch.fixed:
            for i, g in batch.fixed.items():
                scores[i] = g.score
        if batch.unscored:
            for i in batch.unscored:
                scores[i] = None
        return scores

    def _to_grades(self, batch: Batch, results: Sequence[Result]) -> list[Grade]:
        lo, hi = self.score_range
        threshold = self.threshold
        grades: list[Grade] = []
        for r in results:
            g = r if isinstance(r, Grade) else Grade(r if r is None else _score_of(r))
            score = g.score
            if score is not None:
                if not (lo <= score <= hi):
                    g = Grade.unscored_because(
                        f"grader {self.name!r} produced {score!r}, outside [{lo}, {hi}]",
                        error="invalid_result",
                        raw_score=score if math.isfinite(score) else str(score),
                    )
                else:
                    g.passed = score >= threshold
            else:
                g.passed = None
                if "error" not in g.details:
                    g.details["error"] = "unscored"
            grades.append(g)
        for i, g in batch.fixed.items():
            grades[i] = g
        for i, g in batch.unscored.items():
            grades[i] = g
        return grades

    def _log(self, log_metric: Callable[[str, float], None] | None, scores: list[float | None]) -> None:
        if log_metric is not None and scores:
            unscored = sum(1 for s in scores if s is None)
            log_metric(f"rft/{self.name}/unscored_frac", unscored / len(scores))


class CheckedScores(list):  # type: ignore[type-arg]
    """Scores that a grader builds only from float literals within its range (no None, no NaN).

    Returning one from ``_evaluate`` lets the TRL path skip re-validating every score.
    """

    __slots__ = ()


_TEXT_TYPES = (str, bytes, bytearray)


def _column_length(grader: str, key: str, value: Any, n: int | None) -> int:
    """The length of a TRL argument that must hold one value per completion, or a GraderError.

    A string would be read character by character and a column of another length cannot be paired
    with the completions: both are the caller's mistakes, so they raise instead of scoring.
    """
    want = "a list of completions" if n is None else f"a list of {n}, one value per completion"
    if isinstance(value, _TEXT_TYPES):
        shown = repr(value) if len(value) <= 40 else f"{value[:40]!r}..."
        raise GraderError(
            f"grader {grader!r}: {key!r} is a {type(value).__name__} ({shown}), not one value per completion; "
            f"pass {want}"
        )
    if not isinstance(value, Sequence):
        raise GraderError(f"grader {grader!r}: {key!r} is a {type(value).__name__}, not a sequence; pass {want}")
    size = len(value)
    if n is not None and size != n:
        raise GraderError(
            f"grader {grader!r}: column {key!r} has {size} value{'' if size == 1 else 's'} for {n} completions; "
            f"pass {want}"
        )
    return size


def _all_floats_in(results: Sequence[Result], lo: float, hi: float) -> bool:
    """True if every result is a float in [lo, hi]: three C-speed passes instead of a Python loop."""
    if not results or set(map(type, results)) != {float}:
        return False
    floats = cast("Sequence[float]", results)  # every one is a float: checked just above
    total = sum(floats)  # NaN or inf anywhere makes the sum non-finite
    return math.isfinite(total) and min(floats) >= lo and max(floats) <= hi


def _adopt(batch: Batch, sub: Batch, i: int) -> None:
    """Carry a one-row sub-batch's unscored/fixed marks back to row ``i`` of ``batch``."""
    if 0 in sub.unscored:
        batch.unscored[i] = sub.unscored[0]
    if 0 in sub.fixed:
        batch.fixed[i] = sub.fixed[0]


def _score_of(result: Any) -> float | None:
    if isinstance(result, Grade):
        result = result.score
    if result is None:
        return None
    if isinstance(result, bool):
        return float(result)
    try:
        return float(result)
    except (TypeError, ValueError):
        return math.nan  # not a number: rejected by the range check


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"expected a finite number, got {value!r}", field)
    return float(value)


def _config_value(value: Any) -> Any:
    if isinstance(value, Grader):
        return value.to_config()
    if isinstance(value, Template):
        return value.source
    if isinstance(value, Mapping):
        return {k: _config_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_config_value(v) for v in value]
    return value


def _rebuild(cls: type[Grader], values: dict[str, Any]) -> Grader:
    return cls(**values)


def _combine(op: str, left: Any, right: Any) -> Grader:
    # The one edge from this module up to a composite: arithmetic on graders builds a `multi`,
    # which is itself a Grader, so the import cannot be at the top of this file.
    from rft.graders._compose import combine

    return combine(op, left, right)
