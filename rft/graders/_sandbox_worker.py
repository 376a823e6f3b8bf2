"""The program each sandbox worker runs: ``python -I <this file>``, never imported by rft.

The parent (:mod:`rft.graders._sandbox`) starts it in a new session with a clean environment and
a temporary working directory, then sends one length-prefixed JSON config on stdin: the source,
the function name, the resource limits, the per-worker token, the result pipe's and the lifeline's
file descriptors, and the uid to drop to when started as root.

:func:`main` sets the limits, drops privileges, forks the worker proper and then *supervises* it:

- the **worker** (its own process group) imports the user source and answers call requests from
  stdin with token-carrying results on the private result pipe; stdin/stdout/stderr are
  ``/dev/null`` to the user code, so a fake result printed there is never read;
- the **supervisor** (session leader, child subreaper) waits for the worker to end or for the
  parent to close the lifeline, then kills and reaps everything the worker left behind, deletes
  the working directory and reports how the worker ended.

Everything the worker needs after the user code is imported is captured first, as locals of
:func:`main`, so user code that monkeypatches ``json``, ``os`` or ``builtins`` does not reach this
machinery. The module imports only the standard library (the worker must start fast and must not
depend on rft being importable from its clean environment).

Hand-written because no library offers this: multiprocessing/concurrent.futures neither kill a
process group on a deadline nor keep results off channels the user code can write to.
"""

from __future__ import annotations

import json
import linecache
import math
import os
import resource
import select
import shutil
import signal
import sys
import time
import traceback
import types

try:
    from _json import encode_basestring_ascii as _encode_string
except ImportError:  # an interpreter without the C accelerator
    from json.encoder import py_encode_basestring_ascii as _encode_string

__all__ = ["main"]


# Every function below that runs after the user code is imported takes the builtins and library
# functions it needs as default arguments (bound when this module is executed, before any user
# code exists) or as closure variables, never as globals the user code could replace.


def main() -> None:
    """Read the config, set limits and drop privileges, then fork: serve in the child, supervise here."""
    config = _read_frame(0)
    send, describe = _protocol(config["token"], config["result_fd"])
    try:
        wake = _prepare(config)
    except BaseException as exc:
        name, text, _ = describe(exc)
        send("start_error", {"reason": "sandbox setup failed: %s: %s" % (name, text)})
        os._exit(1)
    worker = os.fork()
    if worker == 0:
        _serve(config, wake, send, describe)  # never returns
    _supervise(worker, wake[0], config["life_fd"], send)


def _read_exact(fd: int, n: int, read=os.read, len_=len) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = read(fd, n - got)
        if not chunk:
            return None
        chunks.append(chunk)
        got += len_(chunk)
    return b"".join(chunks)


_SCAN = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # set in __init__, absent from the stubs


def _read_frame(fd: int, read_exact=_read_exact, scan=_SCAN, from_bytes=int.from_bytes):
    """One length-prefixed JSON message from ``fd``, or None at end of file."""
    head = read_exact(fd, 4)
    if head is None:
        return None
    body = read_exact(fd, from_bytes(head, "big"))
    return None if body is None else scan(body.decode("utf-8", "surrogatepass"), 0)[0]


def _protocol(token: str, out_fd: int):
    """``send(kind, fields)`` writes a token-carrying message to the result pipe; ``describe(exc)``
    names an exception without trusting it (its ``__str__`` may raise)."""
    write, len_, type_, str_ = os.write, len, type, str
    bool_, int_, float_, isfinite, enc = bool, int, float, math.isfinite, _encode_string
    float_repr, int_repr, join, format_exception = float.__repr__, int.__repr__, "".join, traceback.format_exception
    BaseException_ = BaseException  # noqa: N806

    def value(v):
        t = type_(v)
        if v is None:
            return "null"
        if t is bool_:
            return "true" if v else "false"
        if t is int_:
            return int_repr(v)
        if t is float_:
            return float_repr(v) if isfinite(v) else "null"
        return enc(str_(v))

    def send(kind, fields):
        parts = ['"t":' + enc(token), '"kind":' + enc(kind)]
        for k, v in fields.items():
            parts.append(enc(k) + ":" + value(v))
        data = ("{" + ",".join(parts) + "}").encode("utf-8")
        data = len_(data).to_bytes(4, "big") + data
        try:
            while data:
                data = data[write(out_fd, data) :]
        except OSError:  # the parent is gone; the lifeline tells the supervisor to clean up
            return False
        return True

    def describe(exc):
        try:
            name = type_(exc).__name__
        except BaseException_:
            name = "exception"
        try:
            text = str_(exc)[:500]
        except BaseException_:
            text = "<unprintable>"
        try:
            tb = join(format_exception(type_(exc), exc, exc.__traceback__))[-3000:]
        except BaseException_:
            tb = ""
        return name, text, tb

    return send, describe


