"""Run one function of untrusted Python source in worker processes, bounded in time and memory.

The ``python`` grader runs the ``source`` of a config here; any other feature that must run code
it did not write can reuse :class:`Sandbox`. What each worker gets:

- a fresh interpreter (``python -I`` running :mod:`rft.graders._sandbox_worker`) in a new session, with a clean, minimal
  environment (the parent's secrets are not visible) and a fresh temporary working directory that
  is deleted when the worker ends;
- resource limits set in the child before any user code runs: ``RLIMIT_CPU`` (per call),
  ``RLIMIT_AS`` (``memory_mb``), ``RLIMIT_FSIZE``, ``RLIMIT_NOFILE``, ``RLIMIT_NPROC`` and no core
  files. Root ignores ``RLIMIT_NPROC``, so a worker started by root drops to an unprivileged user
  (``nobody``) before running user code; that also keeps files outside its directory out of reach;
- a wall-clock deadline per call (``timeout``), enforced by the parent, which kills the worker's
  whole process group and starts a fresh worker for the next call;
- results over a private pipe, as length-prefixed JSON carrying a per-worker secret token, parsed
  strictly by the parent. The user code's stdout and stderr go to ``/dev/null``, so a fake result
  printed there is never read, and the worker captures every function it needs before importing the
  user code, so monkeypatching ``json``, ``os`` or ``builtins`` does not reach its own machinery.

Each worker is two processes: a small *supervisor* (the session leader, a child subreaper) and
the worker proper in its own process group. The supervisor reaps everything the user code forks,
kills the group when the worker ends, and reports how the worker ended; this matters where the
init process does not reap orphans (containers), which would otherwise fill up with zombies.

The guarantees are against accidents and against hostile *inputs* (completions) reaching trusted
code: code that sets out to defeat the sandbox from inside (reading the token from memory, killing
its supervisor) can. That is why configs carrying code load only with ``trust_code=True``.

>>> from rft.graders._sandbox import Sandbox
>>> with Sandbox("def grade(sample, item):\\n    return len(sample) / 10", timeout=10) as box:
...     [o.value for o in box.call_many([("abc", {}), ("abcdefghij", {})])]
[0.3, 1.0]
"""

from __future__ import annotations

import ast
import dataclasses
import json
import math
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeGuard, cast

__all__ = ["DEFAULT_TIMEOUT", "DEFAULT_WORKERS", "MAX_SOURCE_BYTES", "Outcome", "Sandbox", "defines_function"]

#: Seconds one call may take (wall clock) before its worker is killed.
DEFAULT_TIMEOUT = 5.0
#: Worker processes per sandbox.
DEFAULT_WORKERS = min(2, os.cpu_count() or 1)
#: Largest source accepted (OpenAI's limit for python graders).
MAX_SOURCE_BYTES = 256 * 1024

# Largest message the parent accepts from a worker; results are a few hundred bytes.
_MAX_MESSAGE = 1 << 20
# Startup failures (not load errors) tolerated within one batch before its rows are given up.
_MAX_START_FAILURES = 3

# The program each worker runs, a module of its own so that linters and coverage see it. It is
# run by path (``python -I <file>``): it must not need rft importable in the worker's clean
# environment, and ``-I`` keeps its folder off ``sys.path``.
_WORKER = str(Path(__file__).with_name("_sandbox_worker.py"))


