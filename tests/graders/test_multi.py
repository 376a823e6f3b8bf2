"""The ``multi`` grader: OpenAI's formula over sub-graders."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rft
from rft import ConfigError, Grade, Multi
from rft.graders._async import AsyncCall

# Rows graded by the test graders below, by grader name.
CALLS: collections.Counter[str] = collections.Counter()


@rft.register_grader("test_multi_fixed")
@dataclasses.dataclass(kw_only=True, eq=True, repr=False)
class Fixed(rft.Grader):
    """Scores every row ``value`` (counts the rows it saw); ``crash_on`` makes it raise."""

    value: float = 1.0
    crash_on: str = ""

    def _evaluate(self, batch, rich):
        CALLS[self.name] += batch.n
        if self.crash_on and any(self.crash_on in t for t in batch.texts):
            raise RuntimeError("boom")
        return [self.value] * batch.n


@rft.register_grader("test_multi_async")
@dataclasses.dataclass(kw_only=True, eq=True, repr=False)
class SlowAsync(AsyncCall, rft.Grader):
    """An async grader (like a judge): 1 if the output contains ``word``; records concurrency."""

    word: str = "yes"

    async def _aevaluate(self, batch, rich):
        CALLS[self.name] += batch.n
        CALLS["active"] += 1
        CALLS["peak"] = max(CALLS["peak"], CALLS["active"])
        await asyncio.sleep(0.02)
        CALLS["active"] -= 1
        return [1.0 if self.word in t else 0.0 for t in batch.texts]


def check(name, reference, field, operation="eq"):
    return {
        "type": "string_check",
        "name": name,
        "input": "{{sample.output_json.%s}}" % field,
        "reference": reference,
        "operation": operation,
    }


CONTACT_CHECKS = {
    "type": "multi",
    "name": "contact",
    "graders": {
        "name": check("n", "{{item.name}}", "name", "ilike"),
        "email": check("e", "{{item.email}}", "email"),
    },
    "calculate_output": "(name + email) / 2",
}

ITEM = {"name": "Ada", "email": "ada@x.org"}

# (output, item, score, why)
CONTACT_CASES = [
    ('{"name": "Ada Lovelace", "email": "ada@x.org"}', ITEM, 1.0, "both right"),
    ('{"name": "Grace", "email": "ada@x.org"}', ITEM, 0.5, "name wrong"),
    ('{"name": "ada"}', ITEM, 0.5, "email missing from the output: the model's fault, 0 for that part"),
    ("not json", ITEM, 0.0, "unparseable output scores 0, not unscored"),
    ('```json\n{"name": "Ada", "email": "ada@x.org"}\n```', ITEM, 1.0, "fenced JSON block"),
    ('{"name": "Ada", "email": "ada@x.org"}', {"name": "Ada"}, None, "row lacks email: unscored"),
]


@pytest.mark.parametrize(("output", "item", "score", "why"), CONTACT_CASES, ids=[c[3] for c in CONTACT_CASES])
def test_contact_example_with_string_checks(output, item, score, why):
    grader = rft.load_grader(CONTACT_CHECKS)
    grade = grader.grade(output, item)
    assert grade.score == score, why
    assert set(grade.details["sub_grades"]) == {"name", "email"}
    if score is None:
        assert grade.error == "missing_field"
        assert "'email'" in grade.reason and "item.email" in grade.reason
        assert grade.details["sub_rewards"]["email"] is None


def test_openai_contact_example_with_text_similarity():
    if "text_similarity" not in rft.grader_types():
        pytest.skip("text_similarity is not written yet")
    config = {
        "type": "multi",
        "name": "contact",
        "graders": {
            "name": {
                "type": "text_similarity",
                "name": "n",
                "input": "{{sample.output_json.name}}",
                "reference": "{{item.name}}",
                "evaluation_metric": "fuzzy_match",
            },
            "email": check("e", "{{item.email}}", "email"),
        },
        "calculate_output": "(name + email) / 2",
    }
    grader = rft.load_grader(config)
    item = {"name": "Ada Lovelace", "email": "ada@x.org"}
    exact = grader.grade('{"name": "Ada Lovelace", "email": "ada@x.org"}', item)
    close = grader.grade('{"name": "Ada Lovelase", "email": "ada@x.org"}', item)
    wrong = grader.grade('{"name": "Ada Lovelace", "email": "a@x.org"}', item)
    assert exact.score == 1.0
    assert 0.5 < close.score < 1.0  # fuzzy name similarity, exact email
    assert close.score == pytest.approx((close.details["sub_rewards"]["name"] + 1.0) / 2)
    assert wrong.score == 0.5
    assert rft.load_grader(grader.to_config()) == grader


def test_unused_sub_grader_is_recorded_but_cannot_unscore():
    grader = Multi(
        graders={"ok": Fixed(name="ok", value=0.5), "spare": check("spare", "{{item.missing}}", "x")},
        calculate_output="ok",
    )
    grade = grader.grade("{}", {})
    assert grade.score == 0.5
    assert grade.details["sub_grades"]["spare"].error == "missing_field"


def test_each_child_keeps_its_own_marks():
    # The first child cannot judge (missing field); the second one's verdict is unaffected.
    grader = Multi(
        graders={"a": check("a", "{{item.gone}}", "x"), "b": Fixed(name="b_own", value=0.25)},
        calculate_output="b",
    )
    grades = grader.grade_batch(["{}", "{}"], [{}, {}])
    assert [g.score for g in grades] == [0.25, 0.25]
    assert grader(completions=["{}", "{}"]) == [0.25, 0.25]


def test_formula_undefined_for_a_row_is_unscored_and_the_batch_goes_on():
    grader = Multi(
        graders={"num": check("num", "1", "a"), "den": check("den", "1", "b")},
        calculate_output="num / den",
        range=[0, 1],
    )
    grades = grader.grade_batch(['{"a": "1", "b": "1"}', '{"a": "1", "b": "0"}'])
    assert grades[0].score == 1.0 and grades[0].passed is True
    assert grades[1].score is None and grades[1].passed is None
    assert grades[1].error == "formula_error"
    assert "division by zero in 'num / den'" in grades[1].reason
    assert grader(completions=['{"a": "1", "b": "1"}', '{"a": "1", "b": "0"}']) == [1.0, None]


# (formula, range, expected score, error, why)
RANGE_CASES = [
    ("a * 2", None, None, "invalid_result", "2 is outside the default [0, 1]"),
    ("a * 2", [0, 2], 2.0, None, "a wider range admits it"),
    ("a - 2", [-5, 0], -1.0, None, "negative ranges work"),
    ("a / 4", None, 0.25, None, "inside the default range"),
]


@pytest.mark.parametrize(("formula", "span", "score", "error", "why"), RANGE_CASES, ids=[c[4] for c in RANGE_CASES])
def test_range(formula, span, score, error, why):
    kwargs = {} if span is None else {"range": span}
    grader = Multi(graders={"a": Fixed(name="a")}, calculate_output=formula, **kwargs)
    grade = grader.grade("x")
    assert grade.score == score, why
    assert grade.error == error
    assert grader(completions=["x"]) == [score]
    assert Fixed(name="plain").score_range == (0.0, 1.0)  # the class default is untouched


def test_pass_threshold_defaults_to_the_top_of_the_range():
    half = Multi(graders={"a": Fixed(name="a", value=0.5)}, calculate_output="a * 4", range=[0, 4])
    assert half.grade("x").score == 2.0 and half.grade("x").passed is False
    assert half.threshold == 4.0
    lenient = Multi(graders={"a": Fixed(name="a", value=0.5)}, calculate_output="a * 4", range=[0, 4], pass_threshold=2)
    assert lenient.grade("x").passed is True


def test_round_trips_through_config_and_json():
    grader = Multi(
        name="mix",
        graders={"x": Fixed(name="x", value=0.5), "inner": Multi(graders={"y": Fixed(name="y")}, calculate_output="y")},
        calculate_output="max(x, inner)^2",
        range=(0, 2),
        pass_threshold=0.5,
    )
    config = grader.to_config()
    assert config["range"] == [0.0, 2.0] and config["graders"]["inner"]["type"] == "multi"
    again = rft.load_grader(json.loads(json.dumps(config)))
    assert again == grader
    assert again.to_config() == config
    assert again.grade("z").score == grader.grade("z").score == 1.0


# (config patch, error path, message fragment, why)
CONFIG_ERRORS = [
    ({"graders": {"name": check("n", "x", "name"), "email": {**check("e", "x", "email"), "operation": "equals"}}},
     "graders.email.operation", "unknown operation", "a bad sub-grader field carries its full path"),
    ({"graders": {"email": {"name": "e"}}}, "graders.email", "no 'type'", "sub-config without a type"),
    ({"graders": {"email": {"type": "nope"}}}, "graders.email.type", "unknown grader type", "unknown sub-grader type"),
    ({"graders": {"e-mail": check("e", "x", "email")}, "calculate_output": "1"}, "graders",
     "'e-mail' cannot be named", "keys must be identifiers"),
    ({"graders": {"1st": check("e", "x", "email")}, "calculate_output": "1"}, "graders", "'g_1st'",
     "keys cannot start with a digit; the fix is suggested"),
    ({"graders": {}}, "graders", "non-empty mapping", "no sub-graders"),
    ({"graders": [check("e", "x", "email")]}, "graders", "mapping", "OpenAI's graders is a mapping"),
    ({"graders": {"email": "string_check"}}, "graders.email", "expected a grader or a grader config", "not a config"),
    ({"calculate_output": "(name + emial) / 2"}, "calculate_output", "did you mean 'email'", "typo in the formula"),
    ({"calculate_output": "name +"}, "calculate_output", "column 7", "syntax error with its column"),
    ({"calculate_output": 3}, "calculate_output", "expected a formula string", "not a string"),
    ({"range": [1, 0]}, "range", "low < high", "reversed range"),
    ({"range": [0, "1"]}, "range", "finite numbers", "non-numeric range"),
    ({"pass_threshold": "high"}, "pass_threshold", "finite number", "bad threshold"),
    ({"weights": [1, 2]}, "weights", "unknown field 'weights'", "unknown field"),
]


@pytest.mark.parametrize(("patch", "path", "fragment", "why"), CONFIG_ERRORS, ids=[c[3] for c in CONFIG_ERRORS])
def test_config_errors(patch, path, fragment, why):
    with pytest.raises(ConfigError) as info:
        rft.load_grader({**CONTACT_CHECKS, **patch})
    assert info.value.path == path, why
    assert fragment in str(info.value), str(info.value)


def test_missing_calculate_output():
    config = {k: v for k, v in CONTACT_CHECKS.items() if k != "calculate_output"}
    with pytest.raises(ConfigError, match="missing required field 'calculate_output'"):
        rft.load_grader(config)


def test_nested_error_path():
    deep = {**check("d", "x", "y"), "operation": "??"}
    inner = {"type": "multi", "graders": {"deep": deep}, "calculate_output": "deep"}
    with pytest.raises(ConfigError) as info:
        rft.load_grader({"type": "multi", "graders": {"outer": inner}, "calculate_output": "outer"})
    assert info.value.path == "graders.outer.graders.deep.operation"


def test_trust_code_reaches_sub_graders(monkeypatch):
    seen = []
    original = Fixed.from_config.__func__

    def spy(cls, config, *, trust_code=False):
        seen.append(trust_code)
        return original(cls, config, trust_code=trust_code)

    monkeypatch.setattr(Fixed, "from_config", classmethod(spy))
    config = {"type": "multi", "graders": {"a": {"type": "test_multi_fixed"}}, "calculate_output": "a"}
    rft.load_grader(config, trust_code=True)
    rft.load_grader(config)
    assert seen == [True, False]


def test_pickles_and_grades_the_same():
    grader = rft.load_grader(CONTACT_CHECKS)
    again = pickle.loads(pickle.dumps(grader))
    assert again == grader
    out = '{"name": "Ada", "email": "ada@x.org"}'
    assert again.grade(out, ITEM) == grader.grade(out, ITEM)


def test_trl_call_matches_grades():
    grader = rft.load_grader(CONTACT_CHECKS)
    outputs = [c[0] for c in CONTACT_CASES]
    items = [c[1] for c in CONTACT_CASES]
    logged = {}
    rewards = grader(
        prompts=["p"] * len(outputs),
        completions=[[{"role": "assistant", "content": o}] for o in outputs],  # conversational format
        completion_ids=[[1]] * len(outputs),
        trainer_state=None,
        log_metric=lambda k, v: logged.__setitem__(k, v),
        name=[i.get("name") for i in items],
        email=[i.get("email") for i in items],
    )
    # TRL passes columns: a row without email arrives as None, which is a value, not a missing field.
    expected = [g.score for g in grader.grade_batch(outputs, [{k: i.get(k) for k in ("name", "email")} for i in items])]
    assert rewards == expected
    assert rewards[:5] == [c[2] for c in CONTACT_CASES[:5]]
    assert "rft/contact/unscored_frac" in logged


def test_reward_path_skips_unused_sub_graders():
    CALLS.clear()
    grader = Multi(graders={"used": Fixed(name="used"), "spare": Fixed(name="spare")}, calculate_output="used")
    assert grader(completions=["a", "b"]) == [1.0, 1.0]
    assert CALLS["spare"] == 0 and CALLS["used"] == 2
    grader.grade_batch(["a", "b"])
    assert CALLS["spare"] == 2  # reports still show it


def test_over_long_outputs_score_0_before_children_see_them():
    CALLS.clear()
    grader = Multi(graders={"a": Fixed(name="seen")}, calculate_output="a", max_output_chars=10)
    grades = grader.grade_batch(["short", "x" * 50])
    assert [g.score for g in grades] == [1.0, 0.0]
    assert grades[1].details["error"] == "output_too_long"
    assert CALLS["seen"] == 1


def test_a_crashing_sub_grader_unscores_only_its_rows():
    grader = Multi(graders={"a": Fixed(name="crashy", crash_on="bad")}, calculate_output="a")
    grades = grader.grade_batch(["fine", "bad", "fine"])
    assert [g.score for g in grades] == [1.0, None, 1.0]
    assert grades[1].error == "crash" and "'a' is unscored" in grades[1].reason


def test_grade_to_dict_round_trips_with_sub_grades():
    grade = rft.load_grader(CONTACT_CHECKS).grade('{"name": "Ada", "email": "x"}', ITEM)
    data = json.loads(json.dumps(grade.to_dict()))
    assert data["details"]["sub_rewards"] == {"name": 1.0, "email": 0.0}
    assert Grade.from_dict(data) == grade


def test_async_children_make_the_multi_async_and_run_concurrently():
    CALLS.clear()
    grader = Multi(
        graders={"j1": SlowAsync(name="j1"), "j2": SlowAsync(name="j2", word="no"), "s": Fixed(name="s", value=0.5)},
        calculate_output="(j1 + j2 + s) / 3",
    )
    assert grader.is_async and asyncio.iscoroutinefunction(grader.__call__)
    rewards = asyncio.run(grader(completions=["yes", "no"]))
    assert rewards == pytest.approx([0.5, 0.5])
    assert CALLS["peak"] == 2  # both judges were in flight at once
    grades = grader.grade_batch(["yes no"])
    assert grades[0].score == pytest.approx(2.5 / 3)
    assert grades[0].details["sub_rewards"] == {"j1": 1.0, "j2": 1.0, "s": 0.5}
    again = pickle.loads(pickle.dumps(grader))
    assert again.is_async and again == grader
    assert rft.load_grader(grader.to_config()) == grader


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["a + b", "a / b", "log(a) - b", "sqrt(a - b)", "max(a, b)^2", "(a - b) / (a + b)", "a * 3"]),
    st.lists(st.text(alphabet="ab{}\":0123456789 ", max_size=20), min_size=1, max_size=4),
)
def test_never_raises_and_is_deterministic(formula, outputs):
    grader = Multi(
        graders={"a": check("a", "1", "a", "like"), "b": check("b", "2", "b", "like")},
        calculate_output=formula,
        range=[-10, 10],
    )
    first = grader.grade_batch(outputs)
    assert first == grader.grade_batch(outputs)
    assert grader(completions=outputs) == [g.score for g in first]
    for g in first:
        assert g.score is None or -10 <= g.score <= 10
        assert (g.score is None) == (g.passed is None)