def _prepare(config: dict) -> tuple[int, int]:
    """Limits first (from here on nothing may use more than the caller allows), then drop to the
    target user, become a subreaper, and return the SIGCHLD wake-up pipe the supervisor polls."""
    limits = config["limits"]
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for key, which in (("as", "RLIMIT_AS"), ("fsize", "RLIMIT_FSIZE"), ("nofile", "RLIMIT_NOFILE")):
        if limits.get(key) and hasattr(resource, which):
            resource.setrlimit(getattr(resource, which), (limits[key], limits[key]))
    cpu_total = limits["cpu_total"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_total, cpu_total))
    uid = config.get("uid")
    if uid is not None and os.geteuid() == 0:
        _reroute(uid, config["gid"])
        os.setgroups([])
        os.setgid(config["gid"])
        os.setuid(uid)
        if os.getuid() != uid or os.geteuid() != uid:
            raise RuntimeError("could not drop privileges to uid %d" % uid)
    try:  # become the reaper of everything the worker forks (Linux); ctypes may be missing
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except BaseException:
        pass
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.set_wakeup_fd(wake_w)
    return wake_r, wake_w


def _load(  # captured builtins: see the note above main()
    config: dict,
    wake: tuple[int, int],
    send,
    describe,
    getpid=os.getpid,
    exit_=os._exit,
    callable_=callable,
    NameError_=NameError,  # noqa: N803
    BaseException_=BaseException,  # noqa: N803
):
    """The worker proper's setup: its own process group, the process limit, stdin moved off the
    user code's reach; then import the user source. Returns (function, request fd); exits on failure."""
    me = getpid()
    try:
        os.setpgid(0, 0)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in (*wake, config["life_fd"]):
            os.close(fd)
        limits = config["limits"]
        if limits.get("nproc") and hasattr(resource, "RLIMIT_NPROC"):
            n = limits["nproc"]
            if config.get("nproc_relative"):
                n += _count_tasks(os.getuid())
            resource.setrlimit(resource.RLIMIT_NPROC, (n, n))
        req_fd = os.dup(0)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.set_inheritable(req_fd, False)
        os.set_inheritable(config["result_fd"], False)
        source, filename = config["source"], config["filename"]
        code = compile(source, filename, "exec")
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        module = types.ModuleType("rft_sandboxed_source")
        sys.modules["rft_sandboxed_source"] = module
    except BaseException as exc:
        name, text, _ = describe(exc)
        send("start_error", {"reason": "worker setup failed: %s: %s" % (name, text)})
        exit_(1)
    # From here on the user code runs: only locals and default arguments.
    try:
        exec(code, module.__dict__)
        fn = module.__dict__.get(config["function"])
        if not callable_(fn):
            raise NameError_("the source defines no function %s()" % config["function"])
    except BaseException_ as exc:
        if getpid() != me:
            exit_(0)
        name, text, tb = describe(exc)
        del exc  # drop the traceback's frames before anything else runs
        send("load_error", {"reason": "%s: %s" % (name, text), "exception": name, "traceback": tb})
        exit_(1)
    if getpid() != me:  # a process the user code forked while loading: never answers
        exit_(0)
    return fn, req_fd


