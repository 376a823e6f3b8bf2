"""The quick audit before training: preflight and tune warn about a reward grader the policy can
game, refuse with audit="strict" before anything is generated, and the pytest fixture asserts it."""

from __future__ import annotations

import warnings

import pytest

import rft
from rft.auditing import AuditWarning, ExploitableGraderError
from rft.testing import tiny_model

ROWS = [{"prompt": f"What is {i} + {i}?", "answer": str(2 * i)} for i in range(1, 9)]
# `like` is a contains-check: "41 or 42" passes it. That is the hole the audit must report.
WEAK = rft.StringCheck(
    name="mentions_answer", input="{{sample.output_text}}", reference="{{item.answer}}", operation="like"
)
SOUND = "answer_matches_reference"
SMALL = rft.TuneConfig(max_completion_length=4, num_generations=2, per_device_train_batch_size=2, max_steps=1)


class _NoGenerate:
    """A model that fails the test if anything asks it to generate (strict must refuse first)."""

    config = object()

    def generate(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("generation started before the audit refused")


def test_preflight_warns_with_the_table_and_records_the_audit() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = rft.preflight(tiny_model(), ROWS, [WEAK], SMALL, n=2, k=2)
    audit_warnings = [w for w in caught if issubclass(w.category, AuditWarning)]
    assert audit_warnings and "mentions_answer" in str(audit_warnings[0].message)
    assert [a.ok for a in report.audits] == [False]
    assert any("can be gamed" in a and "decoy" in a for a in report.advice)
    assert report.to_dict()["audits"][0]["ok"] is False
    assert "mentions_answer" in str(report)


def test_preflight_is_quiet_about_a_sound_grader() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = rft.preflight(tiny_model(), ROWS, [SOUND], SMALL, n=2, k=2)
    assert not [w for w in caught if issubclass(w.category, AuditWarning)]
    assert [a.ok for a in report.audits] == [True]


def test_strict_refuses_before_generating() -> None:
    model, tokenizer = tiny_model()
    with pytest.raises(ExploitableGraderError) as err:
        rft.preflight((_NoGenerate(), tokenizer), ROWS, [WEAK], SMALL, audit="strict")
    assert isinstance(err.value, rft.GraderError) and "mentions_answer" in str(err.value)


def test_tune_without_preflight_still_audits(tmp_path: object) -> None:
    with pytest.raises(ExploitableGraderError):
        rft.tune(tiny_model(), ROWS, [WEAK], SMALL.replace(preflight=False, audit="strict"), output_dir=str(tmp_path))


def test_audit_setting_is_checked() -> None:
    with pytest.raises(rft.ConfigError, match="audit"):
        rft.TuneConfig(audit="sometimes")


def test_pytest_fixture_asserts_a_clean_audit(rft_audit: object) -> None:
    assert rft_audit(SOUND, ROWS).ok  # type: ignore[operator]
    with pytest.raises(AssertionError, match="mentions_answer"):
        rft_audit(WEAK, ROWS)  # type: ignore[operator]


def test_a_routed_reward_is_audited_on_its_own_rows_only(tmp_path: object) -> None:
    from rft.tuning._rewards import reward_functions
    from rft.tuning._routing import ROUTE_COLUMN, RoutedReward

    # `eq` against the row's answer is sound where there is an answer; on the target's rows the answer
    # is empty, so an empty completion would "pass" there. Routed to the guard's rows it never sees them.
    eq = rft.StringCheck(
        name="states_answer", input="{{sample.output_text}}", reference="{{item.answer}}", operation="eq"
    )
    guard_rows = [{"prompt": f"{i}+{i}=", "answer": str(2 * i), ROUTE_COLUMN: "guard"} for i in range(1, 5)]
    target_rows = [{"prompt": f"Say {i}", "answer": "", ROUTE_COLUMN: "target"} for i in range(4)]
    [inner] = reward_functions([eq])
    config = SMALL.replace(preflight=False, audit="strict", save_model=False)
    rft.tune(tiny_model(), guard_rows + target_rows, [RoutedReward(inner, ["guard"])], config, output_dir=str(tmp_path))
    with pytest.raises(ExploitableGraderError, match="states_answer"):  # the same grader unrouted
        rft.tune(tiny_model(), guard_rows + target_rows, [eq], config, output_dir=str(tmp_path))