# --------------------------------------------------------------------------------------------
# Public API


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one call produced: a finite ``value``, or ``value=None`` with an ``error`` kind.

    ``error`` is ``"timeout"`` (the wall-clock deadline passed; the worker was killed),
    ``"crash"`` (the function raised, called ``sys.exit``, or the worker died: segfault, memory
    or CPU limit, ``os._exit``) or ``"invalid_result"`` (the function returned something that is
    not a finite number, or the worker sent a malformed message). ``details`` holds the exception
    name, a traceback tail, or how the worker ended.
    """

    value: float | None
    error: str | None = None
    reason: str = ""
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


def defines_function(tree: ast.Module, name: str) -> bool:
    """True when module ``tree`` binds ``name`` at top level (def, assignment, import or class),
    also inside top-level ``if``/``try``/``with``/``for`` blocks, never inside a function or class.

    >>> defines_function(ast.parse("def grade(sample, item):\\n    return 1.0"), "grade")
    True
    >>> defines_function(ast.parse("class A:\\n    def grade(self): pass"), "grade")
    False
    """
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name == name:
                return True
            continue
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(n, ast.Name) and n.id == name for t in targets for n in ast.walk(t)):
                return True
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any((a.asname or a.name.split(".")[0]) == name or a.name == "*" for a in node.names):
                return True
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.NamedExpr):
            if node.value.target.id == name:
                return True
        for field in ("body", "orelse", "finalbody", "handlers"):
            stack.extend(getattr(node, field, None) or [])
    return False


class Sandbox:
    """Call ``function`` from ``source`` in a small pool of sandboxed worker processes.

    ``call_many`` runs its calls in parallel across ``workers`` processes; each call returns an
    :class:`Outcome` and never raises: a call that hangs, crashes or returns garbage is reported
    as such and its worker replaced, and the other calls go on. Arguments travel as JSON (values
    JSON cannot hold are converted: arrays to lists, dates to ISO strings, anything else to
    ``str``). Workers start on first use, are reused between calls, and end on :meth:`close`,
    when the sandbox is garbage-collected, or when the interpreter exits.

    ``user`` is the account the worker runs as: ``"auto"`` drops to ``nobody`` when started as
    root (so ``RLIMIT_NPROC`` applies and the filesystem is protected) and keeps the current
    user otherwise; ``None`` never changes user; an int is a uid to switch to (root only).

    Raises :class:`SyntaxError` if the source does not compile and :class:`ValueError` if it is
    too large or binds no ``function`` at top level.
    """

    def __init__(
        self,
        source: str,
        *,
        function: str = "grade",
        filename: str = "<grader source>",
        timeout: float = DEFAULT_TIMEOUT,
        memory_mb: int = 2048,
        workers: int | None = None,
        max_file_mb: int = 256,
        max_open_files: int = 64,
        max_processes: int = 64,
        user: str | int | None = "auto",
        startup_timeout: float = 30.0,
    ):
        if not isinstance(source, str):
            raise TypeError(f"source must be a string, got {type(source).__name__}")
        size = len(source.encode("utf-8", "surrogatepass"))
        if size > MAX_SOURCE_BYTES:
            raise ValueError(f"source is {size} bytes, over the {MAX_SOURCE_BYTES}-byte limit")
        tree = ast.parse(source, filename)
        if not defines_function(tree, function):
            raise ValueError(f"source defines no top-level {function}() function")
        if os.name != "posix":
            raise OSError("the sandbox needs a POSIX system (fork, resource limits, process groups)")
        if not sys.executable:
            raise OSError("sys.executable is empty: cannot start sandbox workers from this interpreter")
        if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.source = source
        self.function = function
        self.timeout = float(timeout)
        self.workers = workers or DEFAULT_WORKERS
        uid, gid = _target_user(user)
        cpu_call = int(math.ceil(self.timeout)) + 1
        limits = {
            "as": int(memory_mb) * 1024 * 1024 if memory_mb else None,
            "fsize": int(max_file_mb) * 1024 * 1024 if max_file_mb else None,
            "nofile": int(max_open_files) if max_open_files else None,
            "nproc": int(max_processes) if max_processes else None,
            "cpu_call": cpu_call,
            "cpu_total": max(600, 20 * cpu_call),
        }
        self._pool = _Pool(
            source=source,
            function=function,
            filename=filename,
            timeout=self.timeout,
            startup_timeout=max(float(startup_timeout), self.timeout),
            size=self.workers,
            limits=limits,
            uid=uid,
            gid=gid,
        )
        self._finalizer = weakref.finalize(self, self._pool.shutdown)

    def call(self, *args: Any) -> Outcome:
        """Call the function once with ``args``."""
        return self.call_many([args])[0]

    def call_many(self, calls: Sequence[Sequence[Any]]) -> list[Outcome]:
        """Call the function once per argument tuple, in parallel across the workers."""
        payloads: list[bytes | Outcome] = []
        for args in calls:
            try:
                payloads.append(
                    json.dumps(list(args), default=_to_json, ensure_ascii=False, separators=(",", ":")).encode(
                        "utf-8", "surrogatepass"
                    )
                )
            except (TypeError, ValueError, RecursionError) as exc:
                payloads.append(
                    Outcome(None, "crash", f"arguments cannot be sent to the sandbox as JSON: {exc}", {})
                )
        return self._pool.run(payloads)

    def start(self) -> None:
        """Start one worker now and raise :class:`RuntimeError` if the source fails to load there."""
        problem = self._pool.start_one()
        if problem is not None:
            raise RuntimeError(problem)

    def close(self) -> None:
        """Stop every worker and delete their directories (also done on garbage collection).

        A closed sandbox may be used again: it starts fresh workers.
        """
        self._pool.shutdown()

    @property
    def pids(self) -> list[int]:
        """Process ids (each also a session id) of every worker supervisor started so far."""
        return list(self._pool.started)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __reduce__(self) -> Any:
        raise TypeError("a Sandbox holds worker processes and cannot be pickled; pickle what built it")


# --------------------------------------------------------------------------------------------
# Parent side


def _to_json(value: Any) -> Any:
    """Fallback for values ``json`` cannot encode: arrays, scalars, dates, bytes, sets."""
    for method in ("tolist", "item", "isoformat"):
        fn = getattr(value, method, None)
        if callable(fn):
            try:
                return fn()
            except Exception:
                pass
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Sequence):
        return list(value)
    return str(value)


def _target_user(user: str | int | None) -> tuple[int | None, int | None]:
    if user is None:
        return None, None
    if user == "auto":
        if not hasattr(os, "geteuid") or os.geteuid() != 0:
            return None, None
        user = "nobody"
    if isinstance(user, str):
        try:
            import pwd

            entry = pwd.getpwnam(user)
            return entry.pw_uid, entry.pw_gid
        except (ImportError, KeyError):
            if user == "nobody":
                return 65534, 65534
            raise ValueError(f"no user named {user!r} on this system") from None
    if isinstance(user, int) and not isinstance(user, bool) and user >= 0:
        if os.geteuid() != 0:
            raise ValueError(f"only root can run sandbox workers as uid {user}")
        return user, user
    raise ValueError(f"user must be 'auto', None, a user name or a uid, got {user!r}")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


_SIGNAL_HINTS = {
    "SIGXCPU": "its CPU time limit",
    "SIGKILL": "the CPU or memory limit, or the OOM killer",
    "SIGSEGV": "a segmentation fault: memory exhaustion in C code, or deep recursion",
    "SIGABRT": "an abort: a failed allocation or assertion in C code",
    "SIGXFSZ": "its file size limit",
}

_STARTING, _IDLE, _BUSY, _DEAD = "starting", "idle", "busy", "dead"


class _Worker:
    """The parent's view of one worker: its pipes, state and the call in flight."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.worker_pid: int | None = None
        self.rfd = -1  # results (read end)
        self.wfd = -1  # requests (write end of the worker's stdin)
        self.life = -1  # lifeline: closing it tells the supervisor to end the worker
        self.tmpdir = ""
        self.token = secrets.token_hex(16)
        self.state = _STARTING
        self.inbuf = bytearray()
        self.outbuf = b""
        self.row = -1
        self.call_id = 0
        self.deadline = 0.0
        self.retiring = False
        self.exit_reason = ""


