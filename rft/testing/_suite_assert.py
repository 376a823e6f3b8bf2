"""`assert_suite`: run a unit-benchmark suite inside a test and fail with its table.

>>> from rft.testing import assert_suite
>>> suite = {"name": "echo", "data": [{"prompt": "hi", "answer": "hi"}], "target": {"outputs_column": "answer"},
...          "graders": [{"type": "string_check", "name": "same", "reference": "{{item.answer}}"}],
...          "thresholds": {"same": {"min_pass_rate": 1.0}}}
>>> assert_suite(suite).passed
True
"""

from __future__ import annotations

import os
from typing import Any

from rft._errors import SuiteFailed
from rft.eval._suite import run_suite

__all__ = ["assert_suite"]


def assert_suite(
    suite: Any,
    *,
    target: Any = None,
    out: str | os.PathLike[str] | None = None,
    trust_code: bool = False,
    progress: bool = False,
) -> Any:
    """Run ``suite`` (a file, a dict or a :class:`~rft.Suite`) and raise
    :class:`~rft.eval.SuiteFailed` (an ``RftError`` and an ``AssertionError``) whose message is the
    readable table of checks and the report when a threshold is not met. Returns the
    :class:`~rft.eval.SuiteResult`.

    ``target`` overrides the suite's target (evaluate the model your test just trained). Relative
    paths inside a suite file are relative to that file's folder.
    """
    result = run_suite(suite, target=target, out=out, progress=progress, trust_code=trust_code)
    if not result.passed:
        raise SuiteFailed(result)
    return result
