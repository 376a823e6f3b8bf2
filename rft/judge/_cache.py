"""A content-addressed on-disk cache of judge replies (SQLite in WAL mode).

The key is a SHA-256 over the backend's identity, the model, the rendered messages, the sampling
parameters, the verdict schema and the grader version, so a changed prompt, model, endpoint or
parser never reuses a stale reply. What is stored is decided by :func:`rft.judge._engine.ask`: only
replies the grader read as a verdict on its scale; an outage, an empty, refused, unreadable,
off-scale or ambiguous reply is asked again next time, not remembered.
WAL mode lets several training processes read while one writes; writes retry on a busy database.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rft.models import cache_dir

__all__ = ["JudgeCache", "cache_key", "default_cache_path", "message_key"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    created REAL DEFAULT (julianday('now'))
)
"""


def default_cache_path() -> Path:
    """``<rft cache>/judge-cache.sqlite`` (``$RFT_CACHE``, default ``~/.cache/rft``)."""
    return cache_dir() / "judge-cache.sqlite"


def cache_key(backend: str, model: str, messages: Any, params: Any, version: str) -> str:
    """The content address of one judge request.

    >>> k = cache_key("local:m", "m", [("user", "hi")], {}, "score_model/1")
    >>> k == cache_key("local:m", "m", [("user", "hi")], {}, "score_model/1"), len(k)
    (True, 64)
    >>> k == cache_key("local:m", "m", [("user", "hi!")], {}, "score_model/1")
    False
    """
    blob = json.dumps([backend, model, messages, params, version], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def message_key(prefix: str, messages: tuple[tuple[str, str], ...]) -> str:
    """The content address of ``messages`` under a :func:`cache_key` ``prefix`` (backend, model,
    params, version). ``repr`` of a tuple of strings is unambiguous and much cheaper than JSON."""
    return hashlib.sha256(f"{prefix}\x00{messages!r}".encode("utf-8", "surrogatepass")).hexdigest()


class JudgeCache:
    """Replies by content address, in one SQLite file shared by threads and processes.

    >>> import tempfile, os
    >>> c = JudgeCache(os.path.join(tempfile.mkdtemp(), "c.sqlite"))
    >>> c.put_many({"k1": ("Score: 1", 10, 3)})
    >>> c.get_many(["k1", "k2"])
    {'k1': ('Score: 1', 10, 3)}
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path).expanduser()
        self._local = threading.local()
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        # One connection per thread and process (sqlite3 connections must not cross either).
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def get_many(self, keys: Iterable[str]) -> dict[str, tuple[str, int | None, int | None]]:
        keys = list(dict.fromkeys(keys))
        out: dict[str, tuple[str, int | None, int | None]] = {}
        conn = self._conn()
        for start in range(0, len(keys), 500):  # stay under SQLite's bound-parameter limit
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, text, pt, ct in conn.execute(
                f"SELECT key, text, prompt_tokens, completion_tokens FROM replies WHERE key IN ({marks})", chunk
            ):
                out[key] = (text, pt, ct)
        return out

    def put_many(self, entries: Mapping[str, tuple[str, int | None, int | None]]) -> None:
        if not entries:
            return
        conn = self._conn()
        rows = [(k, t, pt, ct) for k, (t, pt, ct) in entries.items()]
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT OR REPLACE INTO replies (key, text, prompt_tokens, completion_tokens) VALUES (?, ?, ?, ?)", rows
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def __len__(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM replies").fetchone()[0]

    def clear(self) -> None:
        self._conn().execute("DELETE FROM replies")

    def __reduce__(self) -> tuple[Any, ...]:
        return (JudgeCache, (str(self.path),))


_OPEN: dict[str, JudgeCache] = {}


def open_cache(path: str | os.PathLike[str]) -> JudgeCache:
    """The process's :class:`JudgeCache` for ``path`` (one per file)."""
    key = str(Path(path).expanduser().resolve())
    cache = _OPEN.get(key)
    if cache is None:
        cache = _OPEN[key] = JudgeCache(key)
    return cache
