"""`make demo` end to end, shrunk: every stage runs on the tiny model and writes its results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_demo_runs_every_stage_on_the_tiny_model(tmp_path, tiny_model_path):
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "rft.demo", "--quick", "--model", str(tiny_model_path), "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for number in (1, 2, 3):
        assert f"=== {number}. " in proc.stdout
    # Stage 2 streamed resumable results and an atomic report.
    records = (out / "eval-arithmetic" / "results.jsonl").read_text().splitlines()
    assert len(records) == 8 * 2  # 8 held-out items x 2 graders
    assert json.loads((out / "eval-arithmetic" / "report.json").read_text())
    # Stage 3 wrote the tuning summary and every report format.
    summary = json.loads((out / "tune" / "summary.json").read_text())
    assert {"target", "guards", "report", "stopped", "verdict", "power"} <= set(summary)
    assert set(summary["guards"]) == {"arithmetic", "knowledge"}
    assert [p["role"] for p in summary["power"]] == ["target", "guard", "guard"]
    assert "pre-flight:" in proc.stdout and "can resolve" in proc.stdout
    for path in summary["report"].values():
        assert Path(path).is_file(), path


def test_the_tuning_stage_runs_as_its_own_module_without_a_warning():
    """`python -m rft.demo.tune` (the documented way to tune the held-out task) starts cleanly."""
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-m", "rft.demo.tune", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "--task {contacts,orders}" in proc.stdout and "--rehearse" in proc.stdout