def _result_fields(  # captured builtins: see the note above main()
    result,
    function: str,
    describe,
    type_=type,
    bool_=bool,
    int_=int,
    float_=float,
    str_=str,
    isinstance_=isinstance,
    getattr_=getattr,
    hasattr_=hasattr,
    repr_=repr,
    isfinite=math.isfinite,
    float_repr=float.__repr__,
    BaseException_=BaseException,  # noqa: N803
) -> dict:
    """The message fields for what the user function returned: a finite number, or why not."""
    try:
        t = type_(result)
        if t is not bool_ and t is not int_ and t is not float_:
            if getattr_(t, "__module__", "") == "numpy" and hasattr_(result, "item"):
                result = result.item()
            elif isinstance_(result, (int_, float_)):
                result = float_(result)
            t = type_(result)
        if t is bool_:
            return {"ok": True, "value": result}
        if t is int_ or t is float_:
            number = float_(result)
            if isfinite(number):
                return {"ok": True, "value": number}
            reason = "%s() returned %s, not a finite number" % (function, float_repr(number))
            return {"ok": False, "error": "invalid_result", "reason": reason}
        shown = repr_(result[:40]) if t is str_ else ("None" if result is None else "a " + t.__name__)
        return {"ok": False, "error": "invalid_result", "reason": "%s() returned %s, not a number" % (function, shown)}
    except BaseException_ as exc:
        name, text, _ = describe(exc)
        reason = "cannot read the returned value: %s: %s" % (name, text)
        return {"ok": False, "error": "invalid_result", "reason": reason}


def _serve(  # captured builtins: see the note above main()
    config: dict,
    wake: tuple[int, int],
    send,
    describe,
    read_frame=_read_frame,
    getpid=os.getpid,
    exit_=os._exit,
    getrusage=resource.getrusage,
    setrlimit=resource.setrlimit,
    RLIMIT_CPU=resource.RLIMIT_CPU,  # noqa: N803
    RUSAGE_SELF=resource.RUSAGE_SELF,  # noqa: N803
    int_=int,
    min_=min,
    result_fields=_result_fields,
    BaseException_=BaseException,  # noqa: N803
) -> None:
    """The worker proper: load the source, then answer call requests until stdin closes."""
    fn, req_fd = _load(config, wake, send, describe)
    me, function = getpid(), config["function"]
    cpu_total, cpu_call = config["limits"]["cpu_total"], config["limits"]["cpu_call"]
    if not send("ready", {"pid": me}):
        exit_(1)
    while True:
        request = read_frame(req_fd)
        if request is None:
            exit_(0)
        call_id, args = request["id"], request["args"]
        usage = getrusage(RUSAGE_SELF)
        used = int_(usage.ru_utime + usage.ru_stime)
        setrlimit(RLIMIT_CPU, (min_(used + cpu_call, cpu_total), cpu_total))
        try:
            result = fn(*args)
        except BaseException_ as exc:
            if getpid() != me:  # a process the user code forked: never answers
                exit_(0)
            name, text, tb = describe(exc)
            del exc  # drop the traceback's frames before anything else runs
            reason = "%s() raised %s: %s" % (function, name, text)
            fields = {"id": call_id, "ok": False, "error": "crash", "exception": name, "reason": reason}
            fields["traceback"] = tb
            if not send("result", fields):
                exit_(1)
            continue
        if getpid() != me:
            exit_(0)
        fields = result_fields(result, function, describe)
        fields["id"] = call_id
        result = None
        usage = getrusage(RUSAGE_SELF)
        fields["retire"] = usage.ru_utime + usage.ru_stime > cpu_total / 2
        if not send("result", fields):
            exit_(1)


