"""exact_match: equality after one normalisation, last-answer extraction, exact numeric mode."""

from __future__ import annotations

import json
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rft import ConfigError, ExactMatch, load_grader
from rft.graders._exact import numbers_equal, parse_number

REF = "{{item.answer}}"

# (grader kwargs, completion, reference, expected score, reason fragment, why)
CASES = [
    # containment and hedging
    ({}, "42", "42", 1.0, "== reference", "identical"),
    ({}, "41 or 42", "42", 0.0, "!= reference", "hedge is not containment"),
    ({}, "The answer is 42", "42", 0.0, "!=", "no containment unless asked"),
    ({"numeric": True}, "41 or 42", "42", 0.0, "is not a number", "hedge is not a number"),
    ({"extract": "last_number", "numeric": True}, "41 or 42", "42", 1.0, "==", "last number of a hedge counts"),
    ({"extract": "last_number", "numeric": True}, "42 or 41", "42", 0.0, "!=", "...and only the last"),
    # signs and numbers
    ({"numeric": True}, "-5", "5", 0.0, "!=", "sign kept"),
    ({"numeric": True}, "\u22125", "-5", 1.0, "==", "unicode minus is a minus"),
    ({"numeric": True}, "+5", "5", 1.0, "==", "explicit plus"),
    ({}, "42.0", "42", 0.0, "!=", "42.0 is not 42 as text"),
    ({"numeric": True}, "42.0", "42", 1.0, "==", "42.0 equals 42 numerically"),
    ({"numeric": True}, "1,000", "1000", 1.0, "==", "thousands commas"),
    ({"numeric": True}, "1,00", "100", 0.0, "is not a number", "malformed thousands"),
    ({"numeric": True}, "$5", "5", 1.0, "==", "currency sign ignored"),
    ({"numeric": True}, "-$5", "-5", 1.0, "==", "sign before the currency"),
    ({"numeric": True}, "$-5", "-5", 1.0, "==", "sign after the currency"),
    ({"numeric": True}, "-$-5", "5", 0.0, "is not a number", "two signs"),
    ({"numeric": True}, "50%", "50", 1.0, "==", "percent is a unit, not a scale"),
    ({"numeric": True}, "50%", "0.5", 0.0, "!=", "percent does not scale"),
    ({"numeric": True}, "1/2", "0.5", 1.0, "==", "fraction equals its decimal"),
    ({"numeric": True}, "2/4", "1/2", 1.0, "==", "fractions compared exactly"),
    ({"numeric": True}, "1/3", "0.3333333333", 0.0, "!=", "no rounding in exact mode"),
    ({"numeric": True}, "1/0", "0", 0.0, "is not a number", "zero denominator"),
    ({"numeric": True, "extract": "boxed"}, "\\boxed{\\frac{1}{2}}", "0.5", 1.0, "==", "LaTeX fraction in a box"),
    ({"numeric": True}, "1e3", "1000", 1.0, "==", "exponent"),
    ({"numeric": True}, "1e999999999999999999", "1", 0.0, "!=", "huge exponent compares without expanding"),
    ({"numeric": True}, "1e99999999999999999999999", "1", 0.0, "is not a number", "exponent beyond Decimal"),
    ({"numeric": True}, "7" * 6000, "7" * 6000, 1.0, "==", "6000-digit integers compared exactly"),
    ({"numeric": True}, "NaN", "NaN", None, "reference is not a number", "NaN is no number on either side"),
    ({"numeric": True}, "inf", "1", 0.0, "is not a number", "infinity is not an answer"),
    ({"numeric": True, "tolerance": 0.01}, "3.14", "3.14159", 1.0, "within 0.01", "inside the tolerance"),
    ({"numeric": True, "tolerance": 0.001}, "3.14", "3.14159", 0.0, "!=", "outside the tolerance"),
    ({"numeric": True, "tolerance": 0.5}, "1/3", "0.3", 1.0, "within", "tolerance with a fraction"),
    # normalisation on both sides
    ({}, "\uff14\uff12", "42", 1.0, "==", "fullwidth digits in the answer"),
    ({}, "42", "\uff14\uff12", 1.0, "==", "fullwidth digits in the reference"),
    ({}, "\u00a042\u00a0", "42", 1.0, "==", "no-break spaces around the answer"),
    ({}, "4\u200b2", "42", 1.0, "==", "zero-width space inside the answer"),
    ({}, "42", "\ufeff4\u200d2", 1.0, "==", "zero-width characters in the reference"),
    ({"normalize": False}, "\uff14\uff12", "42", 0.0, "!=", "normalize off compares raw text"),
    ({"normalize": False}, " 42", "42", 0.0, "!=", "normalize off keeps whitespace"),
    ({"numeric": True}, "\uff14\uff12", "42", 1.0, "==", "numeric mode sees normalised digits"),
    ({}, "Paris", "paris", 0.0, "!=", "case kept by default"),
    ({"case_sensitive": False}, "PARIS", "paris", 1.0, "==", "case folded when asked"),
    ({"case_sensitive": False}, "STRASSE", "stra\u00dfe", 1.0, "==", "casefold, not lower"),
    ({}, "New  York", "New York", 0.0, "!=", "inner whitespace kept by default"),
    ({"collapse_whitespace": True}, "New \n York", "New York", 1.0, "==", "whitespace collapsed"),
    ({"ignore_punctuation": True}, "Paris.", "Paris", 1.0, "==", "punctuation ignored"),
    ({"ignore_punctuation": True}, "\u00abParis\u00bb", "Paris", 1.0, "==", "unicode punctuation ignored"),
    ({"ignore_punctuation": True, "collapse_whitespace": True}, "New - York", "New York", 1.0, "==", "both folds"),
    # extraction: several markers, think blocks, missing markers
    ({"extract": "answer_tags"}, "<answer>42</answer>", "42", 1.0, "==", "answer tag"),
    ({"extract": "answer_tags"}, "<answer>42</answer> hmm <answer>41</answer>", "42", 0.0, "'41' != reference",
     "last tag counts"),
    ({"extract": "answer_tags"}, "<answer>41</answer> hmm <answer>42</answer>", "42", 1.0, "==",
     "last tag counts (match)"),
    ({"extract": "answer_tags"}, "<answer>42</answer><think><answer>41</answer></think>", "42", 0.0, "!=",
     "think counts unless asked"),
    ({"extract": "answer_tags", "strip_think": True}, "<answer>42</answer><think><answer>41</answer></think>", "42",
     1.0, "==", "tags inside think ignored"),
    ({"strip_think": True}, "<think>maybe 41</think>42", "42", 1.0, "==", "think stripped without extraction"),
    ({"extract": "answer_tags"}, "the answer is 42", "42", 0.0, "no answer found", "no tag"),
    ({"extract": "boxed"}, "\\boxed{41} \\boxed{42", "42", 0.0, "no answer found", "broken last box, no fallback"),
    ({"extract": "hash"}, "so 7\n#### 7", "7", 1.0, "==", "hash marker"),
    ({"extract": {"regex": r"Answer: (\w+)"}}, "Answer: B\nAnswer: C", "C", 1.0, "==", "regex, last match"),
    ({"extract": {"answer_tags": "final"}}, "<final>yes</final>", "yes", 1.0, "==", "custom tag"),
    ({"extract": "answer_tags"}, "<answer>\uff14\uff12</answer>", "42", 1.0, "==", "normalised before extraction"),
    ({"extract": "answer_tags"}, "\uff1canswer\uff1e42\uff1c/answer\uff1e", "42", 1.0, "==",
     "fullwidth tag brackets fold to a tag"),
    ({"reference_extract": "hash"}, "72", "She had 3 + 69 = 72 cats.\n#### 72", 1.0, "==", "GSM8K reference"),
    ({"extract": "hash", "reference_extract": "hash"}, "...#### 72", "... #### 72", 1.0, "==", "both sides extracted"),
    ({"reference_extract": "hash"}, "72", "no marker in the reference", None, "no answer found in the reference",
     "bad reference is unscored"),
    ({"numeric": True}, "42", "forty-two", None, "reference is not a number", "non-numeric reference is unscored"),
    ({"numeric": True}, "42", "", None, "reference is not a number", "empty reference is unscored in numeric mode"),
    # empty outputs
    ({}, "", "42", 0.0, "!=", "empty completion"),
    ({"extract": "answer_tags"}, "", "42", 0.0, "no answer found", "empty completion with extraction"),
    ({"numeric": True}, "", "42", 0.0, "is not a number", "empty completion in numeric mode"),
]


