"""The public API of ``rft``, pinned: adding, removing or renaming a name is a deliberate act
that edits this list (and the README), never a side effect of a refactor."""

from __future__ import annotations

import rft

PUBLIC = [
    "AllOf",
    "AnyOf",
    "AuditReport",
    "Batch",
    "CallableBackend",
    "Comparison",
    "ConfigError",
    "DataError",
    "EvalCallback",
    "ExactMatch",
    "Gate",
    "Grade",
    "Grader",
    "GraderError",
    "JsonSchema",
    "LabelModel",
    "LocalBackend",
    "MissingDependencyError",
    "Multi",
    "NoSignalError",
    "OpenAIBackend",
    "Outputs",
    "PreflightReport",
    "PythonGrader",
    "Regex",
    "Report",
    "RftError",
    "Sample",
    "ScoreModel",
    "ScriptedBackend",
    "StringCheck",
    "Suite",
    "Template",
    "TextSimilarity",
    "TooManyUnscoredError",
    "TuneConfig",
    "TuneResult",
    "UntilResult",
    "UntrustedCodeError",
    "all_of",
    "any_of",
    "audit",
    "compare",
    "evaluate",
    "extract_answer",
    "gate",
    "grader_types",
    "judge_agreement",
    "judge_stats",
    "list_catalogue",
    "load_grader",
    "load_report",
    "load_rows",
    "preflight",
    "read_jsonl",
    "register_grader",
    "rubric_judge",
    "run_suite",
    "tune",
    "tune_until",
    "weighted",
    "write_jsonl",
]


def test_the_public_names_are_exactly_these():
    assert PUBLIC == sorted(PUBLIC)  # kept sorted, so a diff shows what changed
    assert rft.__all__ == PUBLIC


def test_every_public_name_resolves_and_is_listed_by_dir():
    for name in PUBLIC:
        assert getattr(rft, name) is not None, name
    assert set(PUBLIC) <= set(dir(rft))
