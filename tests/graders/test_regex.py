"""regex: RE2 by default (linear time), backtracking only on request and under a timeout."""

from __future__ import annotations

import json
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rft import ConfigError, Regex, load_grader

CATASTROPHIC = r"^(a|aa)+$"
EVIL_INPUT = "a" * 40 + "!"

# (grader kwargs, completion, reference, expected score, reason fragment, why)
CASES = [
    ({"pattern": r"\d+"}, "it is 42", None, 1.0, "matches the input", "match anywhere"),
    ({"pattern": r"\d+"}, "no digits", None, 0.0, "does not match", "no match"),
    ({"pattern": r"\d+", "mode": "fullmatch"}, "it is 42", None, 0.0, "does not fully match", "fullmatch needs all"),
    ({"pattern": r"\d+", "mode": "fullmatch"}, " 42 ", None, 1.0, "fully matches", "input normalised first"),
    ({"pattern": r"\d+", "mode": "fullmatch", "normalize": False}, " 42 ", None, 0.0, "does not", "raw input"),
    ({"pattern": r"^\d+$"}, "\uff14\uff12", None, 1.0, "matches", "fullwidth digits fold to ASCII"),
    ({"pattern": r"^42$"}, "4\u200b2", None, 1.0, "matches", "zero-width removed before matching"),
    ({"pattern": r"^\d+$", "normalize": False}, "\uff14\uff12", None, 0.0, "does not", "RE2 \\d is ASCII"),
    ({"pattern": CATASTROPHIC}, EVIL_INPUT, None, 0.0, "does not match", "catastrophic pattern is linear in RE2"),
    ({"pattern": "yes"}, "YES", None, 0.0, "does not", "case-sensitive by default"),
    ({"pattern": "yes", "flags": ["IGNORECASE"]}, "YES", None, 1.0, "matches", "IGNORECASE"),
    ({"pattern": "yes", "flags": ["i"]}, "YES", None, 1.0, "matches", "short flag"),
    ({"pattern": "a.b"}, "a\nb", None, 0.0, "does not", "dot stops at newline"),
    ({"pattern": "a.b", "flags": ["DOTALL"]}, "a\nb", None, 1.0, "matches", "DOTALL"),
    ({"pattern": "^b$"}, "a\nb", None, 0.0, "does not", "anchors are whole-text"),
    ({"pattern": "^b$", "flags": "m"}, "a\nb", None, 1.0, "matches", "MULTILINE, flags as one string"),
    ({"pattern": "^ok$", "strip_think": True}, "<think>not ok</think>ok", None, 1.0, "matches", "think stripped"),
    ({"pattern": "^ok$"}, "<think>not ok</think>ok", None, 0.0, "does not", "think kept by default"),
    ({"pattern": r"\d"}, "", None, 0.0, "does not", "empty completion"),
    # with a reference: the last match's first group
    ({"pattern": r"Answer: (\d+)"}, "Answer: 42", "42", 1.0, "captured '42' == reference '42'", "capture equals"),
    ({"pattern": r"Answer: (\d+)"}, "Answer: 42 Answer: 41", "42", 0.0, "captured '41' != reference '42'",
     "last match only"),
    ({"pattern": r"Answer: (\d+)"}, "Answer: 41 Answer: 42", "42", 1.0, "==", "last match (match)"),
    ({"pattern": r"Answer: (\d+)"}, "no answer", "42", 0.0, "no answer found", "no match with a reference"),
    ({"pattern": r"A: (\d+)|B: (\d+)"}, "B: 7", "7", 1.0, "==", "first participating group"),
    ({"pattern": r"\d+"}, "41 or 42", "42", 1.0, "==", "no group: whole last match"),
    ({"pattern": r"Answer:(.*)"}, "Answer:  42 ", "42", 1.0, "==", "capture normalised"),
    ({"pattern": r"Answer:(.*)", "normalize": False}, "Answer: 42", "42", 0.0, "!=", "raw capture"),
    ({"pattern": r"Answer: (\d+)"}, "Answer: 42", "\uff14\uff12", 1.0, "==", "reference normalised"),
    ({"pattern": r"(\d+)", "mode": "fullmatch"}, "42", "42", 1.0, "==", "fullmatch with a reference"),
    ({"pattern": r"Answer: (\d+)", "strip_think": True}, "Answer: 42<think>Answer: 41</think>", "42", 1.0, "==",
     "match inside think ignored"),
    # engine python: backreferences and lookaround, bounded by a timeout
    ({"pattern": r"(\w)\1", "engine": "python"}, "book", None, 1.0, "matches", "backreference"),
    ({"pattern": r"(?<=\$)(\d+)", "engine": "python"}, "cost $5 or $7", "7", 1.0, "==", "lookbehind, last match"),
    ({"pattern": r"\d+", "engine": "python", "mode": "fullmatch"}, "42", None, 1.0, "fully matches",
     "python fullmatch"),
    ({"pattern": r"(?i)yes", "engine": "python"}, "YES", None, 1.0, "matches", "python inline flag"),
    ({"pattern": "a.b", "engine": "python", "flags": ["s"]}, "a\nb", None, 1.0, "matches", "python DOTALL"),
]


