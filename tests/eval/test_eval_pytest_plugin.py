"""The pytest plugin, used the way a project would: a separate test file run by a real pytest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

ROWS = [{"id": i, "prompt": f"p{i}", "answer": "yes" if i < 3 else "no", "out": "yes"} for i in range(4)]
GRADER = {"type": "string_check", "name": "agrees", "reference": "{{item.answer}}"}


def _suite(folder: Path, name: str, min_pass_rate: float) -> Path:
    (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    path = folder / name
    path.write_text(yaml.safe_dump({"name": path.stem, "data": "rows.jsonl", "target": {"outputs_column": "out"},
                                    "graders": [GRADER], "thresholds": {"agrees": {"min_pass_rate": min_pass_rate}}}))
    return path


def _entry_point_installed() -> bool:
    from importlib.metadata import entry_points

    return any(ep.value == "rft.testing.pytest_plugin" for ep in entry_points(group="pytest11"))


def _pytest(folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    # Installed rft registers the plugin through its pytest11 entry point; otherwise load it by name.
    plugin = [] if _entry_point_installed() else ["-p", "rft.testing.pytest_plugin"]
    return subprocess.run(
        [sys.executable, "-m", "pytest", *plugin, "-p", "no:cacheprovider", "-q", *args],
        cwd=folder, capture_output=True, text=True, env=env, timeout=120, check=False,
    )


@pytest.fixture
def project(tmp_path):
    _suite(tmp_path, "easy.yaml", 0.5)  # 3 of 4 agree: passes
    _suite(tmp_path, "hard.yaml", 0.9)  # fails
    (tmp_path / "test_models.py").write_text(textwrap.dedent(
        """
        from rft.testing import assert_suite

        def test_easy(rft_suite):
            result = rft_suite("easy.yaml")
            assert result.report["agrees"].pass_rate == 0.75

        def test_hard(rft_suite):
            rft_suite("hard.yaml")

        def test_helper_directly():
            assert_suite("easy.yaml")
        """
    ))
    (tmp_path / "conftest.py").write_text("")  # a project root without rft's conftest
    return tmp_path


def test_fixture_passes_and_fails_with_the_table(project):
    run = _pytest(project, "test_models.py")
    assert run.returncode == 1, run.stdout + run.stderr
    out = run.stdout
    assert "2 passed" in out and "1 failed" in out
    assert "suite hard: FAILED (1 of 1 checks)" in out
    line = next(line for line in out.splitlines() if "min_pass_rate" in line and "FAIL" in line)
    assert ">= 0.900" in line and "0.750" in line


def test_suite_files_are_collected_with_the_flag(project):
    os.rename(project / "easy.yaml", project / "rft_easy.yaml")
    os.rename(project / "hard.yaml", project / "hard.rft.yaml")
    (project / "test_models.py").unlink()
    run = _pytest(project, "--rft-suites")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 passed" in run.stdout and "1 failed" in run.stdout
    assert "suite hard: FAILED" in run.stdout and "Traceback" not in run.stdout  # the table, not a bare assert
    assert _pytest(project).returncode == 5  # without the flag nothing is collected


def test_rft_target_option_overrides_the_suite_target(project):
    (project / "test_models.py").write_text("def test_easy(rft_suite):\n    rft_suite('easy.yaml')\n")
    # Other outputs (all "no": 1 of 4 agree) given on the command line replace the suite's target.
    (project / "other.jsonl").write_text("".join(json.dumps({"id": r["id"], "output": "no"}) + "\n" for r in ROWS))
    run = _pytest(project, "--rft-target", str(project / "other.jsonl"), "test_models.py")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "suite easy: FAILED" in run.stdout and "0.250" in run.stdout
