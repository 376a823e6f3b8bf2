"""Every catalogue grader loads, round-trips, survives hostile outputs, and grades its own examples
as it declares (in the rich path and in TRL's reward path alike)."""

from __future__ import annotations

import copy
import pickle

import pytest

import rft
from rft._catalogue import catalogue_entry, catalogue_path, list_catalogue
from rft.eval._checks import check_examples

NAMES = list_catalogue()

#: The graders the README promises; more may exist.
REQUIRED = {
    "answer_in_tags",
    "answer_matches_reference",
    "gsm8k_answer",
    "boxed_math",
    "valid_json_object",
    "json_matches_item_schema",
    "think_then_answer",
    "contact_extraction",
}


def test_catalogue_has_the_promised_graders():
    assert REQUIRED <= set(NAMES)
    assert len(NAMES) >= 8


@pytest.mark.parametrize("name", NAMES)
def test_entry_is_documented_and_named_after_its_file(name):
    entry = catalogue_entry(name)
    assert isinstance(entry.get("description"), str) and len(entry["description"]) > 20
    assert entry.get("name") == name == catalogue_path(name).stem
    examples = entry.get("examples")
    assert isinstance(examples, list) and len(examples) >= 3
    # Every grader shows at least one pass and one failure.
    declared = {ex.get("expected_score", ex.get("expected_passed")) for ex in examples}
    assert 1 in declared and 0 in declared  # True == 1 and False == 0: scores and pass flags alike


@pytest.mark.parametrize("name", NAMES)
def test_loads_and_round_trips(name):
    grader = rft.load_grader(name)
    assert grader.name == name
    config = grader.to_config()
    rebuilt = rft.load_grader(config)
    assert rebuilt == grader
    assert rebuilt.to_config() == config
    assert pickle.loads(pickle.dumps(grader)) == grader
    assert rft.load_grader(catalogue_path(name)) == grader  # the file path works as well as the name


@pytest.mark.parametrize("name", NAMES)
def test_examples_grade_as_declared(name):
    grader = rft.load_grader(name)
    assert check_examples(grader, catalogue_entry(name)["examples"]) == []


@pytest.mark.parametrize("name", NAMES)
def test_reward_path_agrees_with_grades_on_examples(name):
    """TRL's __call__ (columns) gives the same number as grade() (rows) for every example."""
    grader = rft.load_grader(name)
    for ex in catalogue_entry(name)["examples"]:
        item = ex.get("item") or {}
        reward = grader(prompts=["p"], completions=[ex["sample"]], **{k: [v] for k, v in item.items()})
        assert reward == [grader.grade(ex["sample"], item).score], ex


@pytest.mark.parametrize("name", NAMES)
def test_check_examples_reports_a_wrong_declaration(name):
    """The example runner can fail: flip one declared score and it must say which example."""
    examples = copy.deepcopy(catalogue_entry(name)["examples"])
    target = next(i for i, ex in enumerate(examples) if ex.get("expected_score") in (0.0, 1.0))
    examples[target]["expected_score"] = 1.0 - examples[target]["expected_score"]
    failures = check_examples(rft.load_grader(name), examples)
    assert len(failures) == 1 and failures[0].startswith(f"examples.{target}:")


def _good_item(name: str) -> dict:
    """An item with every field the grader reads: the first example's that has one."""
    for ex in catalogue_entry(name)["examples"]:
        if ex.get("expected_score") is not None or ex.get("expected_passed") is not None:
            return ex.get("item") or {}
    return {}


HOSTILE = [
    # (output, why it must score 0 rather than crash, hang or be unscored)
    pytest.param("", id="empty-output"),
    pytest.param("<answer>" + "9" * 200_000 + "</answer>", id="over-long-output"),
    pytest.param("[" * 50_000 + "]" * 50_000, id="deep-nesting-under-the-length-limit"),
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("output", HOSTILE)
def test_hostile_outputs_score_zero(name, output):
    grader = rft.load_grader(name)
    grade = grader.grade(output, _good_item(name))
    assert grade.score == 0.0, grade
    assert grade.passed is False


def _injection_cases() -> list:
    """(name, example index) for examples that pass and whose sample repeats a value of its item."""
    cases = []
    for name in NAMES:
        for i, ex in enumerate(catalogue_entry(name)["examples"]):
            item = ex.get("item") or {}
            values = [v for v in item.values() if isinstance(v, str) and v and v in ex["sample"]]
            if ex.get("expected_score") == 1.0 and values:
                cases.append(pytest.param(name, i, id=f"{name}-example-{i}"))
    return cases


@pytest.mark.parametrize("name, index", _injection_cases())
def test_template_syntax_in_an_output_is_never_substituted(name, index):
    """Write {{item.x}} where a passing sample had the value of x: if rft substituted it, the
    output would still pass; shown literally, as it must be, it fails."""
    ex = catalogue_entry(name)["examples"][index]
    item = ex["item"]
    injected = ex["sample"]
    for key, value in item.items():
        if isinstance(value, str) and value:
            injected = injected.replace(value, "{{item.%s}}" % key)
    grade = rft.load_grader(name).grade(injected, item)
    assert grade.score is not None and grade.score < 1.0, (injected, grade)


def test_unknown_catalogue_name_lists_the_catalogue():
    with pytest.raises(rft.ConfigError) as info:
        rft.load_grader("no_such_grader")
    assert "gsm8k_answer" in str(info.value)


def test_catalogue_path_env_override(tmp_path, monkeypatch):
    """RFT_GRADERS_PATH folders are searched first: a team can ship its own catalogue."""
    (tmp_path / "says_ok.yaml").write_text(
        "description: the output is ok\ntype: string_check\nname: says_ok\nreference: ok\n"
        "examples: [{sample: ok, expected_score: 1.0}]\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("RFT_GRADERS_PATH", str(tmp_path))
    assert "says_ok" in list_catalogue()
    assert rft.load_grader("says_ok").grade("ok").score == 1.0
