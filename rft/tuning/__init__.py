"""Tuning with the same graders: GRPO via TRL, a signal pre-flight, and the keep-or-roll-back loop.

Import from :mod:`rft` directly (``rft.tune``, ``rft.TuneConfig``, ``rft.preflight``,
``rft.tune_until``); this package holds the modules. Heavy libraries (torch, transformers, trl)
load when a function runs, not on import.

``rft.tune`` names both this package and the function; the package is callable and forwards to
:func:`rft.tuning._tune.tune`, so ``rft.tune(model, data, graders)`` works whichever one Python's
import system left in ``rft``'s namespace.
"""

import sys as _sys
import types as _types
from typing import Any as _Any

from rft.tuning._config import TuneConfig
from rft.tuning._preflight import GraderSignal, NoSignalError, PreflightReport, preflight
from rft.tuning._rewards import GraderReward, TooManyUnscoredError, reward_functions
from rft.tuning._tune import TuneResult, tune
from rft.tuning._until import GateSuite, RoundResult, UntilResult, tune_until

__all__ = [
    "GateSuite",
    "GraderReward",
    "GraderSignal",
    "NoSignalError",
    "PreflightReport",
    "RoundResult",
    "TooManyUnscoredError",
    "TuneConfig",
    "TuneResult",
    "UntilResult",
    "preflight",
    "reward_functions",
    "tune",
    "tune_until",
]