def _grader(kwargs):
    return ExactMatch(reference=REF, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "completion", "reference", "score", "reason"), [c[:5] for c in CASES], ids=[c[5] for c in CASES]
)
def test_cases(kwargs, completion, reference, score, reason):
    g = _grader(kwargs)
    grade = g.grade(completion, {"answer": reference})
    assert grade.score == score, grade
    assert reason in grade.reason
    if score is None:
        assert grade.error == "invalid_reference"
    else:
        assert grade.passed is (score == 1.0)
        assert set(grade.details) == {"answer", "reference"}
    # the TRL path computes the same score without building Grades
    assert g(completions=[completion], answer=[reference]) == [score]


def test_details_carry_the_extracted_answer():
    g = _grader({"extract": "answer_tags", "numeric": True})
    grade = g.grade("reasoning <answer> 41 </answer>", {"answer": "42"})
    assert grade.details == {"answer": "41", "reference": "42"}
    assert grade.reason == "answer '41' != reference '42'"


def test_missing_item_field_is_unscored_not_zero():
    g = _grader({})
    grade = g.grade("42", {"other": "42"})
    assert grade.score is None and grade.error == "missing_field"
    assert g(completions=["42", "42"], other=["42", "42"]) == [None, None]


def test_five_megabyte_completion_scores_zero_without_being_read():
    g = _grader({"extract": "last_number", "numeric": True})
    huge = "1" * 5_000_000 + " 42"
    grade = g.grade(huge, {"answer": "42"})
    assert grade.score == 0.0 and grade.details["error"] == "output_too_long"
    assert g(completions=[huge], answer=["42"]) == [0.0]


