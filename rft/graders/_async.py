"""Sync and async written once.

Graders and the reward adapter do their work in coroutines, written once; sync entry points
(``grade``, ``grade_batch``, a sync ``__call__``) drive those same coroutines:

- work that never waits on I/O (every rule grader, and any composite of them) never suspends, so
  :func:`run_inline` runs its coroutine to the end in the caller's thread, with no event loop
  and no thread hop: TRL's reward path stays a few function calls;
- work that waits on I/O (a judge, or a composite holding one) runs on one long-lived background
  loop through :func:`run_sync`, which also works inside Jupyter's running loop.

TRL awaits a reward concurrently with its other async rewards only when the reward's *class* has
``async def __call__``. :class:`AsyncCall` is that face: a class mixes it in front to make its
``__call__`` await ``self._acall(...)``. Objects whose asynchrony depends on what they hold (a
composite holding a judge, the reward adapter around one) are created as their class's
:func:`async_twin`, chosen in ``__new__``: an object's class is fixed when it is made, never
swapped afterwards.

>>> async def double(x):
...     return 2 * x
>>> run_inline(double(21))  # never suspends: no event loop needed
42
>>> run_sync(double(21))  # runs on the background loop
42
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Coroutine
from typing import Any, ClassVar, TypeVar

from rft._errors import GraderError

__all__ = ["AsyncCall", "async_twin", "maybe_await", "run_inline", "run_sync", "sync_class"]

T = TypeVar("T")
C = TypeVar("C", bound=type)


def run_inline(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends to its end, here and now, without an event loop.

    Rule graders and composites of them are written as coroutines but await nothing that waits,
    so one ``send`` finishes them. Hand-written because asyncio has no loop-free driver; this is
    the generator protocol that ``await`` is built on.
    """
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise GraderError(
        "a grader's coroutine waited on I/O but its class is not async; mix rft.graders._async.AsyncCall "
        "in front of its bases (as judges do) so that it runs on an event loop"
    )


_loop_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="rft-async", daemon=True).start()
        return _loop


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, also inside Jupyter's running loop.

    One long-lived background loop serves every call, so clients bound to a loop (HTTP
    connection pools) stay valid between calls.
    """
    return asyncio.run_coroutine_threadsafe(coro, _background_loop()).result()


async def maybe_await(value: T | Awaitable[T]) -> T:
    """``value``, awaited first if it is awaitable (what an unknown reward function returned)."""
    if inspect.isawaitable(value):
        return await value  # type: ignore[no-any-return]
    return value  # type: ignore[return-value]


class AsyncCall:
    """Mixed in front of a class whose ``_acall`` waits on I/O: ``__call__`` becomes ``async def``.

    TRL then awaits it concurrently with its other async rewards; the sync class's ``__call__``
    drives the same ``_acall`` with :func:`run_inline` instead.
    """

    is_async: ClassVar[bool] = True

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return await self._acall(*args, **kwargs)  # type: ignore[attr-defined]


_TWINS: dict[type, type] = {}


def async_twin(cls: C) -> C:
    """``cls`` with :class:`AsyncCall` in front: the same class, with an async ``__call__``.

    Made once per class and cached; ``sync_class`` leads back. Instances pickle through their
    class's own ``__reduce__``, which rebuilds them from ``sync_class(...)``.
    """
    if getattr(cls, "is_async", False):
        return cls
    twin = _TWINS.get(cls)
    if twin is None:
        names = {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__}
        made = type(cls.__name__, (AsyncCall, cls), {**names, "_sync_class": cls})
        twin = _TWINS.setdefault(cls, made)  # atomic: two threads racing keep one twin
    return twin  # type: ignore[return-value]


def sync_class(cls: C) -> C:
    """The class an :func:`async_twin` was made from (``cls`` itself for any other class)."""
    return cls.__dict__.get("_sync_class", cls)  # type: ignore[no-any-return]