class _Pool:
    """Worker processes of one sandbox, and the event loop that feeds them calls."""

    def __init__(
        self,
        *,
        source: str,
        function: str,
        filename: str,
        timeout: float,
        startup_timeout: float,
        size: int,
        limits: dict[str, Any],
        uid: int | None,
        gid: int | None,
    ):
        self.source, self.function, self.filename = source, function, filename
        self.timeout, self.startup_timeout, self.size = timeout, startup_timeout, max(1, int(size))
        self.limits, self.uid, self.gid = limits, uid, gid
        self.workers: list[_Worker] = []
        self.started: list[int] = []  # supervisor pids (= session ids), for diagnostics and tests
        self.dirs: list[str] = []  # every working directory made, likewise
        self.owner = os.getpid()
        self.lock = threading.Lock()
        self.next_id = 0
        self.closed = False

    # ---------------------------------------------------------------------------- lifecycle

    def _launch(self) -> _Worker:
        w = _Worker()
        w.tmpdir = tempfile.mkdtemp(prefix="rft-sandbox-")
        self.dirs.append(w.tmpdir)
        res_r = res_w = life_r = -1
        try:
            if self.uid is not None:
                os.chown(w.tmpdir, self.uid, self.gid if self.gid is not None else self.uid)
            res_r, res_w = os.pipe()
            life_r, w.life = os.pipe()
            env = {
                "PATH": os.defpath,
                "HOME": w.tmpdir,
                "TMPDIR": w.tmpdir,
                "LANG": "C.UTF-8",
                "LC_ALL": "C.UTF-8",
                "OMP_NUM_THREADS": "1",
                "OPENBLAS_NUM_THREADS": "1",
                "MKL_NUM_THREADS": "1",
            }
            w.proc = subprocess.Popen(
                [sys.executable, "-I", _WORKER],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(res_w, life_r),
                cwd=w.tmpdir,
                env=env,
                start_new_session=True,
            )
        except BaseException:
            for fd in (res_r, res_w, life_r, w.life):
                if fd >= 0:
                    os.close(fd)
            shutil.rmtree(w.tmpdir, ignore_errors=True)
            raise
        os.close(res_w)
        os.close(life_r)
        self.started.append(w.proc.pid)
        w.rfd = res_r
        assert w.proc.stdin is not None
        w.wfd = w.proc.stdin.fileno()
        os.set_blocking(w.rfd, False)
        os.set_blocking(w.wfd, False)
        config = {
            "token": w.token,
            "result_fd": res_w,
            "life_fd": life_r,
            "source": self.source,
            "filename": self.filename,
            "function": self.function,
            "limits": self.limits,
            "uid": self.uid,
            "gid": self.gid,
            "nproc_relative": self.uid is None,
        }
        w.outbuf = _frame(json.dumps(config).encode("utf-8", "surrogatepass"))
        w.state = _STARTING
        w.deadline = time.monotonic() + self.startup_timeout
        self.workers.append(w)
        return w

    def _kill(self, w: _Worker) -> None:
        """End worker ``w`` now: kill its process group, let its supervisor reap, clean up."""
        if w.state == _DEAD:
            return
        w.state = _DEAD
        if w.worker_pid:
            try:
                os.killpg(w.worker_pid, signal.SIGKILL)
            except OSError:
                pass
        for fd in (w.life, w.rfd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        w.life = w.rfd = -1
        proc = w.proc
        if proc is not None:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
            except OSError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:  # the supervisor itself is stuck or was stopped
                for pgid in (proc.pid, w.worker_pid):
                    if pgid:
                        try:
                            os.killpg(pgid, signal.SIGKILL)
                        except OSError:
                            pass
                proc.wait()
        shutil.rmtree(w.tmpdir, ignore_errors=True)
        if w in self.workers:
            self.workers.remove(w)

    def shutdown(self) -> None:
        if os.getpid() != self.owner:  # a forked copy of the process: the workers are not ours
            return
        self.closed = True
        for w in list(self.workers):
            self._kill(w)

    def _adopt_fork(self) -> None:
        # After os.fork() in the parent, the child inherits this pool; its workers belong to the
        # original process, so forget them (closing only our copies of their pipes).
        if os.getpid() == self.owner:
            return
        for w in self.workers:
            for fd in (w.rfd, w.wfd, w.life):
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.workers, self.started, self.dirs, self.owner = [], [], [], os.getpid()
        self.lock = threading.Lock()

    # ---------------------------------------------------------------------------- the loop

    def start_one(self) -> str | None:
        """Start a worker and wait until it is ready; return why it could not, or None."""
        self._adopt_fork()
        with self.lock:
            if any(w.state in (_IDLE, _BUSY) for w in self.workers):
                return None
            batch = _Batch([])
            w = self._try_launch(batch)
            while w is not None and w.state == _STARTING:
                self._step(batch)
            if batch.problem is not None:
                return batch.problem[1]
            if w is None or w.state != _IDLE:
                return f"the sandbox worker could not start: {w.exit_reason if w else ''}"
            return None

    def run(self, payloads: list[bytes | Outcome]) -> list[Outcome]:
        self._adopt_fork()
        with self.lock:
            if self.closed:
                self.closed = False  # a closed sandbox restarts workers on use
            batch = _Batch(payloads)
            self._drain_idle(batch)
            while batch.queue or any(w.state == _BUSY for w in self.workers):
                if batch.problem is not None:
                    batch.fail_queued()
                    if not any(w.state == _BUSY for w in self.workers):
                        break
                else:
                    self._ensure_workers(batch)
                    self._dispatch(batch)
                self._step(batch)
            for w in list(self.workers):
                if w.retiring and w.state == _IDLE:
                    self._kill(w)
            return batch.results()

    def _drain_idle(self, batch: _Batch) -> None:
        """Notice workers that died or sent something between batches."""
        for w in list(self.workers):
            if w.state in (_IDLE, _STARTING):
                self._read(w, batch)

    def _try_launch(self, batch: _Batch) -> _Worker | None:
        try:
            return self._launch()
        except OSError as exc:
            batch.problem = ("crash", f"cannot start a sandbox worker ({sys.executable}): {exc}")
            return None

    def _ensure_workers(self, batch: _Batch) -> None:
        live = [w for w in self.workers if w.state != _DEAD and not w.retiring]
        busy = sum(1 for w in live if w.state == _BUSY)
        wanted = min(self.size, busy + len(batch.queue))
        while len(live) < wanted and batch.problem is None:
            w = self._try_launch(batch)
            if w is None:
                return
            live.append(w)

    def _dispatch(self, batch: _Batch) -> None:
        for w in list(self.workers):
            if not batch.queue:
                return
            if w.state != _IDLE or w.retiring:
                continue
            row = batch.queue.popleft()
            self.next_id += 1
            w.call_id, w.row, w.state = self.next_id, row, _BUSY
            w.deadline = time.monotonic() + self.timeout
            payload = batch.payloads[row]
            assert isinstance(payload, bytes)
            w.outbuf += _frame(b'{"id":%d,"args":%s}' % (w.call_id, payload))
            self._flush(w, batch)

    def _step(self, batch: _Batch) -> None:
        """Wait for pipe activity or the next deadline, then handle what happened."""
        active = [w for w in self.workers if w.state in (_STARTING, _IDLE, _BUSY)]
        poller = select.poll()
        fds: dict[int, _Worker] = {}
        for w in active:
            poller.register(w.rfd, select.POLLIN)  # POLLHUP/POLLERR are always reported
            fds[w.rfd] = w
            if w.outbuf:
                poller.register(w.wfd, select.POLLOUT)
                fds[w.wfd] = w
        timed = [w.deadline for w in active if w.state in (_STARTING, _BUSY)]
        now = time.monotonic()
        wait = max(0.0, min(timed) - now) if timed else 0.05
        for fd, _event in poller.poll(int(math.ceil(wait * 1000)) if wait else 0):
            w = fds[fd]
            if w.state == _DEAD:
                continue
            if fd == w.wfd:
                self._flush(w, batch)
            else:
                self._read(w, batch)
        now = time.monotonic()
        for w in list(self.workers):
            if w.state == _BUSY and now >= w.deadline:
                batch.settle(
                    w.row,
                    Outcome(
                        None,
                        "timeout",
                        f"{self.function}() did not return within {self.timeout:g} s (wall clock); "
                        "its worker was killed",
                        {"timeout": self.timeout},
                    ),
                )
                self._kill(w)
            elif w.state == _STARTING and now >= w.deadline:
                batch.problem = (
                    "timeout",
                    f"the sandbox worker was not ready within {self.startup_timeout:g} s "
                    "(slow top-level code in the source?)",
                )
                self._kill(w)

    def _flush(self, w: _Worker, batch: _Batch) -> None:
        try:
            while w.outbuf:
                sent = os.write(w.wfd, w.outbuf)
                w.outbuf = w.outbuf[sent:]
        except BlockingIOError:
            return
        except OSError:  # the worker died before taking the whole request: run the row elsewhere
            w.outbuf = b""
            if w.state == _BUSY:
                batch.retry(w.row, self.function)
                self._kill(w)
            else:
                self._ended(w, batch, "the worker process ended during startup")

    def _read(self, w: _Worker, batch: _Batch) -> None:
        while w.state != _DEAD:
            try:
                chunk = os.read(w.rfd, 65536)
            except BlockingIOError:
                return
            if not chunk:  # every writer is gone: the worker and its supervisor ended
                self._ended(w, batch, w.exit_reason or "the worker process ended without a word")
                return
            w.inbuf += chunk
            while w.state != _DEAD and len(w.inbuf) >= 4:
                size = int.from_bytes(w.inbuf[:4], "big")
                if size > _MAX_MESSAGE:
                    self._garbled(w, batch, f"a {size}-byte message")
                    return
                if len(w.inbuf) < 4 + size:
                    break
                body = bytes(w.inbuf[4 : 4 + size])
                del w.inbuf[: 4 + size]
                self._message(w, batch, body)

    def _message(self, w: _Worker, batch: _Batch, body: bytes) -> None:
        try:
            msg = json.loads(body.decode("utf-8"), parse_constant=_reject)
        except (ValueError, UnicodeDecodeError):
            msg = None
        if not isinstance(msg, dict) or msg.get("t") != w.token or not isinstance(msg.get("kind"), str):
            self._garbled(w, batch, "a message without the worker's token")
            return
        kind = msg["kind"]
        if kind == "forked" and _is_int(msg.get("pid")):
            w.worker_pid = msg["pid"]
        elif kind == "ready" and w.state == _STARTING and _is_int(msg.get("pid")):
            w.worker_pid, w.state = msg["pid"], _IDLE
        elif kind == "load_error":
            reason = _text(msg.get("reason"))
            batch.problem = ("crash", f"the source failed to load in the sandbox worker: {reason}")
            batch.problem_details = {k: _text(msg.get(k)) for k in ("exception", "traceback")}
            self._kill(w)
        elif kind == "start_error":
            w.exit_reason = _text(msg.get("reason"))
        elif kind == "exit":
            self._ended(w, batch, _exit_reason(msg))
        elif kind == "result" and w.state == _BUSY and _is_int(msg.get("id")) and msg["id"] == w.call_id:
            outcome = _result(msg, self.function)
            if outcome is None:
                self._garbled(w, batch, "a malformed result")
                return
            batch.settle(w.row, outcome)
            w.state, w.row = _IDLE, -1
            w.retiring = msg.get("retire") is True
            if outcome.error == "crash":  # the process may be left in any state: replace it
                self._kill(w)
        else:
            self._garbled(w, batch, f"an unexpected {kind!r} message")

    def _garbled(self, w: _Worker, batch: _Batch, what: str) -> None:
        if w.state == _BUSY:
            batch.settle(
                w.row,
                Outcome(None, "invalid_result", f"the sandbox worker sent {what}; the result was discarded", {}),
            )
        self._kill(w)

    def _ended(self, w: _Worker, batch: _Batch, reason: str) -> None:
        if w.exit_reason and w.exit_reason not in reason:
            reason = f"{w.exit_reason} ({reason})"
        if w.state == _BUSY:
            batch.settle(w.row, Outcome(None, "crash", f"{self.function}() did not return: {reason}", {"exit": reason}))
        elif w.state == _STARTING:
            batch.start_failures += 1
            if batch.start_failures >= _MAX_START_FAILURES:
                batch.problem = ("crash", f"the sandbox worker could not start: {reason}")
        self._kill(w)


class _Batch:
    """The calls of one ``run``: what is queued, what is settled, and a batch-wide problem."""

    def __init__(self, payloads: list[bytes | Outcome]):
        self.payloads = payloads
        self.outcomes: list[Outcome | None] = [p if isinstance(p, Outcome) else None for p in payloads]
        self.queue = deque(i for i, p in enumerate(payloads) if not isinstance(p, Outcome))
        self.problem: tuple[str, str] | None = None
        self.problem_details: dict[str, Any] = {}
        self.start_failures = 0
        self.tries: dict[int, int] = {}

    def retry(self, row: int, function: str) -> None:
        """Queue ``row`` again (its worker died before receiving it), once."""
        self.tries[row] = self.tries.get(row, 0) + 1
        if self.tries[row] > 2:
            self.settle(row, Outcome(None, "crash", f"{function}() could not be called: its workers kept dying", {}))
        else:
            self.queue.appendleft(row)

    def settle(self, row: int, outcome: Outcome) -> None:
        if 0 <= row < len(self.outcomes) and self.outcomes[row] is None:
            self.outcomes[row] = outcome

    def fail_queued(self) -> None:
        assert self.problem is not None
        error, reason = self.problem
        while self.queue:
            self.settle(self.queue.popleft(), Outcome(None, error, reason, dict(self.problem_details)))

    def results(self) -> list[Outcome]:
        return [o if o is not None else Outcome(None, "crash", "no result was produced", {}) for o in self.outcomes]


def _frame(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def _reject(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _is_int(value: Any) -> TypeGuard[int]:
    return type(value) is int and value > 0


def _text(value: Any, limit: int = 3000) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _exit_reason(msg: dict[str, Any]) -> str:
    sig, code = msg.get("signal"), msg.get("code")
    if _is_int(sig):
        name = _signal_name(sig)
        hint = _SIGNAL_HINTS.get(name)
        return f"the worker was killed by {name}" + (f" ({hint})" if hint else "")
    if type(code) is int:
        return f"the worker exited with status {code} (os._exit, or a fatal error)"
    return "the worker ended"


def _result(msg: dict[str, Any], function: str) -> Outcome | None:
    """Validate a result message strictly; None when it is malformed."""
    ok = msg.get("ok")
    if ok is True:
        value = msg.get("value")
        if type(value) is bool:
            return Outcome(float(value), None, f"{function}() returned {value}", {})
        if type(value) in (int, float) and math.isfinite(cast(float, value)):
            number = float(cast(float, value))
            return Outcome(number, None, f"{function}() returned {number!r}", {})
        return None
    if ok is False and msg.get("error") in ("crash", "invalid_result"):
        details = {k: _text(msg[k]) for k in ("exception", "traceback") if isinstance(msg.get(k), str)}
        return Outcome(None, msg["error"], _text(msg.get("reason"), 1000), details)
    return None
