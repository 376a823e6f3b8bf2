"""The ``python`` grader: in-process callables, sandboxed OpenAI ``source``, configs and pickling."""

from __future__ import annotations

import math
import os
import pickle
import signal
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rft
from rft import ConfigError, Grade, GraderError, PythonGrader, UntrustedCodeError, load_grader


@pytest.fixture(autouse=True)
def hang_guard():
    """Fail (rather than hang) any test that runs past 60 s; pytest-timeout is not installed."""

    def expire(signum, frame):
        raise TimeoutError("python grader test exceeded its 60 s guard")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, 60)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


# Module-level functions: importable, so they round-trip through configs and pickle.
def grade_len(sample, item):
    return min(1.0, len(sample["output_text"]) / 10)


def grade_answer(sample, item):
    return sample["output_text"].strip() == item["answer"]


def grade_shape(sample, item):
    """1.0 when sample and item have exactly OpenAI's shape."""
    keys_ok = set(sample) == {"output_text", "output_json", "output_tools", "choices"}
    return float(keys_ok and isinstance(item, dict) and sample["output_tools"] == [] and sample["choices"] == [])


def grade_raise_on_two(sample, item):
    if item["x"] == 2:
        raise KeyError("two")
    return 0.5


# ------------------------------------------------------------------------------------------
# In-process callables


def _returning(value):
    return PythonGrader(name="r", fn=lambda sample, item: value)


try:
    import numpy as np
except ImportError:  # pragma: no cover
    np = None


@pytest.mark.parametrize(
    ("value", "score", "error"),
    [
        (0.5, 0.5, None),  # a float in range is the score
        (1, 1.0, None),  # ints are numbers
        (True, 1.0, None),  # bool counts as 1
        (False, 0.0, None),  # ... and 0
        (0.0, 0.0, None),  # zero is a score (judged bad), not unscored
        ("1.0", None, "invalid_result"),  # a numeric string is not a number
        (None, None, "invalid_result"),  # None is not a score
        (math.nan, None, "invalid_result"),  # NaN never becomes a reward
        (math.inf, None, "invalid_result"),  # nor does infinity
        (1.5, None, "invalid_result"),  # out of [0, 1]: unscored by the range check
        (-0.1, None, "invalid_result"),  # below the range
        (10**400, None, "invalid_result"),  # too large for a float
        ([1.0], None, "invalid_result"),  # containers are not scores
        (Grade(0.25, reason="custom"), 0.25, None),  # a Grade passes through with its reason
    ],
    ids=["float", "int", "true", "false", "zero", "string", "none", "nan", "inf", "above", "below", "huge_int",
         "list", "grade"],
)
def test_fn_return_values(value, score, error):
    grade = _returning(value).grade("x")
    assert grade.score == score
    assert grade.error == error
    assert (grade.passed is None) == (score is None)


@pytest.mark.skipif(np is None, reason="numpy not installed")
def test_fn_numpy_scalars_are_numbers():
    assert _returning(np.float32(0.25)).grade("x").score == 0.25
    assert _returning(np.bool_(True)).grade("x").score == 1.0


def test_fn_gets_openai_shaped_sample_and_item():
    g = PythonGrader(name="shape", fn=grade_shape)
    assert g.grade("hello", {"a": 1}).score == 1.0
    seen = []
    probe = PythonGrader(name="probe", fn=lambda s, i: seen.append((s, i)) or 1.0)
    probe.grade('{"city": "Paris"}', {"answer": "Paris"})
    sample, item = seen[0]
    assert sample["output_json"] == {"city": "Paris"} and item == {"answer": "Paris"}


def test_fn_exception_unscored_for_that_row_only():
    g = PythonGrader(name="r2", fn=grade_raise_on_two)
    grades = g.grade_batch(["a", "b", "c"], [{"x": 1}, {"x": 2}, {"x": 3}])
    assert [x.score for x in grades] == [0.5, None, 0.5]
    assert grades[1].error == "crash" and "KeyError" in grades[1].reason
    # TRL's path: dataset columns as keyword lists, None for the unscored row.
    assert g(prompts=["p"] * 3, completions=["a", "b", "c"], x=[1, 2, 3]) == [0.5, None, 0.5]


