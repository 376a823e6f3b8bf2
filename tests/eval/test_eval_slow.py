"""The embedded SmolLM2-135M model end to end (slow: minutes of CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rft.cli import main

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_rft_eval_on_the_embedded_model_prints_a_report_and_resumes(tmp_path, capsys):
    args = ["eval", "--model", "default", "--data", str(ROOT / "data" / "arithmetic.jsonl"),
            "--grader", "answer_in_tags", "--grader", "answer_matches_reference",
            "--limit", "8", "--max-new-tokens", "32", "--out", str(tmp_path), "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "rft evaluation of default: 8 items x 1 samples" in out and "answer_matches_reference" in out
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 16 and all(json.loads(line)["gen"]["tokens"] <= 32 for line in lines)
    assert main(args + ["--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["meta"]["timing"]["resumed_records"] == 16


def test_rft_test_default_model_suite_passes(capsys):
    assert main(["test", str(ROOT / "suites" / "tags_default_model.yaml")]) == 0
    assert "suite tags_default_model: PASSED" in capsys.readouterr().out
