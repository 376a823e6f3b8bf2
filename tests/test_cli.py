"""The real ``rft`` command line, run as a subprocess: grade, validate, graders; exit codes 0/1/2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import rft
from rft._catalogue import list_catalogue
from rft._data import read_jsonl, write_jsonl
from rft.cli import main

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"
ARITH = str(DATA / "arithmetic.jsonl")
ARITH_OUT = str(DATA / "sample_outputs" / "arithmetic.jsonl")


def rft_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rft", *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def assert_clean_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    """Exit 2, a one-line-ish message on stderr naming what is wrong, no traceback."""
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in proc.stderr, proc.stderr


# ---------------------------------------------------------------------------------------------
# rft grade


def test_grade_prints_the_summary_and_writes_results(tmp_path):
    out = tmp_path / "results.jsonl"
    proc = rft_cli("grade", "--grader", "answer_matches_reference", "--grader", "answer_in_tags",
                   "--data", ARITH, "--outputs", ARITH_OUT, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    # The report's table (as rft eval prints it): grader, n, mean, ..., pass rate, ..., unscored.
    assert lines[0].split()[:3] == ["grader", "n", "mean"] and "pass rate" in lines[0]
    assert lines[0].split()[-1] == "unscored"
    by_name = {line.split()[0]: line.split() for line in lines[2:]}
    assert by_name["answer_matches_reference"][1] == "96"
    assert "answer_in_tags.tagged" in by_name  # sub-graders of a composite get their own rows

    # The results file holds exactly what grading in-process gives, one line per output.
    results = read_jsonl(out)
    rows, outputs = read_jsonl(ARITH), read_jsonl(ARITH_OUT)
    assert [r["id"] for r in results] == [o["id"] for o in outputs]
    grader = rft.load_grader("answer_matches_reference")
    by_id = {r["id"]: r for r in rows}
    expected = grader.grade_batch([o["output"] for o in outputs], [by_id[o["id"]] for o in outputs])
    assert [r["grades"]["answer_matches_reference"]["score"] for r in results] == [g.score for g in expected]
    mean = sum(g.score for g in expected) / len(expected)
    assert by_name["answer_matches_reference"][2] == f"{mean:.3f}"


@pytest.mark.parametrize(
    "threshold, code",
    [
        pytest.param(["--min-pass-rate", "0.99"], 1, id="pass-rate-not-met"),
        pytest.param(["--min-score", "0.99"], 1, id="mean-not-met"),
        pytest.param(["--min-score", "0.1", "--min-pass-rate", "0.1"], 0, id="both-met"),
        pytest.param([], 0, id="failures-without-a-threshold-are-not-an-error"),
    ],
)
def test_grade_exit_code_follows_thresholds(threshold, code):
    proc = rft_cli("grade", "-g", "answer_matches_reference", "-d", ARITH, "-o", ARITH_OUT, "--json", *threshold)
    assert proc.returncode == code, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary[0]["grader"] == "answer_matches_reference" and summary[0]["n"] == 96
    if code == 1:
        assert "answer_matches_reference" in proc.stderr and "below" in proc.stderr


def test_grade_malformed_outputs_names_file_and_line(tmp_path):
    bad = tmp_path / "outputs.jsonl"
    bad.write_text('{"id": "arith-000", "output": "1"}\n{"id": "arith-001", "output": \n', encoding="utf-8")
    proc = rft_cli("grade", "-g", "answer_matches_reference", "-d", ARITH, "-o", str(bad))
    assert_clean_error(proc, f"{bad}:2:", "not valid JSON")


@pytest.mark.parametrize(
    "grader_file, words",
    [
        pytest.param("type: string_check\nname: x\nrefrence: '{{item.answer}}'\n", ["refrence", "known fields"],
                     id="unknown-field"),
        pytest.param("type: sting_check\nname: x\n", ["sting_check", "known types", "string_check"], id="unknown-type"),
        pytest.param("type: regex\nname: x\npattern: '(unclosed'\n", ["pattern"], id="bad-regex"),
        pytest.param("type: [unbalanced\n", ["not valid YAML"], id="bad-yaml"),
    ],
)
def test_grade_bad_grader_file_is_a_usage_error(tmp_path, grader_file, words):
    path = tmp_path / "grader.yaml"
    path.write_text(grader_file, encoding="utf-8")
    proc = rft_cli("grade", "-g", str(path), "-d", ARITH, "-o", ARITH_OUT)
    assert_clean_error(proc, str(path), *words)


def test_grade_line_aligned_strings_and_outputs_inside_the_data(tmp_path):
    data, outputs = tmp_path / "rows.jsonl", tmp_path / "outputs.jsonl"
    write_jsonl(data, [{"answer": "4", "completion": "<answer>4</answer>"}, {"answer": "5", "completion": "5"}])
    write_jsonl(outputs, ["<answer>4</answer>", "<answer>6</answer>"])  # no ids: line i goes with row i
    proc = rft_cli("grade", "-g", "answer_matches_reference", "-d", str(data), "-o", str(outputs), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["mean"] == 0.5
    # Without --outputs the rows carry the output themselves.
    proc = rft_cli("grade", "-g", "answer_matches_reference", "-d", str(data), "--output-field", "completion", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["mean"] == 0.5


def test_grade_counts_unscored_apart_by_kind(tmp_path):
    data = tmp_path / "rows.jsonl"
    write_jsonl(data, [{"answer": "4"}, {"answer": "four"}, {"answer": "4"}])
    outputs = tmp_path / "outputs.jsonl"
    write_jsonl(outputs, ["<answer>4</answer>", "<answer>4</answer>", "<answer>5</answer>"])
    proc = rft_cli("grade", "-g", "answer_matches_reference", "-d", str(data), "-o", str(outputs), "--json",
                   "--min-pass-rate", "0.5")
    assert proc.returncode == 0, proc.stderr  # one of two scored samples passed; unscored is not failure
    (summary,) = json.loads(proc.stdout)
    assert (summary["n"], summary["scored"], summary["mean"]) == (3, 2, 0.5)
    assert summary["unscored"] == {"invalid_reference": 1}
    # A row that lacks the field the grader reads is a data error (as in rft eval and rft validate),
    # not an unscored sample: see test_a_row_missing_a_graded_field_is_the_same_error_in_grade_eval_and_validate.


def _grade_in_process(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["grade", "--no-progress", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _arith_files(tmp_path, n=5):
    rows = [{"id": f"q{i}", "answer": str(i)} for i in range(n)]
    outputs = [{"id": f"q{i}", "output": f"<answer>{i if i < 3 else 99}</answer>"} for i in range(n)]
    data, outs = tmp_path / "rows.jsonl", tmp_path / "outputs.jsonl"
    write_jsonl(data, rows)
    return rows, outputs, data, outs


def test_grade_refuses_an_output_without_id_when_others_have_one(tmp_path, capsys):
    """Issue 8 item 6: reversed outputs with one id deleted gave mean 0.000 instead of 0.600, exit 0."""
    _, outputs, data, outs = _arith_files(tmp_path)
    outputs = outputs[::-1]
    del outputs[1]["id"]
    write_jsonl(outs, outputs)
    code, out, err = _grade_in_process(capsys, "-g", "answer_matches_reference", "-d", str(data), "-o", str(outs))
    assert code == 2 and out == ""
    assert f"{outs}:2: output 1 has no 'id'" in err and "4 of 5 outputs have one" in err
    # The same file through `rft eval --outputs`: the same error.
    eval_args = ["eval", "--outputs", str(outs), "-d", str(data), "-g", "answer_matches_reference", "--no-progress"]
    assert main(eval_args) == 2
    assert f"{outs}:2: output 1 has no 'id'" in capsys.readouterr().err


def test_grade_refuses_rows_without_outputs(tmp_path, capsys):
    """Issue 8 item 7: outputs for 4 of 5 rows reported n=4 and exit 0."""
    _, outputs, data, outs = _arith_files(tmp_path)
    write_jsonl(outs, outputs[:2] + outputs[3:])
    code, _, err = _grade_in_process(capsys, "-g", "answer_matches_reference", "-d", str(data), "-o", str(outs))
    assert code == 2 and "row 2 (id 'q2') has no output in" in err
    write_jsonl(outs, [o["output"] for o in outputs[:4]])  # line by line: 4 outputs for 5 rows
    code, _, err = _grade_in_process(capsys, "-g", "answer_matches_reference", "-d", str(data), "-o", str(outs))
    assert code == 2 and "4 outputs for 5 dataset rows" in err


def test_grade_refuses_an_empty_data_file(tmp_path, capsys):
    _, outputs, data, outs = _arith_files(tmp_path)
    write_jsonl(outs, outputs)
    data.write_text("\n")
    code, _, err = _grade_in_process(capsys, "-g", "answer_matches_reference", "-d", str(data), "-o", str(outs))
    assert code == 2 and f"{data}: no rows" in err
    assert main(["validate", "answer_matches_reference", "--data", str(data)]) == 2
    assert f"{data}: no rows" in capsys.readouterr().err


def test_a_row_missing_a_graded_field_is_the_same_error_in_grade_eval_and_validate(tmp_path, capsys):
    rows, outputs, data, outs = _arith_files(tmp_path)
    del rows[3]["answer"]
    write_jsonl(data, rows)
    write_jsonl(outs, outputs)
    code, _, err = _grade_in_process(capsys, "-g", "answer_matches_reference", "-d", str(data), "-o", str(outs))
    assert code == 2 and "row 3: no field 'answer' (grader 'answer_matches_reference'" in err
    eval_args = ["eval", "--outputs", str(outs), "-d", str(data), "-g", "answer_matches_reference", "--no-progress"]
    assert main(eval_args) == 2
    assert "row 3: no field 'answer' (grader 'answer_matches_reference'" in capsys.readouterr().err
    assert main(["validate", "answer_matches_reference", "--data", str(data)]) == 2
    assert "1 of 5 rows lack item.answer (read by grader answer_matches_reference); rows 3" in capsys.readouterr().err


def test_grade_exits_1_when_a_grader_scored_nothing(tmp_path, capsys):
    """Issue 8 item 10: every grade unscored (a judge down, references that are not numbers): the run
    measured nothing, which must not read as success."""
    rows, outputs, data, outs = _arith_files(tmp_path)
    write_jsonl(data, [dict(r, answer="many") for r in rows])  # a numeric grader cannot judge these
    write_jsonl(outs, outputs)
    code, out, err = _grade_in_process(capsys, "-g", "answer_matches_reference", "-g", "answer_in_tags",
                                       "-d", str(data), "-o", str(outs))
    assert code == 1
    assert "answer_matches_reference: nothing was scored" in err and "invalid_reference: 5" in err
    assert "answer_in_tags" not in err  # the grader that did measure is not blamed
    assert "answer_matches_reference" in out  # the table is still printed


def test_grade_produces_the_report_rft_eval_produces(tmp_path, capsys):
    """Issue 9: one results layer: rft grade's numbers, table and saved report are rft eval's."""
    _, outputs, data, outs = _arith_files(tmp_path)
    write_jsonl(outs, outputs + [{"id": "q0", "output": "<answer>7</answer>"}])  # 2 samples for q0
    saved = tmp_path / "report.json"
    code, out, _ = _grade_in_process(capsys, "-g", "answer_matches_reference", "-d", str(data), "-o", str(outs),
                                     "--report", str(saved))
    assert code == 0
    report = rft.load_report(saved)
    evaluated = rft.evaluate(rft.Outputs(outs), str(data), "answer_matches_reference", progress=False)
    assert [s.to_dict() for s in report.stats] == [s.to_dict() for s in evaluated.stats]
    assert out.strip() == evaluated.table()
    assert report["answer_matches_reference"].pass_at_k  # several samples per row: pass@k, as rft eval


def test_grade_thresholds_are_the_suite_thresholds(tmp_path, capsys):
    """--min-score at exactly the mean passes (the suite's tolerance), and a miss names the grader."""
    _, outputs, data, outs = _arith_files(tmp_path)
    write_jsonl(outs, outputs)
    code, _, err = _grade_in_process(capsys, "-g", "answer_matches_reference", "-d", str(data), "-o", str(outs),
                                     "--min-score", str(3 / 5))
    assert code == 0, err
    code, _, err = _grade_in_process(capsys, "-g", "answer_matches_reference", "-d", str(data), "-o", str(outs),
                                     "--min-pass-rate", "0.61")
    assert code == 1 and "answer_matches_reference: pass rate 0.600 is below --min-pass-rate 0.61" in err


def test_grade_grades_structured_outputs_as_given(tmp_path, capsys):
    """Sample dicts (output_json, tools) and chat messages reach the graders unchanged; the report shows text."""
    data, outs, grader = tmp_path / "rows.jsonl", tmp_path / "outputs.jsonl", tmp_path / "json.yaml"
    write_jsonl(data, [{"id": "a", "answer": "4"}, {"id": "b", "answer": "5"}])
    write_jsonl(outs, [{"id": "a", "output": {"output_text": "x", "output_json": {"answer": "4"}}},
                       {"id": "b", "output": [{"role": "assistant", "content": "<answer>5</answer>"}]}])
    grader.write_text(
        "type: string_check\nname: j\ninput: '{{sample.output_json.answer}}'\nreference: '{{item.answer}}'\n"
    )
    saved = tmp_path / "report.json"
    code, _, err = _grade_in_process(capsys, "-g", str(grader), "-g", "answer_matches_reference", "-d", str(data),
                                     "-o", str(outs), "--report", str(saved))
    assert code == 0, err
    report = rft.load_report(saved)
    assert [item.grades["j"][0].score for item in report.items] == [1.0, 0.0]
    assert [item.grades["answer_matches_reference"][0].score for item in report.items] == [0.0, 1.0]
    assert [item.outputs for item in report.items] == [["x"], ["<answer>5</answer>"]]


# ---------------------------------------------------------------------------------------------
# rft validate


def test_validate_ok_with_matching_data():
    proc = rft_cli("validate", "answer_matches_reference", "--data", ARITH)
    assert proc.returncode == 0, proc.stderr
    assert "item.answer" in proc.stdout and "96 rows, 96 with every field" in proc.stdout


def test_validate_lists_rows_missing_fields(tmp_path):
    data = tmp_path / "rows.jsonl"
    write_jsonl(data, [{"name": "Ada", "email": "a@x.org"}, {"name": "Bob"}, {"email": "c@x.org"}, {}])
    proc = rft_cli("validate", "contact_extraction", "--data", str(data))
    assert_clean_error(proc, "2 of 4 rows lack item.email", "rows 1, 3", "2 of 4 rows lack item.name", "rows 2, 3")


def test_validate_runs_the_examples_of_a_grader_file(tmp_path):
    path = tmp_path / "says_yes.yaml"
    path.write_text(
        "type: string_check\nname: says_yes\nreference: 'yes'\nexamples:\n"
        "  - {sample: 'yes', expected_score: 1.0}\n  - {sample: 'no', expected_score: 1.0}\n",
        encoding="utf-8",
    )
    proc = rft_cli("validate", str(path))
    assert_clean_error(proc, "examples.1: expected score 1.0, got score 0.0")
    assert "examples: 1/2 grade as declared" in proc.stdout


def test_validate_bad_config_exits_2():
    proc = rft_cli("validate", "no_such_grader")
    assert_clean_error(proc, "no_such_grader", "gsm8k_answer")


# ---------------------------------------------------------------------------------------------
# rft graders, usage


def test_graders_lists_the_catalogue():
    proc = rft_cli("graders")
    assert proc.returncode == 0, proc.stderr
    listed = [line.split()[0] for line in proc.stdout.splitlines() if line and not line.startswith(tuple("0123456789"))]
    assert listed == list_catalogue()
    assert "exact_match" in proc.stdout  # the type column


def test_graders_name_shows_the_file_and_unknown_name_is_an_error():
    proc = rft_cli("graders", "gsm8k_answer")
    assert proc.returncode == 0 and "type: exact_match" in proc.stdout and "examples:" in proc.stdout
    assert_clean_error(rft_cli("graders", "nope"), "nope", "answer_in_tags")


@pytest.mark.parametrize(
    "argv, code",
    [
        pytest.param(["--help"], 0, id="help"),
        pytest.param([], 2, id="no-command"),
        pytest.param(["grade", "--grader", "answer_in_tags"], 2, id="missing-required-data"),
        pytest.param(["frobnicate"], 2, id="unknown-command"),
        pytest.param(["grade", "-g", "x", "-d", "y", "--batch-size", "0"], 2, id="bad-batch-size"),
        pytest.param(["grade", "-g", "x", "-d", "y", "--min-pass-rate", "80"], 2, id="pass-rate-as-percent"),
    ],
)
def test_usage_exit_codes_in_process(argv, code, capsys):
    """main() returns the code (argparse's SystemExit does not escape)."""
    assert main(argv) == code


def test_graders_names_in_process(capsys):
    assert main(["graders", "--names"]) == 0
    assert capsys.readouterr().out.split() == list_catalogue()


def test_demo_stage_one_runs():
    proc = subprocess.run([sys.executable, "-m", "rft.demo", "--stage", "1"], cwd=REPO, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    for expected in ("answer_matches_reference", "contact_extraction", "think_then_answer", "invalid_reference: 9"):
        assert expected in proc.stdout