def test_trl_conversational_completions_reach_fn_as_text():
    g = PythonGrader(name="ans", fn=grade_answer)
    completions = [[{"role": "assistant", "content": " 4 "}], [{"role": "assistant", "content": "5"}]]
    prompts = [[{"role": "user", "content": "2+2?"}]] * 2
    assert g(prompts=prompts, completions=completions, answer=["4", "4"]) == [1.0, 0.0]


def test_five_megabyte_completion_scores_zero_without_calling_fn():
    calls = []
    g = PythonGrader(name="big", fn=lambda s, i: calls.append(1) or 1.0)
    grade = g.grade("x" * 5_000_000)
    assert grade.score == 0.0 and grade.details["error"] == "output_too_long"
    assert calls == []


_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
    st.lists(st.floats(), max_size=2),
)


@settings(max_examples=200, deadline=None)
@given(value=_values, text=st.text(max_size=50))
def test_fn_path_property_never_raises_and_stays_in_range(value, text):
    g = _returning(value)
    grade = g.grade(text, {})
    again = g.grade(text, {})
    assert grade == again  # deterministic
    if grade.score is None:
        assert grade.error in {"invalid_result"}
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        assert not (is_number and math.isfinite(value) and 0 <= value <= 1)
    else:
        assert math.isfinite(grade.score) and 0.0 <= grade.score <= 1.0
        assert grade.score == float(value)
    (score,) = g(prompts=["p"], completions=[text])
    assert score == grade.score


# ------------------------------------------------------------------------------------------
# Sandboxed source

SOURCE = textwrap.dedent(
    """
    import os, sys, time

    def grade(sample, item):
        case = item.get("case", "score")
        if case == "score":
            return float(sample["output_text"].strip() == item["answer"])
        if case == "shape":
            ok = set(sample) == {"output_text", "output_json", "output_tools", "choices"}
            return float(ok and sample["output_json"] == {"a": 1} and sample["output_tools"] == [])
        if case == "infinite_loop":
            while True:
                pass
        if case == "sleep":
            time.sleep(1000)
        if case == "sys_exit":
            sys.exit(0)
        if case == "os_exit":
            os._exit(3)
        if case == "raise":
            raise ValueError("bad row")
        if case == "fake_stdout":
            print('{"score": 1.0}')
            print("1.0", file=sys.stderr)
            return 0.0
        if case == "secret":
            return 1.0 if "RFT_PY_GRADER_SECRET" in os.environ else 0.0
        if case == "nan":
            return float("nan")
        if case == "string":
            return "1.0"
        if case == "true":
            return True
        if case == "none":
            return None
        if case == "out_of_range":
            return 7.0
    """
)


@pytest.fixture(scope="module")
def sandboxed():
    g = PythonGrader(name="sandboxed", source=SOURCE, timeout=1.0, memory_mb=512)
    yield g
    pids = g._sandbox.pids if g._sandbox is not None else []
    g.close()
    leftovers = [p for p in pids if os.path.exists(f"/proc/{p}")]
    assert leftovers == [], "worker supervisors survived close()"


