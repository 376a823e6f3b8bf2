"""rft: reinforcement fine-tuning with pluggable graders.

One grader object is both a reward function for TRL's ``GRPOTrainer`` and a standalone
evaluator. ``import rft`` is light: heavy dependencies (torch, transformers, trl, openai) load
only inside the functions that need them.

>>> import rft
>>> correct = rft.ExactMatch(name="correct", reference="{{item.answer}}", extract="answer_tags", numeric=True)
>>> correct.grade("<answer>1,000</answer>", {"answer": "1000"}).score
1.0
>>> correct(completions=["<answer>7</answer>", "no tags"], answer=["7", "7"])
[1.0, 0.0]
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> module that defines it. Modules are imported on first attribute access.
_LAZY: dict[str, str] = {
    "AllOf": "rft.graders._compose",
    "AnyOf": "rft.graders._compose",
    "AuditReport": "rft.auditing._report",
    "Batch": "rft._template",
    "CallableBackend": "rft.judge._backends",
    "Comparison": "rft.eval._compare",
    "ConfigError": "rft._errors",
    "DataError": "rft._errors",
    "EvalCallback": "rft.eval._callback",
    "ExactMatch": "rft.graders._exact",
    "Gate": "rft.graders._compose",
    "Grade": "rft._grade",
    "Grader": "rft.graders._base",
    "GraderError": "rft._errors",
    "JsonSchema": "rft.graders._json_schema",
    "LabelModel": "rft.graders._model",
    "LocalBackend": "rft.judge._backends",
    "MissingDependencyError": "rft._errors",
    "Multi": "rft.graders._multi",
    "NoSignalError": "rft.tuning",
    "OpenAIBackend": "rft.judge._backends",
    "Outputs": "rft.eval._targets",
    "PreflightReport": "rft.tuning",
    "PythonGrader": "rft.graders._python",
    "Regex": "rft.graders._regex",
    "Report": "rft.eval._report",
    "RftError": "rft._errors",
    "Sample": "rft._sample",
    "ScoreModel": "rft.graders._model",
    "ScriptedBackend": "rft.judge._backends",
    "StringCheck": "rft.graders._string",
    "Suite": "rft.eval._suite",
    "Template": "rft._template",
    "TextSimilarity": "rft.graders._similarity",
    "TooManyUnscoredError": "rft.tuning",
    "TuneConfig": "rft.tuning",
    "TuneResult": "rft.tuning",
    "UntilResult": "rft.tuning",
    "UntrustedCodeError": "rft._errors",
    "all_of": "rft.graders._compose",
    "any_of": "rft.graders._compose",
    "audit": "rft.auditing._runner",
    "compare": "rft.eval._compare",
    "evaluate": "rft.eval._evaluate",
    "extract_answer": "rft._extract",
    "gate": "rft.graders._compose",
    "grader_types": "rft.graders._registry",
    "judge_agreement": "rft.judge._agreement",
    "judge_stats": "rft.judge._engine",
    "list_catalogue": "rft._catalogue",
    "load_grader": "rft.graders._registry",
    "load_report": "rft.eval._report",
    "load_rows": "rft._data",
    "preflight": "rft.tuning",
    "read_jsonl": "rft._data",
    "register_grader": "rft.graders._registry",
    "rubric_judge": "rft.graders._model",
    "run_suite": "rft.eval._suite",
    "tune": "rft.tuning",
    "tune_until": "rft.tuning",
    "weighted": "rft.graders._compose",
    "write_jsonl": "rft._data",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rft' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover
    from rft._catalogue import list_catalogue
    from rft._data import load_rows, read_jsonl, write_jsonl
    from rft._errors import ConfigError, DataError, GraderError, MissingDependencyError, RftError, UntrustedCodeError
    from rft._extract import extract_answer
    from rft._grade import Grade
    from rft._sample import Sample
    from rft._template import Batch, Template
    from rft.auditing._report import AuditReport
    from rft.auditing._runner import audit
    from rft.eval._callback import EvalCallback
    from rft.eval._compare import Comparison, compare
    from rft.eval._evaluate import evaluate
    from rft.eval._report import Report, load_report
    from rft.eval._suite import Suite, run_suite
    from rft.eval._targets import Outputs
    from rft.graders._base import Grader
    from rft.graders._compose import AllOf, AnyOf, Gate, all_of, any_of, gate, weighted
    from rft.graders._exact import ExactMatch
    from rft.graders._json_schema import JsonSchema
    from rft.graders._model import LabelModel, ScoreModel, rubric_judge
    from rft.graders._multi import Multi
    from rft.graders._python import PythonGrader
    from rft.graders._regex import Regex
    from rft.graders._registry import grader_types, load_grader, register_grader
    from rft.graders._similarity import TextSimilarity
    from rft.graders._string import StringCheck
    from rft.judge._agreement import judge_agreement
    from rft.judge._backends import CallableBackend, LocalBackend, OpenAIBackend, ScriptedBackend
    from rft.judge._engine import judge_stats
    from rft.tuning import (
        NoSignalError,
        PreflightReport,
        TooManyUnscoredError,
        TuneConfig,
        TuneResult,
        UntilResult,
        preflight,
        tune,
        tune_until,
    )
