"""The quick audit training runs first (warn / strict / off) and the test assertion."""

from __future__ import annotations

import warnings

import pytest

import rft
from rft.auditing import AuditWarning, ExploitableGraderError, assert_audit_clean, audit_rewards
from rft.auditing._gate import QUICK_ROWS

ROWS = [{"prompt": f"What is {i} + {i}?", "answer": str(2 * i)} for i in range(30)]
WEAK = rft.StringCheck(name="contains", reference="{{item.answer}}", operation="like")


def test_warn_names_the_grader_and_carries_the_table():
    with pytest.warns(AuditWarning) as caught:
        reports = audit_rewards(
            [WEAK, "answer_matches_reference", lambda completions, **kw: [0.0] * len(completions)], ROWS
        )
    assert [r.grader for r in reports] == ["contains", "answer_matches_reference"]  # the plain function is skipped
    assert [r.ok for r in reports] == [False, True]
    assert reports[0].rows == QUICK_ROWS
    message = str(caught[0].message)
    assert "'contains' can be gamed" in message and "decoy_or" in message and "audit='strict'" in message


def test_strict_refuses_and_off_does_nothing():
    with pytest.raises(ExploitableGraderError) as info:
        audit_rewards([WEAK], ROWS, mode="strict")
    assert isinstance(info.value, rft.GraderError)
    assert "refusing to train" in str(info.value) and info.value.reports[0].grader == "contains"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert audit_rewards([WEAK], ROWS, mode=False) == []
        assert [r.ok for r in audit_rewards(["answer_matches_reference"], ROWS, mode="strict")] == [True]
    with pytest.raises(rft.ConfigError, match="audit=False, 'warn' or 'strict'"):
        audit_rewards([WEAK], ROWS, mode="loud")


def test_judges_get_the_cheap_quick_audit():
    judge = rft.ScoreModel(
        name="judge",
        range=[0, 10],
        pass_threshold=7,
        cache=False,
        backend=rft.ScriptedBackend(lambda content: "Score: 0"),
        input=[{"role": "user", "content": "Rate: {{sample.output_text}}"}],
    )
    (report,) = audit_rewards([judge], ROWS)
    assert report.ok and report.rows == 2
    assert {fs.family for fs in report.families} == {"empty", "injection"}


def test_assert_audit_clean_fails_with_the_table():
    assert assert_audit_clean("answer_matches_reference", ROWS[:3]).ok
    with pytest.raises(AssertionError, match="decoy_or"):
        assert_audit_clean(WEAK, ROWS[:3])