@pytest.mark.parametrize(
    ("item", "score", "error"),
    [
        ({"answer": "42"}, 1.0, None),  # plain scoring
        ({"answer": "7"}, 0.0, None),  # judged bad is 0, not unscored
        ({"case": "infinite_loop"}, None, "timeout"),  # killed at the deadline
        ({"case": "sleep"}, None, "timeout"),  # sleep(1000) likewise
        ({"case": "sys_exit"}, None, "crash"),  # sys.exit is a crash, not a score
        ({"case": "os_exit"}, None, "crash"),  # the worker died
        ({"case": "raise"}, None, "crash"),  # an exception
        ({"case": "fake_stdout"}, 0.0, None),  # printed fake results are ignored
        ({"case": "secret"}, 0.0, None),  # the parent's environment is not visible
        ({"case": "nan"}, None, "invalid_result"),  # NaN
        ({"case": "string"}, None, "invalid_result"),  # "1.0"
        ({"case": "true"}, 1.0, None),  # True -> 1.0
        ({"case": "none"}, None, "invalid_result"),  # None
        ({"case": "out_of_range"}, None, "invalid_result"),  # 7.0 is outside [0, 1]
    ],
    ids=["match", "mismatch", "infinite_loop", "sleep", "sys_exit", "os_exit", "raise", "fake_stdout", "secret",
         "nan", "string", "true", "none", "out_of_range"],
)
def test_source_cases(sandboxed, monkeypatch, item, score, error):
    monkeypatch.setenv("RFT_PY_GRADER_SECRET", "hunter2")
    grade = sandboxed.grade(" 42 ", item)
    assert grade.score == score, grade
    assert grade.error == error, grade
    if error is not None:
        assert grade.reason and grade.passed is None


def test_source_sample_has_openai_shape(sandboxed):
    assert sandboxed.grade('{"a": 1}', {"case": "shape"}).score == 1.0


def test_source_batch_one_bad_row_rest_scored(sandboxed):
    items = [{"answer": "42"}, {"case": "raise"}, {"answer": "42"}, {"case": "sleep"}, {"answer": "0"}]
    grades = sandboxed.grade_batch(["42"] * 5, items)
    assert [g.score for g in grades] == [1.0, None, 1.0, None, 0.0]
    assert [g.error for g in grades] == [None, "crash", None, "timeout", None]
    scores = sandboxed(prompts=["p"] * 3, completions=["42", "42", "x"], answer=["42", "1", "x"], case=["score"] * 3)
    assert scores == [1.0, 0.0, 1.0]


def test_source_five_megabyte_completion_is_zero(sandboxed):
    grade = sandboxed.grade("4" * 5_000_000, {"answer": "42"})
    assert grade.score == 0.0 and grade.details["error"] == "output_too_long"


def test_source_that_fails_to_load_leaves_rows_unscored_and_warns():
    with PythonGrader(name="broken", source="import no_such_module_xyz\ndef grade(s, i):\n    return 1.0\n") as g:
        with pytest.warns(RuntimeWarning, match="no_such_module_xyz"):
            grades = g.grade_batch(["a", "b"], [{}, {}])
        assert [x.error for x in grades] == ["crash", "crash"]
        with pytest.raises(GraderError, match="failed to load"):
            g.start()


# ------------------------------------------------------------------------------------------
# Configs: trust, validation, round trips

CONFIG = {"type": "python", "name": "exact", "source": "def grade(sample, item):\n    return 1.0\n"}


def test_source_config_needs_trust_code():
    with pytest.raises(UntrustedCodeError) as info:
        load_grader(CONFIG)
    assert isinstance(info.value, ConfigError)
    assert "trust_code=True" in str(info.value) and info.value.path == "source"
    with pytest.raises(UntrustedCodeError):
        load_grader({"type": "python", "function": "math:floor"})
    assert isinstance(load_grader(CONFIG, trust_code=True), PythonGrader)


