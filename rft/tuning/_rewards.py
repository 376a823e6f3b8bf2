"""Graders as TRL reward functions for a tuning run: unique names, reasons, the unscored policy.

An rft grader already is a TRL reward function. For training, :func:`reward_functions` wraps each
one in a small picklable callable that adds what a *run* needs on top of the contract:

- a unique ``__name__`` per grader (TRL silently averages rewards that share a name), so every
  grader gets its own ``rewards/<name>/mean``;
- ``rft/<name>/unscored_frac`` per batch through TRL's ``log_metric``;
- each grader's reason per completion through ``log_extra`` (column ``reason/<name>``) when the
  run logs completions;
- the unscored policy: ``None`` is an abstention (TRL leaves it out of the sum), but when more
  than ``max_unscored_frac`` of a batch is unscored the run stops with
  :class:`TooManyUnscoredError`, naming the grader, the share and the most common reasons,
  instead of training on noise.

Async graders (judges) stay async, so TRL runs them concurrently: ``GraderReward(grader, name)``
around an async grader is created as the class's async twin (:func:`rft.graders._async.async_twin`),
whose ``__call__`` is ``async def``; the work (:meth:`GraderReward._acall`) is written once and
a sync reward drives it inline. Both pickle (AsyncGRPO sends rewards to another process).

>>> from rft import StringCheck
>>> [fmt] = reward_functions([StringCheck(name="tag", reference="<answer>", operation="like")])
>>> fmt.__name__, fmt(prompts=["p", "p"], completions=["<answer>1</answer>", "1"])
('tag', [1.0, 0.0])
"""

from __future__ import annotations

import collections
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rft._errors import ConfigError, GraderError
from rft.graders._async import async_twin, maybe_await, run_inline, sync_class
from rft.graders._base import Grader
from rft.graders._registry import load_grader

__all__ = ["GraderReward", "TooManyUnscoredError", "reward_functions", "reward_weights", "unique_names"]


class TooManyUnscoredError(GraderError):
    """A grader left more of a training batch unscored than the run allows."""


def unique_names(names: Sequence[str]) -> list[str]:
    """``names`` made unique by suffixing repeats ``_2``, ``_3``... (first one kept as is).

    >>> unique_names(["fmt", "correct", "fmt"])
    ['fmt', 'correct', 'fmt_2']
    """
    seen: collections.Counter[str] = collections.Counter()
    taken = set(names)
    out = []
    for name in names:
        seen[name] += 1
        if seen[name] == 1:
            out.append(name)
            continue
        n = seen[name]
        while f"{name}_{n}" in taken:
            n += 1
        out.append(f"{name}_{n}")
        taken.add(out[-1])
    return out


class GraderReward:
    """One grader as a TRL reward function with rft's run policy (see the module docstring).

    ``grader`` is an rft grader or any TRL reward function. Around an async one (a judge, or an
    ``async def`` function) the reward is made async too: ``__call__`` is then ``async def``.
    """

    def __new__(cls, grader: Any = None, *args: Any, **kwargs: Any) -> GraderReward:
        # TRL reads `async def __call__` from the class, so the class is chosen when the reward is
        # made: the async twin around an async grader. (No arguments: unpickling, which restores
        # the class it recorded.)
        base = sync_class(cls)
        return super().__new__(async_twin(base) if _is_async(grader) else base)

    def __init__(
        self,
        grader: Any,
        name: str,
        *,
        max_unscored_frac: float = 0.5,
        log_reasons: bool = False,
    ):
        self.grader = grader
        self.name = name
        self.__name__ = name
        self.max_unscored_frac = max_unscored_frac
        self.log_reasons = log_reasons
        self.calls = 0
        self.scored = 0
        self.unscored = 0

    def __repr__(self) -> str:
        return f"GraderReward({self.name!r}, {self.grader!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Through __new__ again, so an async reward comes back async (its twin class is made at
        # run time and cannot be pickled by name).
        return _rebuild, (sync_class(type(self)), self.grader, self.name, self.__dict__)

    def __call__(
        self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] | None = None, **kwargs: Any
    ) -> list[float | None]:
        return run_inline(self._acall(prompts, completions, **kwargs))

    async def _acall(
        self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] | None = None, **kwargs: Any
    ) -> list[float | None]:
        """The work, once for the sync and the async reward."""
        log_metric = kwargs.pop("log_metric", None)
        log_extra = kwargs.pop("log_extra", None)
        step = getattr(kwargs.get("trainer_state"), "global_step", None)
        rft = isinstance(self.grader, Grader)
        reasons = None
        if rft and log_extra is not None and self.log_reasons:
            grades = await self._grades(prompts, completions, kwargs)
            scores: list[Any] = [g.score for g in grades]
            reasons = [g.reason for g in grades]
            log_extra(f"reason/{self.name}", reasons)
        elif rft:
            scores = list(await maybe_await(self.grader(prompts=prompts, completions=completions, **kwargs)))
        else:  # a hand-written TRL reward function: TRL's helpers pass through as TRL would
            helpers = {k: v for k, v in (("log_metric", log_metric), ("log_extra", log_extra)) if v is not None}
            call = self.grader(prompts=prompts, completions=completions, **kwargs, **helpers)
            scores = list(await maybe_await(call))
        n = len(scores)
        unscored = sum(1 for s in scores if s is None)
        self.calls += 1
        self.scored += n - unscored
        self.unscored += unscored
        if log_metric is not None and n:
            log_metric(f"rft/{self.name}/unscored_frac", unscored / n)
        if n and unscored / n > self.max_unscored_frac:
            if reasons is None and rft:
                reasons = [g.reason for g in await self._grades(prompts, completions, kwargs)]
            raise TooManyUnscoredError(self._message(unscored, n, step, scores, reasons))
        return scores

    async def _grades(self, prompts: Any, completions: Any, kwargs: dict[str, Any]) -> list[Any]:
        """The rft grader's Grades for this batch (reasons for the log and for the stop message)."""
        batch, _ = self.grader._trl_batch(prompts, completions, dict(kwargs))
        return await self.grader._agrade(batch, rich=True)  # type: ignore[no-any-return]

    def _message(self, unscored: int, n: int, step: int | None, scores: list[Any], reasons: list[str] | None) -> str:
        where = f" at step {step}" if step is not None else ""
        text = (
            f"grader {self.name!r} could not score {unscored} of {n} completions ({unscored / n:.0%}){where}, "
            f"over max_unscored_frac={self.max_unscored_frac:g}; stopping instead of training on noise."
        )
        if reasons:
            common = collections.Counter(r for s, r in zip(scores, reasons) if s is None).most_common(3)
            text += " Most common reasons: " + "; ".join(f"{r!r} x{c}" for r, c in common) + "."
        text += (
            " Fix the data or the grader (rft validate GRADER --data ROWS), bring the judge server up, "
            "or raise TuneConfig.max_unscored_frac to train on the scored rest."
        )
        return text


