"""Per-row reward routing: a grader rewards only the training rows it was written for.

When ``tune_until`` replays a guard (see :mod:`rft.tuning._until`), one training set mixes the
target's rows with the guard's rows, and each suite's graders must judge only their own rows: a
JSON-extraction grader cannot judge an arithmetic answer, and scoring it 0 there would teach the
model to write JSON when asked a sum. Every row carries its suite's name in the column
:data:`ROUTE_COLUMN`; a :class:`RoutedReward` passes only its suites' rows to the grader and
answers ``None`` ("this function abstains") for the others. TRL leaves ``None`` out of the sum
and logs ``rewards/<name>/mean`` as the mean over the rows the grader judged, so each grader's
reward stays visible in the logs.

>>> from rft import StringCheck
>>> from rft.tuning._rewards import reward_functions
>>> [inner] = reward_functions([StringCheck(name="says_yes", reference="yes", operation="ilike")])
>>> reward = RoutedReward(inner, ["chat"])
>>> reward.__name__, reward(prompts=["a", "b"], completions=["yes", "yes"], rft_route=["chat", "json"])
('says_yes', [1.0, None])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rft._errors import DataError
from rft.tuning._rewards import GraderReward

__all__ = ["ROUTE_COLUMN", "RoutedReward", "route_rewards", "routed_rows", "rows_for"]

#: The dataset column naming the suite a training row belongs to.
ROUTE_COLUMN = "rft_route"

# Keyword arguments TRL passes that are not per-completion columns.
_NOT_COLUMNS = {"trainer_state", "log_extra", "log_metric", "environments"}


class RoutedReward(GraderReward):
    """A run reward that applies ``inner`` only to rows whose route is in ``routes``.

    ``inner`` is a :class:`~rft.tuning.GraderReward`; it keeps its unscored policy and its logs,
    over the rows it judged only, so an abstention is never counted as unscored. Around an async
    reward (a judge) it is async too (``GraderReward.__new__`` picks the class). Picklable: a
    class, not a closure. :func:`~rft.tuning._rewards.reward_functions` passes it through unchanged.
    """

    def __init__(self, inner: Any, routes: Iterable[str]):  # no GraderReward.__init__: the counts are inner's
        self.inner = inner
        self.routes = frozenset(routes)
        self.grader = inner.grader
        self.name = inner.name
        self.__name__ = inner.name
        self.max_unscored_frac = inner.max_unscored_frac
        self.log_reasons = inner.log_reasons

    # The counters are the inner reward's, which saw only this route's rows.
    calls = property(lambda self: self.inner.calls)
    scored = property(lambda self: self.inner.scored)
    unscored = property(lambda self: self.inner.unscored)

    def __repr__(self) -> str:
        return f"RoutedReward({self.inner!r}, routes={sorted(self.routes)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return RoutedReward, (self.inner, sorted(self.routes))

    def _split(self, prompts: Any, completions: Any, kwargs: dict[str, Any]) -> tuple[list[int], dict[str, Any]]:
        n = len(completions)
        route = kwargs.get(ROUTE_COLUMN)
        if route is None:
            raise DataError(
                f"reward {self.name!r} is routed to {sorted(self.routes)} but the batch has no "
                f"{ROUTE_COLUMN!r} column; build the training rows with routed_rows()"
            )
        keep = [i for i, r in enumerate(route) if r in self.routes]
        sub: dict[str, Any] = {}
        for key, value in kwargs.items():
            if key not in _NOT_COLUMNS and isinstance(value, (list, tuple)) and len(value) == n:
                sub[key] = [value[i] for i in keep]
            else:
                sub[key] = value
        sub["prompts"] = [prompts[i] for i in keep] if prompts is not None else None
        sub["completions"] = [completions[i] for i in keep]
        return keep, sub

    async def _acall(self, prompts: Any = None, completions: Any = None, **kwargs: Any) -> list[float | None]:
        n = len(completions)
        keep, sub = self._split(prompts, completions, kwargs)
        out: list[float | None] = [None] * n
        if keep:
            for i, score in zip(keep, await self.inner._acall(**sub)):
                out[i] = score
        return out


def route_rewards(rewards: Sequence[Any], routes: Iterable[str]) -> list[RoutedReward]:
    """Wrap each run reward so it judges only rows of ``routes`` (async rewards stay async)."""
    routes = list(routes)
    return [RoutedReward(r, routes) for r in rewards]


def routed_rows(parts: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """One training set from ``{route: rows}``: every row gets its route in :data:`ROUTE_COLUMN`.

    Columns a part lacks are filled with ``None`` so that ``datasets`` can hold the mix.

    >>> rows = routed_rows({"target": [{"prompt": "p", "name": "Ada"}], "sums": [{"prompt": "q", "answer": "4"}]})
    >>> [(r["rft_route"], r["name"], r["answer"]) for r in rows]
    [('target', 'Ada', None), ('sums', None, '4')]
    """
    out = [{**row, ROUTE_COLUMN: route} for route, rows in parts.items() for row in rows]
    columns: list[str] = []
    for row in out:
        columns += [k for k in row if k not in columns]
    return [{k: row.get(k) for k in columns} for row in out]


def rows_for(reward: Any, rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The rows ``reward`` judges: its routes' rows for a :class:`RoutedReward`, else all of them.

    >>> from rft import StringCheck
    >>> from rft.tuning._rewards import reward_functions
    >>> [inner] = reward_functions([StringCheck(name="says_yes", reference="yes")])
    >>> len(rows_for(RoutedReward(inner, ["chat"]), [{"rft_route": "chat"}, {"rft_route": "json"}]))
    1
    """
    routes = getattr(reward, "routes", None)
    if routes is None:
        return list(rows)
    return [row for row in rows if row.get(ROUTE_COLUMN) in routes]
