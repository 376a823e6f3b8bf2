"""One field discovery and one row/prompt checker for evaluate, grade, validate, tune and preflight."""

from __future__ import annotations

import dataclasses

import pytest

import rft
from rft import DataError
from rft.cli import main
from rft.eval import check_rows, evaluate, grader_item_fields, prompt_problem, row_problems

ANSWER = rft.StringCheck(name="match", reference="{{item.answer}}")


@pytest.mark.parametrize(
    "prompt, ok, why",
    [
        pytest.param("2+2?", True, "a plain-text prompt", id="text"),
        pytest.param([{"role": "user", "content": "hi"}], True, "chat messages", id="chat"),
        pytest.param([{"role": "user", "content": [{"type": "text", "text": "hi"}]}], True,
                     "content parts (multimodal chat templates) are content too", id="content-parts"),
        pytest.param("", False, "an empty prompt is a data mistake (tune refused it, evaluate did not)",
                     id="empty-text"),
        pytest.param([], False, "no messages", id="empty-chat"),
        pytest.param([{"role": "user", "content": 5}], False,
                     "content must be text (tune accepted any value, evaluate did not)", id="content-int"),
        pytest.param([{"content": "hi"}], False, "a message needs a role", id="no-role"),
        pytest.param(42, False, "neither text nor messages", id="int"),
        pytest.param(None, False, "a null prompt", id="none"),
    ],
)
def test_prompt_rule(prompt, ok, why):
    assert (prompt_problem(prompt) is None) is ok, why


@pytest.mark.parametrize(
    "rows, message",
    [
        pytest.param([{"prompt": [{"role": "user", "content": 5}]}], r"row 0: field 'prompt' message 0 is not",
                     id="content-int"),
        pytest.param([{"prompt": "a"}, {"prompt": ""}], r"row 1: needs a 'prompt' field .*got an empty string",
                     id="empty"),
        pytest.param([{"prompt": "a"}, {"question": "b"}], r"row 1: needs a 'prompt' field .*has none", id="missing"),
        pytest.param([], r"no rows", id="no-rows"),
    ],
)
def test_evaluate_tune_and_preflight_apply_one_prompt_rule(tiny, tmp_path, rows, message):
    """Issue 9: tune's _check_rows and evaluate's _check_prompt applied different rules."""
    pytest.importorskip("trl")
    calls = []
    with pytest.raises(DataError, match=message):
        evaluate(lambda ps: calls.extend(ps) or ["x" for _ in ps], rows, ANSWER, check_fields=False, progress=False)
    assert calls == []
    with pytest.raises(DataError, match=message):
        rft.tune(tiny, rows, [ANSWER], max_steps=1, output_dir=str(tmp_path), preflight=False, save_model=False)
    with pytest.raises(DataError, match=message):
        rft.preflight(tiny, rows, [ANSWER], n=2, k=2)


def test_training_also_refuses_a_mix_of_prompt_kinds(tiny, tmp_path):
    pytest.importorskip("trl")
    rows = [{"prompt": "a"}, {"prompt": [{"role": "user", "content": "b"}]}]
    with pytest.raises(DataError, match=r"mix of plain-text and chat prompts \(row 0 is text, row 1 is chat"):
        rft.tune(tiny, rows, [ANSWER], max_steps=1, output_dir=str(tmp_path), preflight=False, save_model=False)
    report = evaluate(lambda ps: ["x" for _ in ps], rows, rft.StringCheck(name="x", reference="x"), progress=False)
    assert report["x"].mean == 1.0


@rft.register_grader("_checks_test_hook", replace=True)
@dataclasses.dataclass(kw_only=True, eq=True, repr=False)
class ReadsThroughCode(rft.Grader):
    """A grader whose code (not a template) reads item['expected']; it says so with the hook."""

    def required_item_fields(self):
        return ["item.expected"]

    def _evaluate(self, batch, rich):
        return [1.0 if t == str(batch.item(i).get("expected")) else 0.0 for i, t in enumerate(batch.texts)]


def test_validate_and_evaluate_discover_the_same_fields(tmp_path, capsys):
    """Issue 9: rft validate ran a regex over to_config() strings and ignored required_item_fields,
    so it passed data that evaluate(check_fields=True) refused."""
    grader_file = tmp_path / "hook.yaml"
    grader_file.write_text("type: _checks_test_hook\nname: hook\n", encoding="utf-8")
    data = tmp_path / "rows.jsonl"
    data.write_text('{"prompt": "p", "expected": "1"}\n{"prompt": "q"}\n', encoding="utf-8")
    assert main(["validate", str(grader_file), "--data", str(data)]) == 2
    captured = capsys.readouterr()
    assert "reads item fields: item.expected" in captured.out
    assert "1 of 2 rows lack item.expected (read by grader hook); rows 1" in captured.err
    with pytest.raises(DataError, match=r"row 1: no field 'expected' \(grader 'hook'"):
        evaluate(lambda ps: ["1" for _ in ps], str(data), str(grader_file), progress=False)


def test_field_discovery_walks_sub_graders_and_nested_paths():
    both = rft.load_grader(
        {"type": "multi", "name": "both", "calculate_output": "a * b",
         "graders": {"a": ANSWER.to_config(),
                     "b": {"type": "string_check", "name": "b", "reference": "{{item.meta.choices.1}}"}}}
    )
    assert grader_item_fields(both) == [("answer",), ("meta", "choices", "1")]
    rows = [
        {"answer": "x", "meta": {"choices": ["a", "b"]}},  # fine: lists are indexed as templates index them
        {"answer": "x", "meta": {"choices": ["a"]}},
        {"meta": "flat"},
    ]
    problems = [(p.row, p.field) for p in row_problems(rows, [both])]
    assert problems == [(1, "item.meta.choices.1"), (2, "item.answer"), (2, "item.meta.choices.1")]
    with pytest.raises(DataError, match=r"2 of 3 rows have problems"):
        check_rows(rows, [both], prompt_field=None)
