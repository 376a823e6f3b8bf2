"""Suites (unit benchmarks), `rft test` and `rft eval`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import rft
from rft import ConfigError
from rft.cli import main
from rft.eval import Suite, run_suite

ROWS = [{"id": f"q{i}", "prompt": f"What is {i} + {i}?", "answer": str(2 * i)} for i in range(10)]
# Precomputed outputs: right for the first 7 rows, wrong for the last 3.
OUTPUTS = [{"id": r["id"], "output": f"<answer>{r['answer'] if i < 7 else 0}</answer>"} for i, r in enumerate(ROWS)]
MATCH = {"type": "string_check", "name": "match", "input": "{{sample.output_text}}",
         "reference": "<answer>{{item.answer}}</answer>"}


def _write(folder: Path, thresholds: dict, **extra) -> Path:
    (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (folder / "outs.jsonl").write_text("".join(json.dumps(o) + "\n" for o in OUTPUTS))
    (folder / "graders").mkdir(exist_ok=True)
    (folder / "graders" / "tagged.yaml").write_text(yaml.safe_dump(
        {"type": "string_check", "name": "tagged", "reference": "<answer>", "operation": "like"}))
    suite = {"name": "adds", "data": "rows.jsonl", "target": {"outputs": "outs.jsonl"},
             "graders": [MATCH, "graders/tagged.yaml"], "thresholds": thresholds, **extra}
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


@pytest.mark.parametrize(
    "thresholds,passed,failing",
    [
        ({"match": {"min_score": 0.7}}, True, []),  # 7 of 10 right: exactly at the threshold
        ({"match": {"min_score": 0.8}}, False, [("match", "min_score")]),  # 0.7 < 0.8
        ({"*": {"min_pass_rate": 0.9}}, False, [("match", "min_pass_rate")]),  # '*' reaches every grader; tagged passes
        # A grader's own threshold overrides '*'.
        ({"*": {"min_pass_rate": 0.5}, "match": {"min_pass_rate": 0.75}}, False, [("match", "min_pass_rate")]),
    ],
    ids=["at-threshold", "below-min-score", "star-applies-to-all", "per-grader-overrides-star"],
)
def test_suite_thresholds(tmp_path, thresholds, passed, failing):
    result = run_suite(_write(tmp_path, thresholds))
    assert result.passed is passed
    assert [(c.grader, c.check) for c in result.failures] == failing
    if not passed:
        assert result.table().startswith("suite adds: FAILED")


def test_no_regression_against_a_saved_baseline(tmp_path):
    path = _write(tmp_path, {})
    baseline = run_suite(path).report
    # The baseline was better: every row right.
    for item in baseline.items:
        for g in item.grades["match"]:
            g.score, g.passed = 1.0, True
    baseline.save(tmp_path / "baseline.json")
    data = yaml.safe_load(path.read_text())
    data.update(baseline="baseline.json", max_regression=0.2)
    path.write_text(yaml.safe_dump(data))
    result = run_suite(path)  # drop of 0.3 > 0.2 allowed
    bad = result.failures
    assert [(c.grader, c.check) for c in bad] == [("match", "max_regression")]
    # 3 of 10 items broke, none fixed: Newcombe's paired interval leaves room for noise (exact McNemar p = 0.25)
    assert bad[0].actual == "-0.300" and "95% CI [-0.603, +0.038]" in bad[0].note
    data["max_regression"] = 0.35
    path.write_text(yaml.safe_dump(data))
    assert run_suite(path).passed


@pytest.mark.parametrize(
    "suite,message",
    [
        ({"graders": [MATCH]}, r"missing required key 'data'"),
        ({"data": [], "graders": [MATCH], "threshold": {}}, r"threshold: unknown suite key 'threshold'"),
        ({"data": [], "graders": [MATCH], "thresholds": {"match": {"min_scor": 1}}},
         r"thresholds.match.min_scor: unknown threshold 'min_scor'"),
        ({"data": [], "graders": [MATCH], "thresholds": {"match": {"min_score": "high"}}},
         r"thresholds.match.min_score: expected a number"),
        ({"data": [], "graders": [MATCH], "generation": {"temp": 0}}, r"generation.temp: unknown generation setting"),
        ({"data": 5, "graders": [MATCH]}, r"data: expected a JSONL path or a list of rows"),
    ],
    ids=["no-data", "typo-key", "typo-threshold", "non-number", "bad-generation", "bad-data"],
)
def test_bad_suites_name_the_key(suite, message):
    with pytest.raises(ConfigError, match=message):
        Suite.from_dict(suite)


def test_threshold_for_unknown_grader_and_regression_without_baseline(tmp_path):
    with pytest.raises(ConfigError, match=r"thresholds.nope: threshold for unknown grader 'nope'"):
        run_suite(_write(tmp_path, {"nope": {"min_score": 0.5}}))
    with pytest.raises(ConfigError, match=r"max_regression needs a baseline"):
        run_suite(_write(tmp_path, {"match": {"max_regression": 0.1}}))


def test_suite_file_errors_name_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("data: rows.jsonl\ngraders: [{type: string_check, operation: sideways}]\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: graders\[0\].operation: unknown operation 'sideways'"):
        run_suite(path)


# ------------------------------------------------------------------------------------ CLI


def test_rft_test_exit_codes_and_table(tmp_path, capsys):
    good = _write(tmp_path, {"match": {"min_score": 0.5}})
    assert main(["test", str(good)]) == 0
    assert "suite adds: PASSED" in capsys.readouterr().out
    (tmp_path / "bad").mkdir()
    bad = _write(tmp_path / "bad", {"match": {"min_score": 0.9, "min_pass_rate": 0.5}})
    assert main(["test", str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert "suite adds: FAILED (1 of 2 checks)" in out and "FAILED: 1 of 2 suites" in out
    line = next(line for line in out.splitlines() if "min_score" in line and "FAIL" in line)
    assert ">= 0.900" in line and "0.700" in line


def test_rft_test_config_error_exits_2(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text("data: x.jsonl\n")
    assert main(["test", str(path)]) == 2
    assert "missing required key 'graders'" in capsys.readouterr().err


def test_rft_eval_with_outputs_writes_resumable_results(tmp_path, capsys):
    _write(tmp_path, {})
    grader_file = tmp_path / "match.json"
    grader_file.write_text(json.dumps(MATCH))
    args = ["eval", "--outputs", str(tmp_path / "outs.jsonl"), "--data", str(tmp_path / "rows.jsonl"),
            "--grader", str(grader_file), "--out", str(tmp_path / "run"), "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "match" in out and "0.700" in out
    assert len((tmp_path / "run" / "results.jsonl").read_text().splitlines()) == 10
    assert main(args + ["--format", "json"]) == 0  # resumes: same numbers, nothing regraded
    data = json.loads(capsys.readouterr().out)
    assert data["stats"][0]["mean"] == pytest.approx(0.7) and data["meta"]["timing"]["resumed_records"] == 10


def test_rft_eval_tiny_model_folder(tmp_path, tiny_model_path, capsys):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps(r) + "\n" for r in ROWS[:4]))
    grader = tmp_path / "g.json"
    grader.write_text(json.dumps({"type": "string_check", "name": "any", "reference": "", "operation": "like"}))
    code = main([
        "eval", "--model", str(tiny_model_path), "--data", str(rows), "--grader", str(grader),
        "--max-new-tokens", "4", "--samples", "2", "--temperature", "0.7", "--format", "markdown", "--no-progress",
    ])
    assert code == 0
    out = capsys.readouterr().out
    assert "| any | 8 | 1.000 |" in out and "temperature=0.7" in out


def test_rft_eval_data_error_exits_2(tmp_path, capsys):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"prompt": "x"}) + "\n")
    grader = tmp_path / "g.json"
    grader.write_text(json.dumps(MATCH))
    assert main(["eval", "--model", "default", "--data", str(rows), "--grader", str(grader)]) == 2
    assert "row 0: no field 'answer'" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ example suites


SUITE_FILES = sorted((Path(rft.__file__).parent.parent / "suites").glob("*.yaml"))


@pytest.mark.parametrize("path", SUITE_FILES, ids=lambda p: p.name)
def test_example_suites_load(path):
    suite = Suite.load(path)
    assert suite.graders and suite.data


# ---------------------------------------------------------------------------- paths, checks before the slow part


def test_relative_paths_are_read_from_the_suite_folder_only(tmp_path, monkeypatch):
    # One rule: a relative path is relative to the file that names it; the cwd is never tried.
    (tmp_path / "suites").mkdir()
    path = _write(tmp_path / "suites", {})
    (tmp_path / "suites" / "rows.jsonl").rename(tmp_path / "rows.jsonl")  # only the cwd has rows.jsonl now
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        run_suite(path)
    message = str(info.value)
    assert str(path) in message and str(tmp_path / "suites" / "rows.jsonl") in message and "data" in message


def test_missing_baseline_is_found_before_evaluating(tmp_path):
    path = _write(tmp_path, {"match": {"max_regression": 0.1}}, baseline="runs/base/report.json")
    with pytest.raises(ConfigError) as info:
        run_suite(path, out=tmp_path / "run")
    message = str(info.value)
    assert str(tmp_path / "runs" / "base" / "report.json") in message  # the resolved path, not the raw one
    assert str(path) in message and "baseline" in message
    assert not (tmp_path / "run").exists()  # nothing was evaluated


def test_suite_failed_is_an_rft_error_and_an_assertion():
    from rft._errors import RftError
    from rft.eval import SuiteFailed

    assert issubclass(SuiteFailed, RftError) and issubclass(SuiteFailed, AssertionError)


def test_failure_table_shows_by_how_much_each_threshold_was_missed(tmp_path):
    result = run_suite(_write(tmp_path, {"match": {"min_score": 0.9, "min_pass_rate": 0.5}}))
    table = result.table()
    failing = next(line for line in table.splitlines() if "min_score" in line)
    assert "-0.200" in failing  # 0.700 against >= 0.900
    passing = next(line for line in table.splitlines() if "min_pass_rate" in line)
    assert "+0.200" in passing  # 0.700 against >= 0.500: the margin it passed by
    assert [c.margin for c in result.checks] == [pytest.approx(-0.2), pytest.approx(0.2)]


def test_rft_test_runs_every_suite_and_exits_with_the_worst_status(tmp_path, capsys):
    for name in ("good", "failing", "broken", "nodata"):
        (tmp_path / name).mkdir()
    good = _write(tmp_path / "good", {"match": {"min_score": 0.5}})
    failing = _write(tmp_path / "failing", {"match": {"min_score": 0.9}})
    broken = tmp_path / "broken" / "suite.yaml"
    broken.write_text("data: rows.jsonl\ngraders: [{type: string_check, operation: sideways}]\n")
    nodata = _write(tmp_path / "nodata", {})
    (tmp_path / "nodata" / "rows.jsonl").unlink()
    assert main(["test", str(broken), str(good), str(nodata), str(failing)]) == 2  # 2 (errors) > 1 (failed) > 0
    captured = capsys.readouterr()
    assert "suite adds: PASSED" in captured.out and "suite adds: FAILED" in captured.out  # ran after the errors
    assert f"{broken}: graders[0].operation: unknown operation 'sideways'" in captured.err
    assert str(nodata) in captured.err and str(tmp_path / "nodata" / "rows.jsonl") in captured.err
    assert "FAILED: 3 of 4 suites: 1 passed, 1 failed, 2 errors" in captured.out
    assert main(["test", str(good), str(failing)]) == 1  # no error: failed is the worst
