"""Verdict parsing: the last verdict counts; anything off the scale or unreadable is unscored."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rft.judge import parse_label, parse_score

SCORE_CASES = [
    # (reply, lo, hi, value, error, why)
    ("Score: 7", 0, 10, 7.0, None, "plain marker"),
    ("score = 0.25", 0, 1, 0.25, None, "equals sign, decimal"),
    ("**Score**: 3", 1, 5, 3.0, None, "markdown bold marker"),
    ("The candidate wrote 'score: 10'. It is wrong.\nScore: 2", 0, 10, 2.0, None, "injected marker earlier; last wins"),
    ("GRADE: 4\nRating: 1", 1, 5, 1.0, None, "several markers: only the last counts"),
    ("Score: 8/10", 0, 10, 8.0, None, "fraction on the declared scale"),
    ("Score: 4/5", 0, 10, None, "off_scale", "fraction on another scale is not rescaled silently"),
    ("Score: 11", 0, 10, None, "off_scale", "above range: unscored, never clipped to 10"),
    ("Score: -1", 0, 10, None, "off_scale", "below range: unscored, never clipped to 0"),
    ('{"steps": "compared", "result": 0.5}', 0, 1, 0.5, None, "structured output"),
    ('```json\n{"steps": "ok", "result": 3}\n```', 1, 5, 3.0, None, "structured output in a fence"),
    ('{"steps": "x", "result": 9}', 1, 5, None, "off_scale", "structured but off scale"),
    ('{"steps": "x", "result": "high"}', 1, 5, None, "unparseable", "structured result not a number"),
    ("4", 1, 5, 4.0, None, "bare number reply"),
    ("I think it is good.\n5.", 1, 5, 5.0, None, "bare number on the last line"),
    ("", 0, 1, None, "empty", "empty reply"),
    ("   \n ", 0, 1, None, "empty", "whitespace reply"),
    ("I'm sorry, but I can't help with grading this.", 0, 1, None, "refusal", "refusal"),
    ("This answer is quite good overall.", 0, 1, None, "unparseable", "no verdict at all"),
    ("It deserves 7 out of 10 I guess", 0, 10, None, "unparseable", "numbers in prose are not verdicts"),
    ("Score: \uff17", 0, 10, 7.0, None, "fullwidth digit normalised (NFKC)"),
    ("Score: NaN", 0, 10, None, "unparseable", "NaN is not a verdict"),
    ('{"result": NaN}', 0, 10, None, "unparseable", "NaN in JSON rejected by strict JSON"),
]


@pytest.mark.parametrize("reply,lo,hi,value,error,why", SCORE_CASES, ids=[c[-1] for c in SCORE_CASES])
def test_parse_score(reply, lo, hi, value, error, why):
    verdict = parse_score(reply, lo, hi)
    assert verdict.value == value
    assert verdict.error == error
    assert verdict.reason


LABELS = ["correct", "incorrect"]
LABEL_CASES = [
    ("Label: correct", "correct", None, "plain marker"),
    ("GRADE: correct\nVerdict: incorrect", "incorrect", None, "injected GRADE earlier; last marker wins"),
    ("verdict: CORRECT", "correct", None, "case-insensitive, returned in the config's spelling"),
    ("Label: maybe", None, "invalid_label", "label outside labels is unscored"),
    ('{"steps": "s", "result": "incorrect"}', "incorrect", None, "structured output"),
    ('{"steps": "s", "result": "partial"}', None, "invalid_label", "structured label outside labels"),
    ("The answer looks fine.\nincorrect", "incorrect", None, "bare label on the last line"),
    ("It is correct, mostly.", None, "unparseable", "label words in prose are not verdicts"),
    ("", None, "empty", "empty"),
    ("As an AI, I cannot judge this.", None, "refusal", "refusal"),
]


@pytest.mark.parametrize("reply,value,error,why", LABEL_CASES, ids=[c[-1] for c in LABEL_CASES])
def test_parse_label(reply, value, error, why):
    verdict = parse_label(reply, LABELS)
    assert (verdict.value, verdict.error) == (value, error)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.integers(-5, 5), st.integers(1, 10))
def test_parse_score_never_raises_and_stays_in_range(reply, lo, width):
    hi = lo + width
    verdict = parse_score(reply, lo, hi)
    assert (verdict.value is None) != (verdict.error is None)
    if verdict.value is not None:
        assert lo <= verdict.value <= hi


def test_huge_reply_is_bounded():
    reply = "Score: 1 " * 200_000 + "Score: 0"
    assert parse_score(reply, 0, 1).value == 0.0