def test_regex_extraction_past_its_budget_is_unscored_timeout(monkeypatch):
    monkeypatch.setattr("rft._extract.LAST_MATCH_BUDGET_S", 0.02)
    g = _grader({"extract": {"regex": r"(a*b|a)"}})
    grades = g.grade_batch(["a" * 30_000, "ab a", "b"], [{"answer": "a"}] * 3)
    assert [x.score for x in grades] == [None, 1.0, 0.0]
    assert grades[0].error == "timeout" and "took over" in grades[0].reason
    assert g(completions=["a" * 30_000, "ab a", "b"], answer=["a"] * 3) == [None, 1.0, 0.0]


def test_int_and_float_columns_render_as_text():
    g = _grader({"numeric": True})
    assert g(completions=["42", "42.0", "3"], answer=[42, 42.0, 4]) == [1.0, 1.0, 0.0]


def test_trl_call_with_strings_messages_and_none():
    g = _grader({"extract": "answer_tags"})
    completions = [
        "<answer>7</answer>",
        [{"role": "assistant", "content": "<answer>7</answer>"}],
        [{"role": "assistant", "content": "<answer>8</answer>"}],
        None,
        "no tags",
    ]
    prompts = [[{"role": "user", "content": "q"}]] * 5
    scores = g(prompts=prompts, completions=completions, answer=["7"] * 5, trainer_state=None, completion_ids=[[1]] * 5)
    assert scores == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert all(type(s) is float for s in scores)


