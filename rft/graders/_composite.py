"""What every composite grader shares (``multi``, ``all_of``, ``any_of``, ``gate``).

- :class:`Composite`: sub-graders in fields named by ``child_fields``, built from graders or
  configs (config errors carry the path, ``graders.email.operation``); each child grades its own
  view of the batch; composites implement async evaluation only (:meth:`Grader._aevaluate`), and
  sync entry points run it inline;
- asynchrony comes from the children: a composite holding an async grader (a judge) is created as
  its class's :func:`~rft.graders._async.async_twin`, so TRL sees ``async def __call__`` and its
  judges run concurrently; one without stays sync and never touches an event loop;
- formula-safe keys for sub-graders (:func:`sanitize`, :func:`unique_keys`, :func:`fresh_key`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Awaitable, Iterable, Mapping
from typing import Any, ClassVar

from rft._errors import ConfigError
from rft._template import Batch
from rft.graders._async import async_twin, run_inline, sync_class
from rft.graders._base import Grader
from rft.graders._formula import FUNCTIONS
from rft.graders._registry import build_grader, grader_class

__all__ = ["Composite", "build_child", "fresh_key", "live_rows", "sanitize", "score_range", "unique_keys"]


@dataclasses.dataclass(kw_only=True, eq=True, repr=False)
class Composite(Grader):
    """Base class of graders made of sub-graders. Subclasses name their child fields in
    ``child_fields`` and implement :meth:`_aevaluate` with :meth:`_child` and :meth:`_gather`."""

    #: Fields holding sub-graders, and how: ``"one"`` grader, a ``"list"``, or a ``"dict"`` by key.
    child_fields: ClassVar[Mapping[str, str]] = {}

    def __new__(cls, *args: Any, **kwargs: Any) -> Composite:
        # An object's class is fixed when it is made, and TRL reads `async def __call__` from the
        # class: so whether this composite is async is decided here, from its children as given.
        base = sync_class(cls)
        chosen = async_twin(base) if any(_is_async_spec(s) for s in base._child_specs(kwargs)) else base
        return super().__new__(chosen)

    @classmethod
    def _child_specs(cls, values: Mapping[str, Any]) -> list[Any]:
        """The sub-graders (or their configs) in constructor arguments or a config."""
        specs: list[Any] = []
        for field, kind in cls.child_fields.items():
            value = values.get(field)
            if kind == "one" and value is not None:
                specs.append(value)
            elif kind == "list" and isinstance(value, (list, tuple)):
                specs.extend(value)
            elif kind == "dict" and isinstance(value, Mapping):
                specs.extend(value.values())
        return specs

    @classmethod
    def _config_values(cls, values: dict[str, Any], *, trust_code: bool) -> dict[str, Any]:
        """Build the sub-graders of a config, each error carrying its path (``graders.email``)."""
        values = dict(values)
        for field, kind in cls.child_fields.items():
            value = values.get(field)
            if kind == "one" and field in values:
                values[field] = build_child(value, field, trust_code=trust_code)
            elif kind == "list" and isinstance(value, list):
                values[field] = [build_child(v, f"{field}.{i}", trust_code=trust_code) for i, v in enumerate(value)]
            elif kind == "dict" and isinstance(value, Mapping):
                values[field] = {k: build_child(v, f"{field}.{k}", trust_code=trust_code) for k, v in value.items()}
        return values

    def _evaluate(self, batch: Batch, rich: bool) -> list[Any]:
        raise NotImplementedError(f"{type(self).__name__} is a composite: it implements _aevaluate only")

    async def _child(self, child: Grader, batch: Batch, rich: bool) -> list[Any]:
        """Grades (``rich``) or reward floats from ``child``, through the same path as its own API."""
        if self.is_async and not child.is_async:
            # A sync child of an async composite runs in a thread: the loop stays free for judges.
            return await asyncio.to_thread(run_inline, child._agrade(batch, rich))
        return await child._agrade(batch, rich)

    async def _gather(self, calls: Iterable[Awaitable[list[Any]]]) -> list[list[Any]]:
        """Await the children's calls: concurrently when async, one after another (inline) when not."""
        if self.is_async:
            return list(await asyncio.gather(*calls))
        return [await call for call in calls]

    @staticmethod
    def _live(batch: Batch) -> tuple[list[int], Batch]:
        """The rows still to grade (not lost to an over-long output) and a batch of just those."""
        live = live_rows(batch)
        return live, batch if len(live) == batch.n else batch.subset(live)


def _is_async_spec(spec: Any) -> bool:
    """Whether a sub-grader, or the grader a config would build, is async (judges are)."""
    if isinstance(spec, Grader):
        return spec.is_async
    if not isinstance(spec, Mapping):
        return False
    try:
        cls = grader_class(spec.get("type"))
    except ConfigError:
        return False  # building the child raises this error, with its path
    if cls.is_async:
        return True
    return issubclass(cls, Composite) and any(_is_async_spec(s) for s in cls._child_specs(spec))


def build_child(value: Any, path: str, *, trust_code: bool = False) -> Grader:
    """A sub-grader from a :class:`Grader` or a config dict; config errors carry ``path``."""
    if isinstance(value, Grader):
        return value
    if isinstance(value, Mapping):
        try:
            return build_grader(value, trust_code=trust_code)
        except ConfigError as exc:
            raise exc.at(path) from None
    raise ConfigError(
        f"expected a grader or a grader config (a mapping with 'type'), got {type(value).__name__} {value!r}", path
    )


def sanitize(name: str) -> str:
    """A formula-safe key for a grader name: ``"Format check!"`` -> ``"Format_check"``."""
    key = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "grader"
    if key[0].isdigit():
        key = "g_" + key
    if key in FUNCTIONS:
        key += "_grader"
    return key


def unique_keys(graders: Iterable[Grader], taken: Iterable[str] = ()) -> list[str]:
    """One formula-safe key per grader, from its name; repeats get ``_2``, ``_3``, ..."""
    used = set(taken)
    keys = []
    for grader in graders:
        keys.append(fresh_key(sanitize(grader.name), used))
        used.add(keys[-1])
    return keys


def fresh_key(base: str, used: set[str] | Mapping[str, Any]) -> str:
    """``base``, or ``base_2``, ``base_3``... whichever is not in ``used``."""
    if base not in used:
        return base
    n = 2
    while f"{base}_{n}" in used:
        n += 1
    return f"{base}_{n}"


def live_rows(batch: Batch) -> list[int]:
    """Rows the composite still has to grade (not already lost to an over-long output)."""
    if not batch.fixed and not batch.unscored:
        return list(range(batch.n))
    return [i for i in range(batch.n) if i not in batch.fixed and i not in batch.unscored]


def score_range(grader: Grader) -> tuple[float, float]:
    lo, hi = grader.score_range
    return float(lo), float(hi)