def _rebuild(cls: type[GraderReward], grader: Any, name: str, state: dict[str, Any]) -> GraderReward:
    reward = cls(grader, name)
    reward.__dict__.update(state)
    return reward


def _is_async(fn: Any) -> bool:
    """Whether calling ``fn`` returns a coroutine (TRL's ``is_async_callable``, plus rft's flag)."""
    if getattr(fn, "is_async", False) or inspect.iscoroutinefunction(fn):
        return True
    # A callable object whose __call__ is ``async def`` (looked up on the type, as a call does).
    return callable(fn) and inspect.iscoroutinefunction(type(fn).__call__)


def _as_grader(spec: Any, index: int) -> Any:
    if callable(spec):
        return spec
    if isinstance(spec, (str, Mapping)) or hasattr(spec, "__fspath__"):
        try:
            return load_grader(spec)
        except ConfigError as exc:
            raise exc.at(f"graders.{index}") from None
    raise ConfigError(
        f"expected a grader, a grader config or a catalogue name, got {type(spec).__name__}", f"graders.{index}"
    )


def _name_of(fn: Any) -> str:
    return str(getattr(fn, "name", None) or getattr(fn, "__name__", None) or type(fn).__name__)


def reward_functions(
    graders: Any, *, max_unscored_frac: float = 0.5, log_reasons: bool = False
) -> list[GraderReward]:
    """Wrap graders (objects, config dicts, catalogue names or plain TRL reward functions) for training."""
    if not isinstance(graders, (list, tuple)):
        graders = [graders]
    if not graders:
        raise ConfigError("tuning needs at least one grader", "graders")
    built = [_as_grader(g, i) for i, g in enumerate(graders)]
    names = unique_names([_name_of(g) for g in built])
    out: list[GraderReward] = []
    for grader, name in zip(built, names):
        if isinstance(grader, GraderReward):  # already a run reward (e.g. a routed one): keep its own policy
            out.append(grader)
            continue
        out.append(GraderReward(grader, name, max_unscored_frac=max_unscored_frac, log_reasons=log_reasons))
    return out


def reward_weights(rewards: Sequence[GraderReward], weights: Any) -> list[float] | None:
    """Weights in reward order from ``None``, a list, or a ``{name: weight}`` mapping (missing names: 1).

    >>> from rft import StringCheck
    >>> rs = reward_functions([StringCheck(name="a"), StringCheck(name="b")])
    >>> reward_weights(rs, {"b": 0.5})
    [1.0, 0.5]
    """
    if weights is None:
        return None
    names = [r.name for r in rewards]
    if isinstance(weights, Mapping):
        unknown = [k for k in weights if k not in names]
        if unknown:
            raise ConfigError(f"weights name unknown graders {unknown}; graders: {names}", "weights")
        values = [weights.get(n, 1.0) for n in names]
    else:
        values = list(weights)
        if len(values) != len(names):
            raise ConfigError(f"{len(values)} weights for {len(names)} graders ({names})", "weights")
    for n, w in zip(names, values):
        if isinstance(w, bool) or not isinstance(w, (int, float)):
            raise ConfigError(f"weight of {n!r} must be a number, got {w!r}", f"weights.{n}")
    return [float(w) for w in values]


def weighted(scores_by_grader: Sequence[Sequence[float | None]], weights: Sequence[float] | None) -> list[float | None]:
    """TRL's combined reward per sample: weighted sum of the scored values; None when all abstain."""
    n = len(scores_by_grader[0]) if scores_by_grader else 0
    ws = list(weights) if weights is not None else [1.0] * len(scores_by_grader)
    out: list[float | None] = []
    for i in range(n):
        vals = [w * v for w, col in zip(ws, scores_by_grader) if (v := col[i]) is not None]
        out.append(sum(vals) if vals else None)
    return out


Callback = Callable[..., Any]
