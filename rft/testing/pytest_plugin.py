"""rft's pytest plugin: assert unit-benchmark suites in your own tests.

Registered through the ``pytest11`` entry point, so installing rft enables it. It provides

- the ``rft_suite`` fixture: a function ``rft_suite(path_or_dict, target=None)`` that runs a suite
  and fails the test with the suite's table (checks, then the per-grader report) when a threshold
  is not met; the run folder goes to the test's ``tmp_path``;
- the ``rft_audit`` fixture: ``rft_audit(grader, rows, **options)`` runs :func:`rft.audit` and
  fails the test with the table of the probes that scored when the grader can be gamed;
- ``--rft-target NAME|DIR|openai:MODEL@URL``: evaluate this target instead of each suite's;
- collection of suite files named ``rft_*.yaml`` / ``*.rft.yaml`` when ``--rft-suites`` is given:
  each becomes a test item that fails with the table.

Use it without the entry point: ``pytest -p rft.testing.pytest_plugin``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rft._errors import SuiteFailed
from rft.auditing import assert_audit_clean
from rft.testing._suite_assert import assert_suite

__all__ = ["pytest_addoption", "pytest_collect_file", "rft_audit", "rft_suite"]


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("rft", "rft unit benchmarks")
    group.addoption("--rft-target", default=None, metavar="TARGET", help="evaluate this target instead of each suite's")
    group.addoption(
        "--rft-suites",
        action="store_true",
        default=False,
        help="collect rft_*.yaml and *.rft.yaml suite files as tests",
    )


@pytest.fixture
def rft_suite(request: Any, tmp_path: Path) -> Callable[..., Any]:
    """Run a suite and fail the test with its table when a threshold is not met."""
    default_target = request.config.getoption("--rft-target")

    def run(suite: Any, *, target: Any = None, trust_code: bool = False) -> Any:
        __tracebackhide__ = True
        chosen = target if target is not None else default_target
        return assert_suite(suite, target=chosen, out=tmp_path / "rft-suite", trust_code=trust_code)

    return run


@pytest.fixture
def rft_audit() -> Callable[..., Any]:
    """``rft_audit(grader, rows, **options)``: fail the test with the audit's table when the grader can be gamed."""
    return assert_audit_clean


def pytest_collect_file(parent: Any, file_path: Path) -> Any:
    if not parent.config.getoption("--rft-suites"):
        return None
    name = file_path.name
    if file_path.suffix in (".yaml", ".yml") and (name.startswith("rft_") or name.endswith((".rft.yaml", ".rft.yml"))):
        return SuiteFile.from_parent(parent, path=file_path)
    return None


class SuiteFile(pytest.File):
    def collect(self) -> Any:
        yield SuiteItem.from_parent(self, name=self.path.stem)


class SuiteItem(pytest.Item):
    def runtest(self) -> None:
        assert_suite(self.path, target=self.config.getoption("--rft-target"))

    def repr_failure(self, excinfo: Any, style: Any = None) -> Any:  # the table, else pytest's own TerminalRepr
        if isinstance(excinfo.value, SuiteFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Any, int, str]:
        return self.path, 0, f"rft suite {self.name}"
