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

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from rft._errors import ConfigError, DataError

__all__ = ["ResultStore", "atomic_dir", "atomic_write_text"]

RESULTS = "results.jsonl"
RUN = "run.json"
REPORT = "report.json"

Key = tuple[str, int, str]


def _unique_sibling(path: Path) -> Path:
    return path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half.

    The file gets the mode any new file gets (``0o666`` less the umask: 0644 under umask 022),
    not the owner-only 0600 of :func:`tempfile.mkstemp`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = _unique_sibling(path)
        try:
            # O_EXCL as mkstemp does; mode 0o666 so that the kernel applies the umask.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:  # pragma: no cover - 48 random bits collided
            continue
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


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Fill a folder that appears at ``path`` only once complete (a model folder, say).

    Yields a new empty folder beside ``path``; when the block ends without an error the folder
    replaces ``path`` (an existing ``path`` is removed first), otherwise it is deleted. The folder
    gets the mode any new folder gets (0755 under umask 022), not :func:`tempfile.mkdtemp`'s 0700.

    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "model"
    >>> with atomic_dir(target) as tmp:
    ...     _ = (tmp / "config.json").write_text("{}")
    >>> sorted(p.name for p in target.iterdir())
    ['config.json']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = _unique_sibling(path)
        try:
            os.mkdir(tmp, 0o777)  # the kernel applies the umask
            break
        except FileExistsError:  # pragma: no cover - 48 random bits collided
            continue
    try:
        yield tmp
        _umask_modes(tmp)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _umask_modes(folder: Path) -> None:
    """Give files that a library wrote owner-only (via mkstemp; transformers does so for weights)
    the mode a new file gets here. The umask is read from a probe file, since reading it with
    ``os.umask`` means setting it, which races with other threads."""
    probe = folder / f".mode-probe-{secrets.token_hex(4)}"
    os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    file_mode = probe.stat().st_mode & 0o777
    probe.unlink()
    for child in folder.rglob("*"):
        if child.is_file() and not child.is_symlink():
            mode = child.stat().st_mode & 0o777
            if mode | file_mode != mode:  # stricter than the umask asks for
                child.chmod(mode | file_mode)


def _changed_graders(old: Any, new: Any) -> str:
    """``"; graders that differ: 'g' (its code changed)"`` when both runs name their graders."""
    if not isinstance(old, Mapping) or not isinstance(new, Mapping) or old == new:
        return ""
    parts = []
    for name in sorted(set(old) | set(new), key=str):
        a, b = old.get(name), new.get(name)
        if a == b:
            continue
        if a is None or b is None:
            parts.append(f"{name!r} ({'added' if a is None else 'removed'})")
        elif isinstance(a, Mapping) and isinstance(b, Mapping) and {**a, "code": None} == {**b, "code": None}:
            parts.append(f"{name!r} (its code changed)")
        else:
            parts.append(f"{name!r}")
    return "; graders that differ: " + ", ".join(parts)


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
                    f"{self.folder} holds results of a different run (differs in: {', '.join(differs)})"
                    f"{_changed_graders(old.get('graders'), fingerprint.get('graders'))}; "
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

    def __enter__(self) -> ResultStore:  # noqa: PYI034 - typing.Self needs Python 3.11
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