def _supervise(worker: int, wake_r: int, life_fd: int, send) -> None:
    """Wait until the worker ends (or the parent closes the lifeline: then kill it), clean up what
    it left behind, and report how it ended. Runs no user code."""
    try:
        os.setpgid(worker, worker)
    except OSError:
        pass
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    send("forked", {"pid": worker})
    poller = select.poll()
    poller.register(wake_r, select.POLLIN)
    poller.register(life_fd, select.POLLIN)
    status = None
    while status is None:
        while True:
            try:
                pid, st = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                pid, st = 0, 0
                if status is None:
                    status = -1
            if pid == 0:
                break
            if pid == worker:
                status = st
        if status is not None:
            break
        for fd, _ in poller.poll():
            if fd == wake_r:
                try:
                    while os.read(wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
            elif fd == life_fd:  # the parent closed the lifeline (or died): end the worker
                poller.unregister(life_fd)
                _kill_quietly(lambda: os.killpg(worker, 9), lambda: os.kill(worker, 9))
    _clean_up(worker)
    if status == -1 or status is None:
        send("exit", {"code": None, "signal": None})
    elif os.WIFSIGNALED(status):
        send("exit", {"code": None, "signal": os.WTERMSIG(status)})
    else:
        send("exit", {"code": os.waitstatus_to_exitcode(status), "signal": None})
    os._exit(0)


def _clean_up(worker: int) -> None:
    """The worker is gone: kill and reap whatever it left behind, however it was grouped, and
    delete the working directory (the parent deletes it too; this covers a parent that was killed)."""
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        _kill_quietly(lambda: os.killpg(worker, 9))
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            break
        for pid in _children(os.getpid()):
            _kill_quietly(lambda pid=pid: os.kill(pid, 9))
        time.sleep(0.005)
    try:
        here = os.getcwd()
        if os.path.basename(here).startswith("rft-sandbox-"):
            shutil.rmtree(here, ignore_errors=True)
    except BaseException:
        pass


def _kill_quietly(*kills) -> None:
    for kill in kills:
        try:
            kill()
        except OSError:
            pass


def _children(parent: int) -> list[int]:
    """Process ids whose parent is ``parent`` (read from /proc; empty where there is none)."""
    found: list[int] = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return found
    for name in names:
        if name.isdigit():
            try:
                with open("/proc/%s/stat" % name, "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == parent:
                found.append(int(name))
    return found


def _count_tasks(uid: int) -> int:
    """Threads and processes that ``uid`` runs now (RLIMIT_NPROC counts them all)."""
    count = 0
    try:
        names = os.listdir("/proc")
    except OSError:
        return 0
    for name in names:
        if name.isdigit():
            try:
                if os.stat("/proc/" + name).st_uid == uid:
                    count += len(os.listdir("/proc/%s/task" % name))
            except OSError:
                pass
    return count


def _reroute(uid: int, gid: int) -> None:
    """Keep the interpreter's imports working after dropping to ``uid``.

    The interpreter may live where the unprivileged user cannot reach (pyenv under a 0700
    /root). Open each unreachable import directory now, while still root, and import through
    /proc/self/fd/N afterwards: a magic link skips the permission checks of the path above it.
    """
    if not os.path.isdir("/proc/self/fd"):
        return

    def reachable(path: str) -> bool:
        parts = [p for p in path.split("/") if p]
        current = "/"
        for i in range(len(parts) + 1):
            st = os.stat(current)
            need = 5 if i == len(parts) else 1
            if st.st_uid == uid:
                ok = (st.st_mode >> 6) & need == need
            elif st.st_gid == gid:
                ok = (st.st_mode >> 3) & need == need
            else:
                ok = st.st_mode & need == need
            if not ok:
                return False
            if i < len(parts):
                current = os.path.join(current, parts[i])
        return True

    moved = {}
    for i, entry in enumerate(sys.path):
        path = os.path.abspath(entry) if entry else ""
        try:
            if not path or not os.path.isdir(path) or reachable(path):
                continue
        except OSError:
            continue
        fd = os.open(path, getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY)
        moved[path] = sys.path[i] = "/proc/self/fd/%d" % fd

    def moved_path(p: str) -> str:
        for old, new in moved.items():
            if p == old or p.startswith(old + "/"):
                return new + p[len(old) :]
        return p

    if moved:
        for module in list(sys.modules.values()):
            paths = getattr(module, "__path__", None)
            if type(paths) is list:
                paths[:] = [moved_path(p) if type(p) is str else p for p in paths]
        sys.path_importer_cache.clear()


if __name__ == "__main__":
    main()
