"""Evaluation with the same graders used for training.

- :func:`evaluate` generates outputs for a dataset (or takes precomputed ones), grades them and
  returns a :class:`Report`; with ``out=`` results stream to disk and re-runs resume.
- :func:`compare` tells, per grader, whether a change helped: one metric-aware paired comparison
  over items (mean score or pass rate), with the rules ``superior``, ``noninferior`` and
  ``lenient`` that :func:`rft.tune_until` decides with (:func:`decision_text` says them in words).
- :func:`power_check` says, before any training, the smallest change a suite can resolve.
- :class:`Suite` / :func:`run_suite`: unit benchmarks with thresholds, run by ``rft test`` and by
  :func:`rft.testing.assert_suite` in pytest.

>>> import rft
>>> g = rft.StringCheck(name="yes", reference="yes", operation="ilike")
>>> rft.evaluate(lambda ps: ["Yes!" for _ in ps], [{"prompt": "ok?"}], g, progress=False)["yes"].mean
1.0
"""

from rft.eval._callback import EvalCallback
from rft.eval._checks import RowProblem, check_examples, check_rows, grader_item_fields, prompt_problem, row_problems
from rft.eval._compare import Comparison, GraderDelta, compare, decision_text
from rft.eval._evaluate import evaluate, load_graders
from rft.eval._fingerprint import grader_fingerprint
from rft.eval._power import PowerCheck, items_needed, min_detectable_change, planning_sd, power_check
from rft.eval._report import GraderStats, ItemResult, Report, load_report
from rft.eval._stats import (
    PairedInterval,
    clustered_interval,
    clustered_mean_se,
    newcombe_paired_ci,
    paired_bootstrap,
    paired_interval,
    pass_at_k,
    wilson_interval,
)
from rft.eval._suite import Check, Suite, SuiteFailed, SuiteResult, Threshold, run_suite
from rft.eval._targets import CallableTarget, GenerationParams, HFTarget, OpenAITarget, Outputs, Target, as_target

__all__ = [
    "CallableTarget",
    "Check",
    "Comparison",
    "EvalCallback",
    "GenerationParams",
    "GraderDelta",
    "GraderStats",
    "HFTarget",
    "ItemResult",
    "OpenAITarget",
    "Outputs",
    "PairedInterval",
    "PowerCheck",
    "Report",
    "RowProblem",
    "Suite",
    "SuiteFailed",
    "SuiteResult",
    "Target",
    "Threshold",
    "as_target",
    "check_examples",
    "check_rows",
    "clustered_interval",
    "clustered_mean_se",
    "compare",
    "decision_text",
    "evaluate",
    "grader_fingerprint",
    "grader_item_fields",
    "items_needed",
    "load_graders",
    "load_report",
    "min_detectable_change",
    "newcombe_paired_ci",
    "paired_bootstrap",
    "paired_interval",
    "pass_at_k",
    "planning_sd",
    "power_check",
    "prompt_problem",
    "row_problems",
    "run_suite",
    "wilson_interval",
]