@pytest.mark.parametrize(
    ("kwargs", "completion", "reference", "score", "reason"), [c[:5] for c in CASES], ids=[c[5] for c in CASES]
)
def test_cases(kwargs, completion, reference, score, reason):
    if reference is not None:
        kwargs = {**kwargs, "reference": "{{item.answer}}"}
    g = Regex(**kwargs)
    item = {"answer": reference} if reference is not None else None
    grade = g.grade(completion, item)
    assert grade.score == score, grade
    assert reason in grade.reason
    assert grade.passed is (score == 1.0)
    if reference is not None:
        assert set(grade.details) == {"answer", "reference"}
    kw = {"answer": [reference]} if reference is not None else {}
    assert g(completions=[completion], **kw) == [score]


@pytest.mark.parametrize("mode", ["search", "fullmatch"])
def test_catastrophic_pattern_on_python_engine_is_unscored_timeout(mode):
    g = Regex(pattern=CATASTROPHIC, engine="python", timeout=0.05, mode=mode)
    grade = g.grade(EVIL_INPUT)
    assert grade.score is None and grade.error == "timeout"
    assert "timed out after 0.05 s" in grade.reason
    # one hanging row does not spoil its neighbours
    assert g(completions=["aa", EVIL_INPUT, "b"]) == [1.0, None, 0.0]


def test_python_engine_timeout_bounds_the_search_for_the_last_match():
    g = Regex(pattern=r"(a|aa)+!?x", engine="python", timeout=0.05, reference="x")
    grade = g.grade(EVIL_INPUT)
    assert grade.score is None and grade.error == "timeout"


def test_quadratic_walk_to_the_last_match_is_bounded_and_unscored(monkeypatch):
    # Each RE2 search is linear, but `a*b|a` re-reads the rest of "aaaa..." for every match.
    monkeypatch.setattr("rft._extract.LAST_MATCH_BUDGET_S", 0.02)
    g = Regex(pattern=r"(a*b|a)", reference="{{item.answer}}")
    grades = g.grade_batch(["a" * 30_000, "ab a"], [{"answer": "a"}] * 2)
    assert grades[0].score is None and grades[0].error == "timeout"
    assert "took over 0.02 s" in grades[0].reason
    assert grades[1].score == 1.0
    assert g(completions=["a" * 30_000, "ab a"], answer=["a", "a"]) == [None, 1.0]


def test_five_megabyte_completion_scores_zero():
    g = Regex(pattern=r"(\d+)", reference="{{item.answer}}")
    huge = "9" * 5_000_000
    assert g.grade(huge, {"answer": "9"}).score == 0.0
    assert g(completions=[huge], answer=["9"]) == [0.0]


def test_long_output_within_the_limit_is_matched_linearly():
    g = Regex(pattern=r"(?:a|aa)+b", max_output_chars=2_000_000)
    assert g.grade("a" * 1_000_000).score == 0.0


def test_missing_item_field_is_unscored():
    g = Regex(pattern=r"(\d+)", reference="{{item.answer}}")
    assert g.grade("42", {}).error == "missing_field"
    assert g(completions=["42"], other=["42"]) == [None]


def test_trl_call_with_messages_and_none():
    g = Regex(pattern=r"<answer>(.*?)</answer>", reference="{{item.answer}}", flags=["DOTALL"])
    completions = ["<answer>7</answer>", [{"role": "assistant", "content": "<answer>\n7\n</answer>"}], None, "7"]
    assert g(prompts=["q"] * 4, completions=completions, answer=["7"] * 4) == [1.0, 1.0, 0.0, 0.0]