def test_trl_call_logs_the_unscored_fraction():
    logged = {}
    g = _grader({"numeric": True})
    scores = g(completions=["1", "2", "3", "4"], answer=["1", "x", "3", "5"], log_metric=logged.__setitem__)
    assert scores == [1.0, None, 1.0, 0.0]
    assert logged == {"rft/exact_match/unscored_frac": 0.25}


def test_repeated_references_are_cached_without_changing_scores():
    g = _grader({"reference_extract": "hash", "numeric": True})
    refs = ["... #### 1,000"] * 8 + ["... #### 5"] * 8
    outs = ["1000", "1,000.0", "999", "x"] * 4
    assert g(completions=outs, answer=refs) == [g.grade(o, {"answer": r}).score for o, r in zip(outs, refs)]


CONFIGS = [
    {"reference": REF},
    {"reference": REF, "extract": "answer_tags", "numeric": True, "tolerance": 0.5},
    {"reference": REF, "extract": {"regex": r"Answer: (\d+)"}, "strip_think": True},
    {"reference": REF, "extract": {"answer_tags": "final"}, "reference_extract": "hash"},
    {"reference": "Paris", "case_sensitive": False, "collapse_whitespace": True, "ignore_punctuation": True},
    {"input": "{{sample.output_json.answer}}", "reference": REF, "normalize": False, "name": "json_answer"},
]


@pytest.mark.parametrize("kwargs", CONFIGS, ids=range(len(CONFIGS)))
def test_config_round_trip_and_pickle(kwargs):
    g = ExactMatch(**kwargs)
    config = g.to_config()
    assert config["type"] == "exact_match"
    assert load_grader(config) == g
    assert load_grader(json.loads(json.dumps(config))) == g
    clone = pickle.loads(pickle.dumps(g))
    assert clone == g
    outputs = ["<answer>42</answer>", "Answer: 42", '{"answer": "42"}', "<final>paris</final>", ""]
    items = [{"answer": "42"}] * len(outputs)
    assert [x.score for x in clone.grade_batch(outputs, items)] == [x.score for x in g.grade_batch(outputs, items)]


def test_openai_style_config_loads():
    g = load_grader({"type": "exact_match", "name": "gsm8k", "input": "{{sample.output_text}}",
                     "reference": "{{item.answer}}", "extract": "hash", "reference_extract": "hash", "numeric": True})
    assert g.grade("so #### 1,234", {"answer": "steps\n#### 1234"}).score == 1.0
    assert g.name == "gsm8k"


BAD = [
    ({"extract": "nope"}, "extract", "unknown extraction method", "unknown method"),
    ({"extract": "regex"}, "extract", "needs an argument", "regex without a pattern"),
    ({"extract": {"regex": r"(?=x)"}}, "extract.regex", "RE2 cannot compile", "lookahead"),
    ({"reference_extract": "nope"}, "reference_extract", "unknown extraction method", "bad reference extraction"),
    ({"tolerance": 0.1}, "tolerance", "needs numeric", "tolerance without numeric"),
    ({"numeric": True, "tolerance": -1}, "tolerance", ">= 0", "negative tolerance"),
    ({"numeric": True, "tolerance": float("nan")}, "tolerance", "finite", "NaN tolerance"),
    ({"numeric": True, "ignore_punctuation": True}, "ignore_punctuation", "signs", "punctuation would eat signs"),
    ({"normalize": "yes"}, "normalize", "true or false", "non-boolean switch"),
    ({"reference": "{{item.}}"}, "reference", "malformed placeholder", "bad template"),
    ({"bogus": 1}, "bogus", "unknown field", "unknown field"),
]


@pytest.mark.parametrize(("config", "path", "message"), [c[:3] for c in BAD], ids=[c[3] for c in BAD])
def test_bad_configs_fail_at_build_time(config, path, message):
    with pytest.raises(ConfigError) as info:
        load_grader({"type": "exact_match", "name": "x", **config})
    assert info.value.path == path
    assert message in str(info.value)


