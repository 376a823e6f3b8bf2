"""Tuning with the same graders: GRPO via TRL, a signal pre-flight, and the keep-or-roll-back loop.

Import from :mod:`rft` directly (``rft.tune``, ``rft.TuneConfig``, ``rft.preflight``,
``rft.tune_until``); this package holds the modules. Heavy libraries (torch, transformers, trl)
load when a function runs, not on import.
"""

from rft.tune._config import TuneConfig
from rft.tune._preflight import GraderSignal, NoSignalError, PreflightReport, preflight
from rft.tune._rewards import GraderReward, TooManyUnscoredError, reward_functions
from rft.tune._tune import TuneResult, tune

__all__ = [
    "GraderReward",
    "GraderSignal",
    "NoSignalError",
    "PreflightReport",
    "TooManyUnscoredError",
    "TuneConfig",
    "TuneResult",
    "preflight",
    "reward_functions",
    "tune",
]
