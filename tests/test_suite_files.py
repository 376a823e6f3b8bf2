"""The suite files shipped in suites/ load, their files exist, and the tuning demo's suites match
what the README's tune_until example points at."""

from __future__ import annotations

from pathlib import Path

import pytest

import rft
from rft.demo.tune import guard_suites, target_suite

SUITES = Path(__file__).resolve().parents[1] / "suites"


@pytest.mark.parametrize("path", sorted(SUITES.glob("*.yaml")), ids=lambda p: p.stem)
def test_suite_file_loads_and_its_data_exists(path: Path) -> None:
    suite = rft.Suite.load(path)
    assert suite.graders, path
    if isinstance(suite.data, str):
        assert Path(suite.data).is_file(), suite.data
    if suite.gate is not None and suite.gate.replay_data:
        assert Path(suite.gate.replay_data).is_file()


def test_demo_suites_are_the_files_the_readme_names() -> None:
    by_name = {s["name"]: s for s in [target_suite("contacts"), *guard_suites()]}
    for file in ("contacts", "guard_arithmetic", "guard_knowledge"):
        suite = rft.Suite.load(SUITES / f"{file}.yaml")
        demo = by_name[suite.name]
        configs = [rft.load_grader(g).to_config() for g in suite.graders]
        assert configs == [rft.load_grader(g).to_config() for g in demo["graders"]]
        assert Path(suite.data).resolve() == Path(demo["data"]).resolve()