BAD = [
    ({"pattern": r"(a)\1"}, "pattern", "engine: python", "backreference needs engine python"),
    ({"pattern": r"(?<=a)b"}, "pattern", "RE2 cannot compile", "lookbehind"),
    ({"pattern": r"(a"}, "pattern", "invalid regular expression", "invalid for re2"),
    ({"pattern": r"(a", "engine": "python"}, "pattern", "invalid regular expression", "invalid for python"),
    ({"pattern": 5}, "pattern", "regular expression string", "not a string"),
    ({}, "pattern", "missing required field", "no pattern"),
    ({"pattern": "a", "flags": ["VERBOSE"]}, "flags[0]", "unknown flag", "unsupported flag"),
    ({"pattern": "a", "flags": 3}, "flags", "list of flags", "flags not a list"),
    ({"pattern": "a", "mode": "match"}, "mode", "search or fullmatch", "unknown mode"),
    ({"pattern": "a", "engine": "pcre"}, "engine", "unknown engine", "unknown engine"),
    ({"pattern": "a", "timeout": 0}, "timeout", "> 0", "zero timeout"),
    ({"pattern": "a", "timeout": "1"}, "timeout", "> 0", "timeout not a number"),
    ({"pattern": "a", "normalize": 1}, "normalize", "true or false", "non-boolean switch"),
    ({"pattern": "a", "reference": "{{item}}"}, "reference", "names no field", "bad reference template"),
]


@pytest.mark.parametrize(("config", "path", "message"), [c[:3] for c in BAD], ids=[c[3] for c in BAD])
def test_bad_configs_fail_at_build_time(config, path, message):
    with pytest.raises(ConfigError) as info:
        load_grader({"type": "regex", "name": "r", **config})
    assert info.value.path == path
    assert message in str(info.value)


CONFIGS = [
    {"pattern": r"\d+"},
    {"pattern": r"Answer: (\d+)", "reference": "{{item.answer}}", "flags": ["IGNORECASE", "s"], "strip_think": True},
    {"pattern": r"(\w)\1", "engine": "python", "timeout": 0.5, "mode": "fullmatch", "name": "double"},
    {"pattern": "x", "normalize": False, "input": "{{sample.output_json.text}}"},
]


@pytest.mark.parametrize("kwargs", CONFIGS, ids=range(len(CONFIGS)))
def test_config_round_trip_and_pickle(kwargs):
    g = Regex(**kwargs)
    config = g.to_config()
    assert config["type"] == "regex"
    assert load_grader(config) == g
    assert load_grader(json.loads(json.dumps(config))) == g
    clone = pickle.loads(pickle.dumps(g))
    assert clone == g
    outputs = ["Answer: 42", "aa", '{"text": "x"}', "", "ANSWER: 7"]
    items = [{"answer": "42"}] * len(outputs)
    assert [x.score for x in clone.grade_batch(outputs, items)] == [x.score for x in g.grade_batch(outputs, items)]


def test_flags_given_as_a_string_round_trip_as_a_list():
    g = Regex(pattern="a", flags="IGNORECASE")
    assert g.flags == ["IGNORECASE"]
    assert load_grader(g.to_config()) == g


# ---------------------------------------------------------------------------------------------
# Properties

GRADERS = [
    Regex(pattern=r"\d+"),
    Regex(pattern=r"^<answer>.*</answer>$", flags=["s"], mode="fullmatch"),
    Regex(pattern=r"(?i)answer:\s*(\S+)", reference="{{item.answer}}", strip_think=True),
    Regex(pattern=r"(\w)\1", engine="python"),
    Regex(pattern=r"(?<=:)(\d+)", engine="python", reference="{{item.answer}}", timeout=0.5),
]
ALPHABET = list("<>/answerthink:{}#-0123456789 \n\u00a0\u200b\uff14AZ")
TEXT = st.text(alphabet=st.sampled_from(ALPHABET), max_size=60) | st.text(max_size=30)


@settings(max_examples=60, deadline=None)
@given(outputs=st.lists(TEXT, min_size=1, max_size=5), refs=st.lists(TEXT, min_size=1, max_size=5))
def test_never_raises_in_range_deterministic_and_paths_agree(outputs, refs):
    refs = (refs * len(outputs))[: len(outputs)]
    items = [{"answer": r} for r in refs]
    for g in GRADERS:
        scores = [x.score for x in g.grade_batch(outputs, items)]
        assert all(s in (0.0, 1.0) for s in scores)  # nothing here can time out
        assert g(completions=outputs, answer=refs) == scores
        assert [x.score for x in g.grade_batch(outputs, items)] == scores