NUMBERS = [
    ("42", True, "integer"),
    ("-0.5", True, "negative decimal"),
    ("1,234,567.89", True, "thousands and decimals"),
    ("\\$3", True, "escaped dollar"),
    ("5\\%", True, "escaped percent"),
    ("\\dfrac{3}{4}", True, "dfrac"),
    ("\\frac{-3}{4}", True, "signed numerator"),
    ("- \\frac{3}{4}", True, "sign before frac"),
    ("3 / 4", True, "spaced fraction"),
    ("5.", True, "trailing dot"),
    ("1_000", False, "underscores (Decimal accepts them, we do not)"),
    ("0x10", False, "hex"),
    ("five", False, "word"),
    ("4 2", False, "two numbers"),
    ("--5", False, "double sign"),
    ("", False, "empty"),
    ("\u0664\u0662", False, "non-ASCII digits are not folded by NFKC"),
]


@pytest.mark.parametrize(("text", "ok"), [c[:2] for c in NUMBERS], ids=[c[2] for c in NUMBERS])
def test_number_grammar(text, ok):
    assert (parse_number(text) is not None) is ok


# 100 KB hostile answers: each must finish (two `\s*` meeting in the grammar would make the
# first of these quadratic: minutes, not milliseconds).
HOSTILE_NUMBERS = [
    ("1" + " " * 100_000 + "x", "digits then a long run of spaces"),
    ("-" + " " * 50_000 + "$" + " " * 50_000 + "x", "sign, currency, spaces"),
    ("1," * 50_000 + "x", "malformed thousands"),
    ("1,000" * 20_000 + "x", "glued thousands"),
    ("1" * 100_000 + "/" + " " * 1000 + "x", "long fraction"),
    ("\\frac{" + "1" * 100_000, "unclosed frac"),
    ("1e" * 50_000, "exponent markers"),
]


@pytest.mark.parametrize("text", [c[0] for c in HOSTILE_NUMBERS], ids=[c[1] for c in HOSTILE_NUMBERS])
def test_hostile_numbers_finish(text):
    assert parse_number(text) is None


def test_numbers_equal_exactness():
    assert numbers_equal(parse_number("0.1"), parse_number("1/10"))
    assert not numbers_equal(parse_number("0.1"), parse_number("1/3"))
    assert numbers_equal(parse_number("1e-999999999"), parse_number("1e-999999999"))
    assert not numbers_equal(parse_number("1e999999999999999999"), parse_number("1"), 1e300)


# ---------------------------------------------------------------------------------------------
# Properties

GRADERS = [ExactMatch(reference=REF, **c) for c in (
    {},
    {"extract": "answer_tags", "strip_think": True},
    {"extract": "last_number", "numeric": True},
    {"extract": "boxed", "numeric": True, "tolerance": 0.01},
    {"extract": {"regex": r"(?i)answer:\s*(\S+)"}, "case_sensitive": False, "ignore_punctuation": True},
    {"extract": "hash", "reference_extract": "hash", "collapse_whitespace": True},
)]
ALPHABET = list("<>/answerthink{}\\boxed#:$%-+,.0123456789 \n\u00a0\u200b\uff14")
TEXT = st.text(alphabet=st.sampled_from(ALPHABET), max_size=60) | st.text(max_size=30)


@settings(max_examples=60, deadline=None)
@given(outputs=st.lists(TEXT, min_size=1, max_size=6), refs=st.lists(TEXT, min_size=1, max_size=6))
def test_never_raises_in_range_deterministic_and_paths_agree(outputs, refs):
    refs = (refs * len(outputs))[: len(outputs)]
    items = [{"answer": r} for r in refs]
    for g in GRADERS:
        grades = g.grade_batch(outputs, items)
        scores = [x.score for x in grades]
        assert all(s in (0.0, 1.0, None) for s in scores)
        assert all(x.error in (None, "invalid_reference") for x in grades)
        assert g(completions=outputs, answer=refs) == scores  # TRL floats == rich Grades
        assert [x.score for x in g.grade_batch(outputs, items)] == scores