@pytest.mark.parametrize(
    ("config", "field", "message"),
    [
        ({"source": "def grade(:\n    pass"}, "source", "line 1"),  # syntax error, with its line
        ({"source": "def score(s, i):\n    return 1"}, "source", "no top-level grade"),  # no grade function
        ({"source": "x = 1\n" + "#" * 262_200 + "\ndef grade(s, i):\n    return 1"}, "source", "256"),  # too big
        ({}, "source", "needs its code"),  # no code at all
        ({"source": 42}, "source", "string"),  # source of the wrong type
        ({"function": "no_colon"}, "function", "module:qualname"),  # malformed reference
        ({"function": "no_such_module_xyz:grade"}, "function", "cannot import"),  # missing module
        ({"function": "math:no_such_fn"}, "function", "has no"),  # missing attribute
        ({"function": "math:pi"}, "function", "not a function"),  # not callable
        ({"fn": "print"}, "fn", "cannot come from a config"),  # fn is Python-only
        ({"source": "def grade(s, i):\n    return 1", "timeout": 0}, "timeout", "(0, 3600]"),  # zero timeout
        ({"source": "def grade(s, i):\n    return 1", "memory_mb": 10}, "memory_mb", "64"),  # too little memory
        ({"source": "def grade(s, i):\n    return 1", "workers": 0}, "workers", "1 to 64"),  # no workers
        ({"source": "def grade(s, i):\n    return 1", "image_tag": 3}, "image_tag", "string"),  # bad tag
    ],
    ids=["syntax", "no_grade", "too_big", "no_code", "source_type", "bad_ref", "missing_module", "missing_attr",
         "not_callable", "fn_in_config", "timeout", "memory", "workers", "image_tag"],
)
def test_bad_configs_fail_at_load_naming_the_field(config, field, message):
    with pytest.raises(ConfigError) as info:
        load_grader({"type": "python", "name": "bad", **config}, trust_code=True)
    assert info.value.path == field
    assert message in str(info.value)


def test_source_and_fn_together_are_refused():
    with pytest.raises(ConfigError, match="either source or fn"):
        PythonGrader(source="def grade(s, i):\n    return 1", fn=grade_len)


def test_source_config_round_trip_keeps_every_field():
    g = PythonGrader(name="g", source=CONFIG["source"], image_tag="2025-05-08", timeout=2.5, memory_mb=512, workers=1)
    config = g.to_config()
    assert config == {
        "type": "python",
        "name": "g",
        "source": CONFIG["source"],
        "image_tag": "2025-05-08",
        "timeout": 2.5,
        "memory_mb": 512,
        "workers": 1,
    }
    assert load_grader(config, trust_code=True) == g


def test_importable_fn_round_trips_as_function_reference():
    g = PythonGrader(name="len", fn=grade_len)
    config = g.to_config()
    assert config["function"].endswith(":grade_len") and "fn" not in config
    back = load_grader(config, trust_code=True)
    assert back == g and back.fn is grade_len
    assert back.grade("12345").score == 0.5


def test_lambda_fn_cannot_be_written_to_a_config():
    g = PythonGrader(name="anon", fn=lambda s, i: 1.0)
    with pytest.raises(GraderError, match="module level"):
        g.to_config()
    assert "anon" in repr(g)  # repr still works


def test_python_grader_is_registered_and_public():
    assert rft.grader_types()["python"] is PythonGrader
    assert "PythonGrader" in rft.__all__


# ------------------------------------------------------------------------------------------
# Pickling (TRL's AsyncGRPO sends reward functions to another process)


def test_pickled_source_grader_starts_its_own_workers():
    with PythonGrader(name="p", source="import os\ndef grade(s, i):\n    return os.getpid() / 10**8\n") as g:
        first = g.grade("x").score
        clone = pickle.loads(pickle.dumps(g))
        with clone:
            assert clone == g and clone.__name__ == "p"
            assert clone.grade("x").score != first  # a fresh worker, not the original's
            assert clone._sandbox is not g._sandbox


def test_pickled_fn_grader_grades_the_same():
    g = PythonGrader(name="len", fn=grade_len)
    clone = pickle.loads(pickle.dumps(g))
    assert clone == g and clone.grade("1234567890").score == 1.0


@pytest.mark.skipif(sys.platform != "linux", reason="spawn start method check uses Linux")
def test_source_grader_works_in_a_spawned_process():
    import multiprocessing as mp

    g = PythonGrader(name="spawned", source="def grade(s, i):\n    return len(s['output_text']) / 10\n")
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        assert pool.apply(_call_grader, (g,)) == [0.3, 0.5]


def _call_grader(g):
    with g:
        return g(prompts=["p", "p"], completions=["abc", "abcde"])
