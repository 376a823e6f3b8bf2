"""The quick audit that training runs before it starts, and the test assertion.

:func:`audit_rewards` audits each reward grader on a few rows of the training data: all families
on :data:`QUICK_ROWS` rows for deterministic graders, and for graders with a judge inside only
the cheap families on :data:`QUICK_JUDGE_ROWS` rows (every probe is a judge call). With
``audit="warn"`` an exploitable grader raises an :class:`AuditWarning` carrying the table of the
probes that scored; with ``audit="strict"`` it raises :class:`ExploitableGraderError` (a
:class:`~rft.GraderError`), so training never starts on a grader the policy can game.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

from rft._data import load_rows
from rft._errors import ConfigError, DataError, GraderError
from rft.auditing._inspect import inspect_grader
from rft.auditing._report import AuditReport
from rft.auditing._runner import audit
from rft.graders._base import Grader
from rft.graders._registry import load_grader

__all__ = [
    "AUDIT_MODES",
    "QUICK_JUDGE_PROBES",
    "QUICK_JUDGE_ROWS",
    "QUICK_ROWS",
    "AuditWarning",
    "ExploitableGraderError",
    "assert_audit_clean",
    "audit_rewards",
]

_log = logging.getLogger("rft.audit")

#: Rows a quick audit of a deterministic grader uses.
QUICK_ROWS = 20
#: Rows, and families, a quick audit of a grader with a judge inside uses.
QUICK_JUDGE_ROWS = 2
QUICK_JUDGE_PROBES = ("empty", "injection")
#: Values of ``audit=``: off, warn (the default of preflight and tune), strict (refuse to train).
AUDIT_MODES = (False, "warn", "strict")


class AuditWarning(UserWarning):
    """A reward grader is exploitable; the message holds the audit's table."""


class ExploitableGraderError(GraderError):
    """Training refused: ``audit="strict"`` and a reward grader is exploitable. ``reports`` holds
    the audit reports of the exploitable graders."""

    def __init__(self, reports: Sequence[AuditReport]):
        self.reports = list(reports)
        names = ", ".join(repr(r.grader) for r in self.reports)
        body = "\n\n".join(str(r) for r in self.reports)
        super().__init__(
            f"refusing to train: reward grader(s) {names} can be gamed (audit='strict'); fix the grader "
            f"(see the probes that scored below) or pass audit='warn' to train anyway\n\n{body}"
        )


def audit_rewards(
    graders: Sequence[Any], data: Any, *, mode: Any = "warn", limit: int = QUICK_ROWS, trust_code: bool = False
) -> list[AuditReport]:
    """Quick-audit the reward ``graders`` on ``data`` (the training rows) before training.

    Plain reward functions (not :class:`~rft.Grader` objects) are skipped: there is nothing to
    read their reference from. Returns one report per audited grader; warns or raises per
    ``mode`` (``False``, ``"warn"``, ``"strict"``) when one is exploitable.

    >>> import rft, warnings
    >>> weak = rft.StringCheck(name="contains", reference="{{item.answer}}", operation="like")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     reports = audit_rewards([weak, "answer_matches_reference"], [{"answer": "42"}])
    >>> [r.ok for r in reports], caught[0].category.__name__
    ([False, True], 'AuditWarning')
    """
    if mode is True:
        mode = "warn"
    if mode in (False, None):
        return []
    if mode not in AUDIT_MODES:
        raise ConfigError(f"expected audit=False, 'warn' or 'strict', got {mode!r}", "audit")
    rows = load_rows(data)
    reports = []
    for spec in graders:
        if not isinstance(spec, (Grader, str, dict)):
            continue  # a plain TRL reward function
        grader = load_grader(spec, trust_code=trust_code)
        quick: dict[str, Any] = {"limit": limit}
        if inspect_grader(grader).has_judge:
            quick = {"limit": QUICK_JUDGE_ROWS, "probes": list(QUICK_JUDGE_PROBES)}
        try:
            reports.append(audit(grader, rows, **quick))
        except DataError as exc:
            # Rows the grader cannot read are training's business (unscored rewards, max_unscored_frac
            # stops the run with the reasons); the quick audit must not block on them first.
            _log.warning("not auditing reward grader %r before training: %s", getattr(grader, "name", spec), exc)
    exploitable = [r for r in reports if not r.ok]
    if exploitable and mode == "strict":
        raise ExploitableGraderError(exploitable)
    for report in exploitable:
        warnings.warn(
            f"reward grader {report.grader!r} can be gamed; the policy may learn these instead of the task "
            f"(audit='strict' refuses to train):\n{report}",
            AuditWarning,
            stacklevel=2,
        )
    return reports


def assert_audit_clean(grader: Any, data: Any, **options: Any) -> AuditReport:
    """Fail with the audit's table (``AssertionError``) when :func:`rft.audit` finds an exploit.

    For your own tests, beside :func:`rft.testing.assert_suite`; ``options`` are
    :func:`rft.audit`'s.

    >>> assert_audit_clean("answer_matches_reference", [{"answer": "42"}]).ok
    True
    """
    __tracebackhide__ = True
    report = audit(grader, data, **options)
    if not report.ok:
        raise AssertionError(str(report))
    return report
