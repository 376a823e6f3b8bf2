"""Python graders around any callable (lambda, closure, a def in __main__ or a notebook cell) work
wherever graders are taken, and a changed function never reuses old grades (issue 8 item 17)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import rft
from rft import ConfigError
from rft.eval import Suite, compare, evaluate, grader_fingerprint

ROWS = [{"id": i, "prompt": f"Say {i}", "answer": str(i)} for i in range(6)]


def _lambda_grader(name: str = "has_e") -> rft.PythonGrader:
    return rft.PythonGrader(name=name, fn=lambda sample, item: float("e" in sample["output_text"]))


def _closure_grader(threshold: int) -> rft.PythonGrader:
    def long_enough(sample, item):
        return float(len(sample["output_text"]) > threshold)

    return rft.PythonGrader(name="long", fn=long_enough)


def _answers(prompts):
    return [f"the answer is {p.split()[-1]}" for p in prompts]


@pytest.mark.parametrize(
    "grader",
    [
        pytest.param(_lambda_grader(), id="lambda"),
        pytest.param(_closure_grader(3), id="closure"),
        pytest.param(
            0.5 * _lambda_grader("a") + 0.5 * rft.StringCheck(name="b", reference="x"), id="lambda-inside-multi"
        ),
    ],
)
def test_evaluate_with_and_without_out(tmp_path, grader):
    """evaluate() called to_config() for the run fingerprint: 'GraderError: ... which a config cannot hold'."""
    report = evaluate(_answers, ROWS, grader, progress=False)
    assert report[grader.name].n == len(ROWS)
    saved = evaluate(_answers, ROWS, grader, out=tmp_path / "run", progress=False)
    assert saved.to_dict()["items"] == report.to_dict()["items"]
    again = evaluate(_answers, ROWS, grader, out=tmp_path / "run", progress=False)
    assert again.meta["timing"]["resumed_records"] == len(ROWS)  # the same function resumes
    described = again.meta["graders"][grader.name]
    assert described["type"] == grader.type and described["code"]  # what the function is, recorded


@pytest.mark.parametrize(
    "before, after, why",
    [
        pytest.param(
            lambda: _closure_grader(3), lambda: _closure_grader(30), "a closure over another value", id="closure-value"
        ),
        pytest.param(
            lambda: rft.PythonGrader(name="long", fn=lambda s, i: float(len(s["output_text"]) > 3)),
            lambda: rft.PythonGrader(name="long", fn=lambda s, i: float(len(s["output_text"]) < 3)),
            "the same lambda with another body", id="lambda-body",
        ),
    ],
)
def test_a_changed_function_never_reuses_old_grades(tmp_path, before, after, why):
    evaluate(_answers, ROWS, before(), out=tmp_path, progress=False)
    refused = r"different run \(differs in: graders\); graders that differ: 'long' \(its code changed\)"
    with pytest.raises(ConfigError, match=refused):
        evaluate(_answers, ROWS, after(), out=tmp_path, progress=False)
    assert grader_fingerprint(before()) != grader_fingerprint(after()), why


_MAIN_SCRIPT = textwrap.dedent(
    """
    import sys
    import rft

    def grade(sample, item):
        return float(sample["output_text"] == item["answer"]) {change}

    rows = [{{"id": i, "prompt": str(i), "answer": str(i)}} for i in range(4)]
    report = rft.evaluate(lambda ps: list(ps), rows, rft.PythonGrader(name="same", fn=grade), out=sys.argv[1],
                          progress=False)
    print("MEAN", report["same"].mean, "RESUMED", report.meta["timing"]["resumed_records"])
    """
)


def test_a_def_in_main_resumes_and_an_edited_one_is_refused(tmp_path):
    script = tmp_path / "run.py"
    cwd = Path(rft.__file__).parent.parent

    def run(change: str) -> subprocess.CompletedProcess:
        script.write_text(_MAIN_SCRIPT.format(change=change))
        env = {**os.environ, "PYTHONPATH": str(cwd)}  # this checkout's rft, whatever is installed
        return subprocess.run([sys.executable, str(script), str(tmp_path / "out")], check=False, capture_output=True,
                              text=True, cwd=cwd, env=env, timeout=120)

    first = run("")
    assert "MEAN 1.0 RESUMED 0" in first.stdout, first.stderr
    second = run("")
    assert "MEAN 1.0 RESUMED 4" in second.stdout, second.stderr  # a new process, the same function: resumed
    edited = run("* 0.5")
    assert edited.returncode != 0 and "different run (differs in: graders)" in edited.stderr


def test_compare_and_suites_take_lambda_graders(tmp_path):
    before = evaluate(lambda ps: ["no" for _ in ps], ROWS, _lambda_grader(), progress=False)
    after = evaluate(lambda ps: ["yes" for _ in ps], ROWS, _lambda_grader(), progress=False)
    assert compare(before, after)["has_e"].delta == 1.0
    suite = Suite(name="lambda", data=ROWS, graders=[_lambda_grader()], target=lambda ps: ["yes" for _ in ps],
                  thresholds={})
    result = suite.run(out=tmp_path / "suite")
    assert result.report["has_e"].mean == 1.0


def test_preflight_tune_and_tune_until_take_lambda_graders(tmp_path, tiny_model_path):
    pytest.importorskip("trl")
    grader = _lambda_grader()
    # audit=False: 'contains an e' is gameable on purpose here (the audit has its own tests).
    config = rft.TuneConfig(num_generations=2, per_device_train_batch_size=2, max_completion_length=4,
                            learning_rate=0.05, max_steps=1, preflight=False, save_model=False, audit=False,
                            output_dir=str(tmp_path / "tune"))
    report = rft.preflight(str(tiny_model_path), ROWS, [grader], config, n=2, k=2)
    assert [g.name for g in report.graders] == ["has_e"]
    result = rft.tune(str(tiny_model_path), ROWS, [grader], config)
    assert result.steps == 1 and result.reward_names == ["has_e"]
    target = {"name": "t", "data": ROWS, "graders": [grader], "generation": {"max_new_tokens": 4}}
    until = rft.tune_until(str(tiny_model_path), ROWS, target, rounds=1, steps_per_round=1, config=config,
                           keep_if="delta", output_dir=tmp_path / "until", progress=False)
    assert len(until.rounds) == 1
