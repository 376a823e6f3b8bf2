"""The subprocess sandbox that runs python-grader source: hostile code is bounded and leaves nothing.

Every case runs real worker processes. Deadlines are short (1 s) so the file stays fast, and a
SIGALRM guard fails a test instead of letting a bug hang CI. After each group of tests, no process
of any worker session may remain (not even a zombie), and the test process has no new children.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rft.graders._sandbox import Outcome, Sandbox, defines_function

pytestmark = pytest.mark.skipif(
    sys.platform != "linux", reason="the sandbox tests inspect /proc (the sandbox itself is POSIX)"
)

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


# ------------------------------------------------------------------------------------------
# Helpers: a hang guard and a process census


@pytest.fixture(autouse=True)
def hang_guard():
    """Fail (rather than hang) any test that runs past 60 s; pytest-timeout is not installed."""

    def expire(signum, frame):
        raise TimeoutError("sandbox test exceeded its 60 s guard")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, 60)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


def _stat(pid: str) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].decode().split()
    except (OSError, IndexError):
        return None


def session_members(sessions: list[int]) -> list[tuple[int, str]]:
    """Every process (zombies included) whose session is one of ``sessions``."""
    wanted = set(sessions)
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat(name)
            if fields and int(fields[3]) in wanted:
                found.append((int(name), fields[0]))
    return found


def children_of_this_process() -> set[int]:
    me = os.getpid()
    return {int(n) for n in os.listdir("/proc") if n.isdigit() and (_stat(n) or ["", "0"])[1] == str(me)}


def assert_no_leftovers(box: Sandbox, children_before: set[int] | None = None) -> None:
    """No process of ``box``'s worker sessions and none of its directories remain; with
    ``children_before`` (when no other sandbox is alive), the test process has no new children."""
    assert session_members(box.pids) == [], "worker processes survived close()"
    assert [d for d in box._pool.dirs if os.path.exists(d)] == [], "worker directories survived close()"
    if children_before is not None:
        extra = children_of_this_process() - children_before
        assert extra == set(), f"the test process has new children: {extra}"


# ------------------------------------------------------------------------------------------
# Hostile code, one case per row of a shared sandbox

HOSTILE = textwrap.dedent(
    """
    import ctypes, json, os, sys, time

    FAKE = json.dumps({"t": "0" * 32, "kind": "result", "id": 1, "ok": True, "value": 1.0}).encode()
    FRAME = len(FAKE).to_bytes(4, "big") + FAKE

    def grade(sample, item):
        case = item["case"]
        if case == "ok":
            return len(sample["output_text"]) / 10
        if case == "infinite_loop":
            while True:
                pass
        if case == "sleep":
            time.sleep(1000)
        if case == "fork_bomb":
            while True:
                os.fork()
        if case == "fork_bomb_caught":
            while True:
                try:
                    os.fork()
                except OSError:
                    pass
        if case == "memory_bomb":
            return len("x" * (10 ** 10))
        if case == "memory_creep":
            hoard = []
            while True:
                hoard.append(bytearray(10 ** 7))
        if case == "sys_exit":
            sys.exit(0)
        if case == "os_exit":
            os._exit(3)
        if case == "segfault":
            ctypes.string_at(0)
        if case == "recursion":
            def down(n):
                return down(n + 1)
            return down(0)
        if case == "raise":
            raise ValueError("bad row")
        if case == "fake_stdout":
            print('{"score": 1.0}', flush=True)
            print("RESULT 1.0", file=sys.stderr, flush=True)
            os.write(1, FRAME)
            os.write(2, FRAME)
            return 0.0
        if case == "forge_every_fd":
            for fd in range(3, 256):
                try:
                    os.write(fd, FRAME)
                except OSError:
                    pass
            return 0.0
        if case == "huge_output":
            for _ in range(20):
                sys.stdout.write("x" * 1_000_000)
                sys.stderr.write("y" * 1_000_000)
            return 0.25
        if case == "big_file":
            with open("big.bin", "wb") as f:
                for _ in range(20):
                    f.write(b"z" * 1_000_000)
            return 1.0
        if case == "read_secret":
            return 1.0 if "RFT_TEST_SECRET" in os.environ else 0.0
        if case == "env_is_minimal":
            return 1.0 if set(os.environ) <= {"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "OMP_NUM_THREADS",
                                               "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "LC_CTYPE"} else 0.0
        if case == "write_cwd":
            with open("scratch.txt", "w") as f:
                f.write("ok")
            return 1.0 if os.getcwd() == os.environ["HOME"] and os.path.exists("scratch.txt") else 0.0
        if case == "write_outside":
            try:
                with open(item["path"], "w") as f:
                    f.write("pwned")
                return 1.0
            except OSError:
                return 0.0
        if case == "unprivileged":
            return 1.0 if os.getuid() != 0 and os.geteuid() != 0 else 0.0
        if case == "close_fds":
            os.closerange(3, 256)
            return 1.0
        if case == "escape_session":
            child = os.fork()
            if child == 0:
                os.setsid()
                time.sleep(1000)
            return child / 10 ** 8
        if case == "nan":
            return float("nan")
        if case == "inf":
            return float("inf")
        if case == "string":
            return "1.0"
        if case == "none":
            return None
        if case == "true":
            return True
        if case == "false":
            return False
        if case == "int":
            return 1
        if case == "huge_int":
            return 10 ** 400
        if case == "object":
            return object()
        raise AssertionError(case)
    """
)

# (case, expected value, expected error kind(s), text the reason must contain, why)
CASES = [
    ("ok", 0.3, None, "returned", "plain scoring works"),
    ("infinite_loop", None, {"timeout"}, "did not return within", "CPU-bound loop is killed at the deadline"),
    ("sleep", None, {"timeout"}, "did not return within", "sleep(1000) is killed at the deadline"),
    ("fork_bomb", None, {"timeout", "crash"}, "", "a fork bomb is bounded by RLIMIT_NPROC and killed"),
    ("fork_bomb_caught", None, {"timeout"}, "", "a fork bomb that swallows errors is killed at the deadline"),
    ("memory_bomb", None, {"crash"}, "MemoryError", "one huge allocation fails under RLIMIT_AS"),
    ("memory_creep", None, {"crash"}, "", "growing memory hits RLIMIT_AS"),
    ("sys_exit", None, {"crash"}, "SystemExit", "sys.exit(0) is a crash, not a score"),
    ("os_exit", None, {"crash"}, "status 3", "os._exit(3) kills the worker; the reason says how"),
    ("segfault", None, {"crash"}, "SIGSEGV", "a segfault kills the worker; the reason names the signal"),
    ("recursion", None, {"crash"}, "RecursionError", "runaway recursion is a crash"),
    ("raise", None, {"crash"}, "ValueError: bad row", "an exception names its type and message"),
    ("fake_stdout", 0.0, None, "", "result-looking lines on stdout/stderr are never read"),
    ("forge_every_fd", None, {"invalid_result"}, "token", "a forged frame on the private pipe lacks the token"),
    ("huge_output", 0.25, None, "", "40 MB of output goes to /dev/null without harm"),
    ("big_file", None, {"crash"}, "File too large", "RLIMIT_FSIZE stops a big file"),
    ("read_secret", 0.0, None, "", "the parent's environment is not inherited"),
    ("env_is_minimal", 1.0, None, "", "the worker's environment is the minimal one"),
    ("write_cwd", 1.0, None, "", "the temporary working directory is usable"),
    ("close_fds", None, {"crash"}, "status", "closing the private pipes kills the worker, not the parent"),
    ("nan", None, {"invalid_result"}, "nan", "NaN is not a score"),
    ("inf", None, {"invalid_result"}, "inf", "infinity is not a score"),
    ("string", None, {"invalid_result"}, "'1.0'", "a numeric string is not a number"),
    ("none", None, {"invalid_result"}, "None", "None is not a score"),
    ("true", 1.0, None, "", "True counts as 1"),
    ("false", 0.0, None, "", "False counts as 0"),
    ("int", 1.0, None, "", "ints are numbers"),
    ("huge_int", None, {"invalid_result"}, "", "an int too large for a float is rejected"),
    ("object", None, {"invalid_result"}, "object", "an arbitrary object is rejected"),
]


@pytest.fixture(scope="module")
def hostile_box():
    """Cases that must end on their own get a generous deadline (a loaded CI machine is slow)."""
    box = Sandbox(HOSTILE, timeout=20.0, memory_mb=256, max_file_mb=1, workers=2)
    yield box
    box.close()
    assert_no_leftovers(box)


@pytest.fixture(scope="module")
def quick_box():
    """Cases that only a deadline ends get a short one."""
    box = Sandbox(HOSTILE, timeout=1.0, memory_mb=256, max_file_mb=1, workers=2)
    yield box
    box.close()
    assert_no_leftovers(box)


@pytest.mark.parametrize(
    ("case", "value", "errors", "reason_has"), [c[:4] for c in CASES], ids=[c[0] for c in CASES]
)
def test_hostile_case(request, monkeypatch, case, value, errors, reason_has):
    monkeypatch.setenv("RFT_TEST_SECRET", "hunter2")
    box = request.getfixturevalue("quick_box" if errors and "timeout" in errors else "hostile_box")
    outcome = box.call({"output_text": "abc"}, {"case": case})
    assert isinstance(outcome, Outcome)
    assert outcome.value == value, outcome
    if errors is None:
        assert outcome.ok and outcome.error is None, outcome
    else:
        assert outcome.error in errors, outcome
        assert outcome.value is None
    assert reason_has in outcome.reason, outcome
    # Whatever the case did, no process of a replaced worker survives it.
    live = {w.proc.pid for w in box._pool.workers if w.proc is not None}
    assert session_members([p for p in box.pids if p not in live]) == []


@pytest.mark.skipif(not IS_ROOT, reason="only a root parent can drop workers to another user")
def test_root_drops_privileges_and_protects_files(hostile_box, tmp_path):
    target = tmp_path / "outside.txt"  # tmp_path is a root-owned 0700 directory
    assert hostile_box.call({"output_text": ""}, {"case": "unprivileged"}).value == 1.0
    assert hostile_box.call({"output_text": ""}, {"case": "write_outside", "path": str(target)}).value == 0.0
    assert not target.exists()


def test_one_bad_row_leaves_the_batch_scored(quick_box):
    cases = ["ok", "raise", "ok", "sleep", "os_exit", "ok", "nan", "true"]
    outcomes = quick_box.call_many([({"output_text": "abcde"}, {"case": c}) for c in cases])
    assert [o.value for o in outcomes] == [0.5, None, 0.5, None, None, 0.5, None, 1.0]
    assert [o.error for o in outcomes] == [None, "crash", None, "timeout", "crash", None, "invalid_result", None]


def test_no_process_left_after_a_fork_bomb_and_close():
    before = children_of_this_process()
    box = Sandbox(HOSTILE, timeout=1.0, memory_mb=256, workers=2)
    outcomes = box.call_many([({"output_text": ""}, {"case": c}) for c in ("fork_bomb_caught", "sleep")])
    assert [o.error for o in outcomes] == ["timeout", "timeout"]
    box.close()
    assert_no_leftovers(box, before)


def test_a_child_that_leaves_the_session_is_still_killed():
    with Sandbox(HOSTILE, timeout=5.0, workers=1) as box:
        outcome = box.call({"output_text": ""}, {"case": "escape_session"})
        assert outcome.ok
        escaped = round(outcome.value * 10**8)
        assert (_stat(str(escaped)) or ["Z"])[0] != "Z"  # alive, in a session of its own
    assert _stat(str(escaped)) is None  # close() killed and reaped it anyway


# ------------------------------------------------------------------------------------------
# The worker's own machinery survives monkeypatching

PATCH_AT_IMPORT = textwrap.dedent(
    """
    import builtins, json, os, sys
    json.dumps = lambda *a, **k: '{"t": "x", "kind": "result", "ok": true, "value": 1.0}'
    json.loads = lambda *a, **k: {"id": -1, "args": []}
    json.JSONEncoder.encode = lambda self, o: "{}"
    json.JSONDecoder.decode = lambda self, s: {}
    os.write = lambda fd, data: len(data)
    os.read = lambda fd, n: b""
    os._exit = lambda code: None
    os.getpid = lambda: 1
    _real_len = builtins.len
    builtins.len = lambda obj: 0
    builtins.isinstance = lambda obj, cls: True
    builtins.repr = lambda obj: "1.0"
    builtins.min = lambda *a: 0
    builtins.bool = int
    sys.stdout = sys.stderr = None

    def grade(sample, item):
        return _real_len(sample["output_text"]) / 10
    """
)

PATCH_AT_CALL = textwrap.dedent(
    """
    import builtins, json, os
    def grade(sample, item):
        value = _real(sample)
        json.dumps = json.loads = os.write = os.read = None
        builtins.type = lambda *a: float
        builtins.float = lambda *a: 1.0
        return value

    def _real(sample):
        return len(sample["output_text"]) / 10
    """
)


# The names the worker's own exception handling and checks use, patched before grade() is found.
PATCH_EXCEPTIONS = textwrap.dedent(
    """
    import builtins, resource
    _real_len, _real_error = builtins.len, builtins.ValueError
    builtins.callable = lambda obj: False
    builtins.BaseException = builtins.NameError = builtins.Exception = None
    builtins.type = builtins.str = builtins.int = lambda *a: None
    resource.setrlimit = resource.getrusage = None

    def grade(sample, item):
        if sample["output_text"] == "crash":
            raise _real_error("on purpose")
        return _real_len(sample["output_text"]) / 10
    """
)


@pytest.mark.parametrize(
    "source",
    [PATCH_AT_IMPORT, PATCH_AT_CALL, PATCH_EXCEPTIONS],
    ids=["patched_at_import", "patched_during_call", "exception_handling_patched"],
)
def test_monkeypatching_does_not_reach_the_worker(source):
    with Sandbox(source, timeout=5.0, workers=1) as box:
        outcomes = box.call_many([({"output_text": "a" * n}, {}) for n in (1, 2, 3, 4)])
        assert [o.value for o in outcomes] == [0.1, 0.2, 0.3, 0.4]
        assert len(box.pids) == 1  # one worker served every call: it was not broken
        if "on purpose" in source:  # the worker still reports an exception raised after the patching
            crashed = box.call({"output_text": "crash"}, {})
            assert crashed.error == "crash" and "ValueError: on purpose" in crashed.reason


# ------------------------------------------------------------------------------------------
# Pool behaviour


def test_workers_are_reused_and_source_runs_once():
    source = "calls = 0\ndef grade(sample, item):\n    global calls\n    calls += 1\n    return calls / 100\n"
    with Sandbox(source, timeout=5.0, workers=1) as box:
        assert [o.value for o in box.call_many([("", {})] * 3)] == [0.01, 0.02, 0.03]
        assert box.call("", {}).value == 0.04
        assert len(box.pids) == 1


def test_pool_runs_rows_across_its_workers():
    source = "import os, time\ndef grade(sample, item):\n    time.sleep(0.05)\n    return os.getpid() / 10**8\n"
    with Sandbox(source, timeout=5.0, workers=2) as box:
        outcomes = box.call_many([("", {})] * 8)
        assert all(o.ok for o in outcomes)
        assert len(box.pids) == 2  # exactly the pool size, no restarts
        assert len({o.value for o in outcomes}) == 2  # both workers graded rows


def test_a_crash_replaces_the_worker():
    source = "import os\ndef grade(sample, item):\n    if item.get('die'):\n        os._exit(1)\n    return 0.5\n"
    with Sandbox(source, timeout=5.0, workers=1) as box:
        outcomes = box.call_many([("", {}), ("", {"die": True}), ("", {})])
        assert [o.value for o in outcomes] == [0.5, None, 0.5]
        assert len(box.pids) == 2


def test_lone_surrogates_and_unicode_reach_the_function_intact():
    source = (
        "def grade(sample, item):\n"
        "    return float(sample == 'a\\ud800\u00e9\U0001F600' and item == {'k': '\\udfff'})\n"
    )
    with Sandbox(source, timeout=5.0, workers=1) as box:
        assert box.call("a\ud800\u00e9\U0001F600", {"k": "\udfff"}).value == 1.0


def test_arguments_json_cannot_hold_are_converted():
    import datetime

    source = "def grade(sample, item):\n    return float(item == {'when': '2024-01-02', 'tags': ['a'], 'raw': 'b'})\n"
    with Sandbox(source, timeout=5.0, workers=1) as box:
        item = {"when": datetime.date(2024, 1, 2), "tags": {"a"}, "raw": b"b"}
        assert box.call("", item).value == 1.0


def test_unencodable_arguments_are_a_row_crash():
    looped: list = []
    looped.append(looped)
    with Sandbox("def grade(s, i):\n    return 1.0\n", timeout=5.0, workers=1) as box:
        outcomes = box.call_many([("", {"x": looped}), ("", {})])
        assert outcomes[0].error == "crash" and "JSON" in outcomes[0].reason
        assert outcomes[1].value == 1.0


# ------------------------------------------------------------------------------------------
# Bad sources


@pytest.mark.parametrize(
    ("source", "error", "why"),
    [
        ("def grade(:\n", SyntaxError, "does not compile"),
        ("def score(sample, item):\n    return 1.0\n", ValueError, "no grade function"),
        ("class Box:\n    def grade(self, s, i):\n        return 1\n", ValueError, "a method is not a top-level grade"),
        ("x = 1\n" + "#" * 300_000 + "\ndef grade(s, i):\n    return 1\n", ValueError, "over 256 kB"),
    ],
    ids=["syntax_error", "no_grade", "method_only", "too_big"],
)
def test_bad_source_is_refused_before_any_process_starts(source, error, why):
    with pytest.raises(error):
        Sandbox(source)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def grade(s, i): pass", True),
        ("from mod import grade", True),
        ("from mod import scorer as grade", True),
        ("grade = lambda s, i: 1.0", True),
        ("try:\n    from fast import grade\nexcept ImportError:\n    def grade(s, i): return 0", True),
        ("def outer():\n    def grade(s, i): pass", False),
        ("graded = 1", False),
    ],
    ids=["def", "import", "import_as", "assign", "inside_try", "nested_def", "other_name"],
)
def test_defines_function(source, expected):
    import ast

    assert defines_function(ast.parse(source), "grade") is expected


def test_source_failing_at_import_leaves_rows_unscored_with_the_reason():
    before = children_of_this_process()
    box = Sandbox("import no_such_module_xyz\ndef grade(s, i):\n    return 1.0\n", timeout=5.0, workers=2)
    outcomes = box.call_many([("", {})] * 3)
    assert all(o.error == "crash" and "no_such_module_xyz" in o.reason for o in outcomes)
    with pytest.raises(RuntimeError, match="failed to load"):
        box.start()
    box.close()
    assert_no_leftovers(box, before)


def test_grade_bound_to_a_non_function_fails_to_load():
    with Sandbox("grade = 3\n", timeout=5.0, workers=1) as box:
        outcome = box.call("", {})
        assert outcome.error == "crash" and "no function grade()" in outcome.reason


def test_slow_top_level_code_times_out_the_startup():
    source = "import time\ntime.sleep(1000)\ndef grade(s, i):\n    return 1.0\n"
    with Sandbox(source, timeout=0.5, startup_timeout=0.5) as box:
        outcome = box.call("", {})
        assert outcome.error == "timeout" and "not ready" in outcome.reason
    assert session_members(box.pids) == []
    assert not any(os.path.exists(d) for d in box._pool.dirs)


# ------------------------------------------------------------------------------------------
# Cleanup on garbage collection, interpreter exit and parent death


def test_garbage_collection_stops_the_workers():
    box = Sandbox("def grade(s, i):\n    return 1.0\n", timeout=5.0, workers=2)
    assert [o.value for o in box.call_many([("", {})] * 2)] == [1.0, 1.0]
    pids = box.pids
    tmpdirs = list(box._pool.dirs)
    assert session_members(pids)
    del box
    gc.collect()
    assert session_members(pids) == []
    assert not any(Path(d).exists() for d in tmpdirs)


_OWNER_SCRIPT = """
import json, sys, time
from rft.graders._sandbox import Sandbox
box = Sandbox("def grade(s, i):\\n    return 1.0\\n", timeout=5.0, workers=2)
assert box.call_many([("", {})] * 2)[0].value == 1.0
print(json.dumps([box.pids, box._pool.dirs]), flush=True)
if sys.argv[1] == "hang":
    time.sleep(1000)
"""


def _run_owner(mode: str) -> tuple[subprocess.Popen, list[int], list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _OWNER_SCRIPT, mode], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parent.parent
    )
    assert proc.stdout is not None
    pids, dirs = json.loads(proc.stdout.readline())
    return proc, pids, dirs


def test_interpreter_exit_stops_the_workers():
    proc, pids, dirs = _run_owner("exit")
    assert proc.wait(timeout=30) == 0
    assert len(pids) == 2
    assert session_members(pids) == []
    assert not any(os.path.exists(d) for d in dirs)


def test_workers_end_when_their_parent_is_killed():
    # The killed owner's workers are orphans; make this process their reaper for the test so
    # that (where init does not reap) they do not linger as zombies after they exit.
    import ctypes
    import time

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        pytest.skip("cannot become a child subreaper here")
    try:
        proc, pids, dirs = _run_owner("hang")
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for pid in pids:  # the orphaned supervisors are now our children: reap them
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
            if not session_members(pids):
                break
            time.sleep(0.05)
        assert session_members(pids) == []
        assert not any(os.path.exists(d) for d in dirs)  # the supervisors removed them
    finally:
        libc.prctl(36, 0, 0, 0, 0)

