"""string_check: OpenAI's semantics exactly, on hostile input too."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rft

CASES = [
    # operation, output, reference, score, why
    ("eq", "Paris", "Paris", 1.0, "equal strings"),
    ("eq", "paris", "Paris", 0.0, "eq is case-sensitive"),
    ("eq", "Paris ", "Paris", 0.0, "eq applies no normalisation (exact_match does)"),
    ("eq", "41 or 42", "42", 0.0, "no containment under eq"),
    ("ne", "Lyon", "Paris", 1.0, "ne: different strings pass"),
    ("ne", "Paris", "Paris", 0.0, "ne: equal strings fail"),
    ("like", "The capital is Paris.", "Paris", 1.0, "like: input contains the reference"),
    ("like", "the capital is paris.", "Paris", 0.0, "like is case-sensitive"),
    ("ilike", "THE CAPITAL IS PARIS", "paris", 1.0, "ilike ignores case"),
    ("ilike", "Lyon", "paris", 0.0, "ilike still needs the reference inside"),
    ("like", "anything", "", 1.0, "an empty reference is contained in every string (as in Python and OpenAI)"),
    ("eq", "", "42", 0.0, "an empty completion is judged, and bad"),
]


@pytest.mark.parametrize("operation,output,reference,score,why", CASES, ids=[c[-1] for c in CASES])
def test_openai_semantics(operation, output, reference, score, why):
    g = rft.StringCheck(name="check", reference=reference, operation=operation)
    assert g.grade(output).score == score, why
    assert g(completions=[output]) == [score], why  # the TRL path agrees


def test_templates_render_values_as_text():
    g = rft.StringCheck(name="n", input="{{sample.output_text}}", reference="{{item.answer}}")
    # A dataset column of ints compares as the text OpenAI renders ("42"), on both paths.
    assert g(completions=["42", "41"], answer=[42, 42]) == [1.0, 0.0]
    assert g.grade("42", {"answer": 42}).score == 1.0


def test_missing_field_is_unscored_not_zero():
    g = rft.StringCheck(name="n", reference="{{item.answer}}")
    grade = g.grade("42", {"question": "no answer column"})
    assert grade.score is None and grade.passed is None and grade.error == "missing_field"
    assert "item.answer" in grade.reason


def test_hostile_completions_never_raise():
    g = rft.StringCheck(name="n", reference="42", operation="like")
    completions = [None, 42, {"content": "42"}, [{"role": "assistant", "content": "42"}], "x" * 5_000_000, "42"]
    assert g(completions=completions) == [0.0, 1.0, 1.0, 1.0, 0.0, 1.0]
    # The 5 MB output scores 0 unread: `like` would otherwise reward anything that contains "42".
    assert g.grade("42" * 2_500_000).details["error"] == "output_too_long"


def test_config_round_trip_and_pickle():
    g = rft.StringCheck(name="yes", reference="{{item.answer}}", operation="ilike")
    assert rft.load_grader(g.to_config()) == g
    clone = pickle.loads(pickle.dumps(g))
    assert clone == g and clone.__name__ == "yes"
    assert clone(completions=["YES"], answer=["yes"]) == [1.0]


@settings(max_examples=200, deadline=None)
@given(
    output=st.text(max_size=200),
    reference=st.text(max_size=20),
    operation=st.sampled_from(["eq", "ne", "like", "ilike"]),
)
def test_property_binary_deterministic_and_paths_agree(output, reference, operation):
    g = rft.StringCheck(name="p", reference="{{item.ref}}", operation=operation)
    first = g.grade(output, {"ref": reference})
    assert first.score in (0.0, 1.0)
    assert g.grade(output, {"ref": reference}) == first
    assert g(completions=[output], ref=[reference]) == [first.score]
