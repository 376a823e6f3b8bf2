"""Sending judge requests: identical requests once, cache first, only verdicts cached.

The cache rule users can rely on: a reply is stored only when the caller's ``keep`` accepts it
(the judge graders accept a reply that parsed into a verdict on the declared scale), never a
failed call; ``fresh`` requests (sampled at temperature > 0 without a seed) skip the cache and
are sent once per row, identical or not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rft._grade import Grade
from rft.judge._backends import Backend, JudgeReply, JudgeRequest
from rft.judge._cache import JudgeCache, cache_key, message_key

__all__ = ["ask", "judge_stats"]


async def ask(
    backend: Backend,
    requests: Sequence[JudgeRequest],
    *,
    cache: JudgeCache | None,
    version: str,
    keep: Callable[[int, str], bool] | None = None,
    fresh: bool = False,
) -> list[JudgeReply]:
    """One reply per request.

    Duplicates inside ``requests`` are sent once; cached replies cost no backend call. A reply is
    written to the cache only when it is a successful call and ``keep(index, text)`` (``index``
    into ``requests``) is true, or ``keep`` is None. With ``fresh`` every request is sent as is:
    no cache read or write, no de-duplication.
    """
    if not requests:
        return []
    identity = backend.identity()
    if fresh:
        fresh_replies = await backend.complete(list(requests))
        _check_count(identity, fresh_replies, requests)
        return list(fresh_replies)
    prefixes: dict[tuple[str, int, str], str] = {}  # requests of one grader share model, params and schema
    keys = []
    for r in requests:
        slot = (r.model, id(r.params), r.schema)
        prefix = prefixes.get(slot)
        if prefix is None:
            prefix = prefixes[slot] = cache_key(identity, r.model, None, [r.params, r.schema], version)
        keys.append(message_key(prefix, r.messages))
    unique: dict[str, int] = {}
    for index, key in enumerate(keys):
        unique.setdefault(key, index)
    replies: dict[str, JudgeReply] = {}
    if cache is not None:
        start = time.perf_counter()
        found = cache.get_many(unique)
        latency = (time.perf_counter() - start) / max(1, len(found))
        for key, (text, pt, ct) in found.items():
            replies[key] = JudgeReply(text, prompt_tokens=pt, completion_tokens=ct, latency_s=latency,
                                      attempts=0, cache_hit=True)
    missing = [k for k in unique if k not in replies]
    if missing:
        fresh_replies = await backend.complete([requests[unique[k]] for k in missing])
        _check_count(identity, fresh_replies, missing)
        replies.update(zip(missing, fresh_replies))
        if cache is not None:
            cache.put_many({k: (r.text, r.prompt_tokens, r.completion_tokens)
                            for k, r in zip(missing, fresh_replies)
                            if r.error is None and r.text is not None and (keep is None or keep(unique[k], r.text))})
    out: list[JudgeReply] = []
    seen: set[str] = set()
    for key in keys:
        reply = replies[key]
        if key in seen:  # a duplicate inside this batch: same answer, no second call
            reply = JudgeReply(reply.text, reply.error, reply.reason, reply.prompt_tokens, reply.completion_tokens,
                               0.0, 0, True)
        seen.add(key)
        out.append(reply)
    return out


def _check_count(identity: str, replies: Sequence[JudgeReply], sent: Sequence[Any]) -> None:
    if len(replies) != len(sent):
        raise RuntimeError(f"backend {identity} returned {len(replies)} replies for {len(sent)} requests")


def judge_stats(grades: Iterable[Grade]) -> dict[str, Any]:
    """Summarise judge grades: how many, cache hits, backend calls, latency, tokens, unscored kinds.

    >>> from rft import Grade
    >>> judge_stats([Grade(1.0, details={"cache_hit": True, "latency_s": 0.0, "prompt_tokens": 10}),
    ...              Grade.unscored_because("down", error="unavailable", cache_hit=False, latency_s=2.0)])["cache_hits"]
    1
    """
    grades = list(grades)
    judged = [g for g in grades if "cache_hit" in g.details]
    hits = sum(1 for g in judged if g.details.get("cache_hit"))
    latencies = [g.details["latency_s"] for g in judged if not g.details.get("cache_hit") and "latency_s" in g.details]
    unscored: dict[str, int] = {}
    for g in grades:
        if g.score is None:
            kind = g.details.get("error", "unscored")
            unscored[kind] = unscored.get(kind, 0) + 1
    return {
        "n": len(grades),
        "cache_hits": hits,
        "cache_hit_rate": hits / len(judged) if judged else 0.0,
        "backend_calls": len(judged) - hits,
        "latency_s_mean": sum(latencies) / len(latencies) if latencies else None,
        "prompt_tokens": sum(g.details.get("prompt_tokens") or 0 for g in judged),
        "completion_tokens": sum(g.details.get("completion_tokens") or 0 for g in judged),
        "unscored": unscored,
    }
