"""Tuning with the same graders: GRPO via TRL, a signal pre-flight, and the tune-until loop (keep a round only when
the target improved and every guard held; repair a guard regression before giving up).

Import from :mod:`rft` directly (``rft.tune``, ``rft.TuneConfig``, ``rft.preflight``,
``rft.tune_until``); this package holds the modules. Heavy libraries (torch, transformers, trl)
load when a function runs, not on import.
"""

from rft.tuning._config import TuneConfig
from rft.tuning._preflight import GraderSignal, NoSignalError, PreflightReport, preflight
from rft.tuning._rewards import GraderReward, TooManyUnscoredError, reward_functions
from rft.tuning._tune import TuneResult, tune
from rft.tuning._until import RoundResult, UntilOptions, UntilResult, tune_until

__all__ = [
    "GraderReward",
    "GraderSignal",
    "NoSignalError",
    "PreflightReport",
    "RoundResult",
    "TooManyUnscoredError",
    "TuneConfig",
    "TuneResult",
    "UntilOptions",
    "UntilResult",
    "preflight",
    "reward_functions",
    "tune",
    "tune_until",
]
