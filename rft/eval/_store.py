"""Runs that lose nothing: results stream to JSONL, re-runs resume, the summary is written atomically.

A run folder holds

- ``run.json``: what the run is (data fingerprint, graders, target, sampling settings), written
  atomically at the start; a resumed run must match it;
- ``results.jsonl``: one record per item x sample x grader, appended and flushed as soon as the
  grade exists, so a killed process loses at most the line being written (a torn last line is
  dropped on resume);
- ``report.json``: the finished :class:`~rft.eval.Report`, written atomically (temp file + rename).

>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> store = ResultStore(folder, fingerprint={"graders": ["g"]})
>>> store.append([{"key": ["0", 0, "g"], "grade": {"score": 1.0}}])
>>> sorted(ResultStore(folder, fingerprint={"graders": ["g"]}).done)
[('0', 0, 'g')]
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rft._errors import ConfigError, DataError

__all__ = ["ResultStore", "atomic_write_text"]

RESULTS = "results.jsonl"
RUN = "run.json"
REPORT = "report.json"

Key = tuple[str, int, str]


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class ResultStore:
    """The results of one run folder; opening it reads what is already done.

    ``resume=False`` discards earlier results in the folder. A folder written by a *different*
    run (other data, graders, target or sampling) is refused with a :class:`~rft.ConfigError`
    rather than mixed in.
    """

    def __init__(self, folder: str | os.PathLike[str], *, fingerprint: Mapping[str, Any], resume: bool = True):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.results_path = self.folder / RESULTS
        self.report_path = self.folder / REPORT
        run_path = self.folder / RUN
        fingerprint = json.loads(json.dumps(fingerprint, sort_keys=True, default=str))
        self.done: dict[Key, dict[str, Any]] = {}
        if resume and run_path.is_file():
            try:
                old = json.loads(run_path.read_text(encoding="utf-8"))
            except ValueError:
                old = None
            if old is not None and old != fingerprint:
                differs = sorted(k for k in set(old) | set(fingerprint) if old.get(k) != fingerprint.get(k))
                raise ConfigError(
                    f"{self.folder} holds results of a different run (differs in: {', '.join(differs)}); "
                    "choose another output folder, or pass resume=False (rft eval --no-resume) to start over",
                    "out",
                )
            if self.results_path.is_file():
                self._load()
        else:
            for stale in (self.results_path, self.report_path):
                if stale.exists():
                    stale.unlink()
        atomic_write_text(run_path, json.dumps(fingerprint, indent=1, sort_keys=True))
        self._handle = self.results_path.open("a", encoding="utf-8")

    def _load(self) -> None:
        raw = self.results_path.read_bytes()
        end = raw.rfind(b"\n") + 1
        if end < len(raw):
            # A torn last line (the process died mid-write): cut it off before appending again.
            with self.results_path.open("r+b") as f:
                f.truncate(end)
        for lineno, line in enumerate(raw[:end].split(b"\n"), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                key = (str(record["key"][0]), int(record["key"][1]), str(record["key"][2]))
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                raise DataError(
                    f"{self.results_path}:{lineno}: not a result record ({exc}); the file is corrupt — "
                    "delete it or run with resume=False"
                ) from None
            self.done.setdefault(key, record)

    def append(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Append records (each with a ``key``) and flush them to the OS right away."""
        if not records:
            return
        lines = "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in records)
        self._handle.write(lines)
        self._handle.flush()
        for r in records:
            key = (str(r["key"][0]), int(r["key"][1]), str(r["key"][2]))
            self.done.setdefault(key, dict(r))

    def write_report(self, text: str) -> None:
        atomic_write_text(self.report_path, text)

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
