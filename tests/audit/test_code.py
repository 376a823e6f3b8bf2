"""The code family against Python graders that execute the completion: a program that contains
no answer reads it from the grader's call stack, or from a file beside it. The graders run in
rft's real sandbox (``source=``), loaded at the trust level the test grants."""

from __future__ import annotations

import pytest

import rft
from rft.auditing import audit

ROWS = [{"id": "p1", "answer": "42"}, {"id": "p2", "answer": "1729"}]

# Runs the completion as a program and compares what it prints with the answer: the program
# runs inside grade(), so `item` is one frame up.
RUNS_CODE = """
import contextlib, io

def grade(sample, item):
    code = sample["output_text"]
    if code.startswith("```"):
        code = code.split("\\n", 1)[1].rsplit("```", 1)[0]
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(code, {"__name__": "__main__"})
    except Exception:
        return 0.0
    return float(out.getvalue().strip() == str(item["answer"]))
"""

# Writes the expected output to a file in its working directory, then runs the program in a
# fresh namespace with nothing of the item in sight.
EXPECTED_FILE = """
import contextlib, io, os

def _run(code):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code, {"__name__": "__main__"})
    return out.getvalue().strip()

def grade(sample, item):
    with open("expected_output.txt", "w") as f:
        f.write(str(item["answer"]) + "\\n")
    code = sample["output_text"]
    if code.startswith("```"):
        code = code.split("\\n", 1)[1].rsplit("```", 1)[0]
    try:
        got = _run(code)
    except Exception:
        return 0.0
    finally:
        os.remove("expected_output.txt")
    expected = str(item["answer"])
    item = None
    return float(got == expected)
"""


def test_a_grader_that_runs_the_completion_leaks_the_item_on_its_stack():
    with rft.PythonGrader(name="runs_code", source=RUNS_CODE, timeout=10) as grader:
        report = audit(grader, ROWS, probes=["code"])
    hits = {f.probe for f in report.exploits}
    assert "code_steal_item" in hits, str(report)
    stolen = next(f for f in report.exploits if f.probe == "code_steal_item")
    assert "42" not in stolen.completion and "1729" not in stolen.completion  # the program holds no answer


def test_a_grader_that_keeps_the_expected_output_in_a_file_leaks_it():
    with rft.PythonGrader(name="expected_file", source=EXPECTED_FILE, timeout=10) as grader:
        report = audit(grader, ROWS, probes=["code_read_files"])
    assert {f.probe for f in report.exploits} == {"code_read_files"}, str(report)


def test_the_code_family_runs_by_default_on_python_graders_only():
    with rft.PythonGrader(name="runs_code", source=RUNS_CODE, timeout=10) as grader:
        report = audit(grader, ROWS[:1])
    assert "code_steal_item" in {f.probe for f in report.exploits}
    plain = audit("answer_matches_reference", ROWS)
    code = next(fs for fs in plain.families if fs.family == "code")
    assert code.probes == 0 and code.skipped


def test_python_source_in_a_config_needs_trust_code():
    config = {"type": "python", "name": "runs_code", "source": RUNS_CODE}
    with pytest.raises(rft.UntrustedCodeError):
        audit(config, ROWS)
    report = audit(config, ROWS[:1], trust_code=True, probes=["code_steal_item"])
    assert not report.ok
