"""`rft.tune_until`: tune in rounds; keep a round only when the target improved significantly and
every guard is non-inferior; when a guard regresses, repair it before giving up.

The loop is :class:`TuneUntil`, one method per phase, its state a :class:`UntilState`::

    preflight  is there reward signal in the training data? (rft.preflight; before any evaluation)
    baseline   evaluate the target and every guard on the starting model; power check per suite:
               the smallest change each suite can resolve (warn, or refuse, when a guard's
               tolerance is below it)
    per round:
      train     GRPO steps from the best model so far, with the remedies in force
      evaluate  target and guards again, with the same graders and generation settings
      decide    keep if the target is *superior* to the best model so far (the paired confidence
                interval of the change lies above 0) and every guard is *non-inferior* to the
                baseline (the interval's lower end lies above -tolerance); else roll back and
                plan the next attempt: a remedy when the target improved but a guard fell
                (replay, then anchor), a lower learning rate otherwise
    finish     the best model as best/, the report (json, md, html, png) and a verdict

Both gates read one paired, metric-aware comparison (:func:`rft.eval.compare`): the numbers the
decision used are the numbers the report shows.

Remedies, in order, while the rounds last:

- **replay**: the next attempt trains on the target's rows plus the failing guard's prompts
  (its ``replay_data``, else its own rows), the guard's graders rewarding only those rows
  (:mod:`rft.tuning._routing`); each grader keeps its ``rewards/<name>/mean`` in TRL's logs;
- **anchor**: a KL penalty (``beta``) towards the model the round starts from, and a lower
  learning rate; a second anchor lowers the learning rate again.

``replay_from_start`` rehearses guards from round 1 (rows mixed in the same way), for a user who
knows a skill is fragile and would rather not spend a round finding out.

Every finished phase is recorded in ``OUTPUT/state.json``, written atomically; model folders
appear only when complete. Calling ``tune_until`` again with the same ``output_dir`` resumes after
the last finished phase, so a run killed at any point (even with SIGKILL) redoes no finished
work; evaluations stream their grades to disk, so a half-finished one resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import random
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rft._data import load_rows
from rft._errors import ConfigError, DataError
from rft.eval._store import atomic_dir, atomic_write_text
from rft.models import default_model_dir, is_default_model_name, load_model
from rft.tuning._config import TuneConfig
from rft.tuning._plan import check_power
from rft.tuning._preflight import preflight as signal_check
from rft.tuning._report import write_report
from rft.tuning._rewards import reward_functions, reward_weights
from rft.tuning._routing import route_rewards, routed_rows
from rft.tuning._suites import TuneSuite, as_tune_suite, gate_comparison
from rft.tuning._tune import tune

__all__ = ["RoundResult", "TuneUntil", "UntilOptions", "UntilResult", "UntilState", "tune_until"]

_STATE = "state.json"
_STATE_FORMAT = "rft.tune_until/2"
_KEEP_IF = ("ci", "delta")
_GUARD_RULES = ("noninferior", "lenient")
_ON_REJECT = ("lower_lr", "stop", "continue")
_REMEDIES = ("replay", "anchor")
_POWER_MODES = ("warn", "refuse", "off")


@dataclasses.dataclass
class UntilOptions:
    """How :func:`tune_until` decides and repairs (everything but the model, data and suites)."""

    rounds: int = dataclasses.field(default=3, metadata={"help": "Most training rounds."})
    steps_per_round: int = dataclasses.field(default=10, metadata={"help": "GRPO steps per round."})
    keep_if: str = dataclasses.field(
        default="ci", metadata={"help": "Target gate: 'ci' (paired CI above 0, and delta > min_delta) or 'delta'."}
    )
    min_delta: float = dataclasses.field(default=0.0, metadata={"help": "Smallest target gain that counts."})
    guard_rule: str = dataclasses.field(
        default="noninferior",
        metadata={
            "help": "Guard gate: 'noninferior' (CI lower end above -tolerance) or 'lenient' (point estimate only)."
        },
    )
    level: float = dataclasses.field(default=0.95, metadata={"help": "Confidence level of both gates."})
    on_reject: str = dataclasses.field(
        default="lower_lr",
        metadata={"help": "After a round that did not improve the target: lower_lr, stop or continue."},
    )
    lr_factor: float = dataclasses.field(default=0.5, metadata={"help": "Learning-rate factor of lower_lr and anchor."})
    max_rejects: int = dataclasses.field(default=3, metadata={"help": "Consecutive rejected rounds that end the loop."})
    remedies: tuple[str, ...] = dataclasses.field(
        default=_REMEDIES, metadata={"help": "Repairs of a guard regression, in order: replay, anchor."}
    )
    replay_share: float = dataclasses.field(default=0.3, metadata={"help": "Share of replayed guard rows in training."})
    replay_from_start: bool | tuple[str, ...] = dataclasses.field(
        default=False,
        metadata={
            "help": "Rehearse from round 1: mix guards' replay rows into every round, not only after a regression "
            "(True: every guard with replay_data; or a list of guard names)."
        },
    )
    anchor_beta: float = dataclasses.field(default=0.04, metadata={"help": "KL penalty (beta) of the anchor remedy."})
    power_check: str = dataclasses.field(
        default="warn",
        metadata={"help": "When a guard cannot resolve its tolerance: warn, refuse (ConfigError) or off."},
    )
    power: float = dataclasses.field(default=0.8, metadata={"help": "Power the power check plans for."})
    keep_rejected: bool = dataclasses.field(default=False, metadata={"help": "Keep the weights of rejected rounds."})
    time_budget_s: float | None = dataclasses.field(
        default=None, metadata={"help": "Start no round that would end past this many seconds."}
    )
    progress: bool = dataclasses.field(default=True, metadata={"help": "Print what happens."})

    def __post_init__(self) -> None:
        for name, allowed in (
            ("keep_if", _KEEP_IF),
            ("guard_rule", _GUARD_RULES),
            ("on_reject", _ON_REJECT),
            ("power_check", _POWER_MODES),
        ):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"unknown {name} {getattr(self, name)!r}; use one of: {', '.join(allowed)}", name)
        for name in ("rounds", "steps_per_round", "max_rejects"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"expected a positive integer, got {value!r}", name)
        if not 0 < self.lr_factor <= 1:
            raise ConfigError(f"expected 0 < lr_factor <= 1, got {self.lr_factor!r}", "lr_factor")
        if not 0.5 <= self.level < 1 or not 0 < self.power < 1:
            raise ConfigError(
                f"expected 0.5 <= level < 1 and 0 < power < 1, got {self.level!r}, {self.power!r}", "level"
            )
        self.remedies = tuple(self.remedies or ())
        bad = [r for r in self.remedies if r not in _REMEDIES]
        if bad:
            raise ConfigError(f"unknown remedies {bad}; use any of: {', '.join(_REMEDIES)}", "remedies")
        if not 0 < self.replay_share < 1:
            raise ConfigError(f"expected 0 < replay_share < 1, got {self.replay_share!r}", "replay_share")
        if self.replay_from_start is None:  # `replay_from_start:` left empty in a YAML config
            self.replay_from_start = False
        if not isinstance(self.replay_from_start, bool):
            names = self.replay_from_start
            if isinstance(names, str) or not all(isinstance(n, str) for n in names or ()):
                raise ConfigError(
                    f"expected True, False or a list of guard names, got {names!r}", "replay_from_start"
                )
            self.replay_from_start = tuple(names)
        if not self.anchor_beta > 0:
            raise ConfigError(f"expected anchor_beta > 0, got {self.anchor_beta!r}", "anchor_beta")


@dataclasses.dataclass
class UntilState:
    """Everything a resumed run needs, written to ``state.json`` after every finished phase."""

    fingerprint: dict[str, Any]
    format: str = _STATE_FORMAT
    start_model: str | None = None
    best_dir: str | None = None
    best_round: int = 0
    lr: float = 0.0
    beta: float = 0.0
    replay: list[str] = dataclasses.field(default_factory=list)
    rejects: int = 0
    preflight: dict[str, Any] | None = None
    baseline: dict[str, Any] | None = None
    power: list[dict[str, Any]] | None = None
    pending: dict[str, Any] | None = None
    rounds: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    remedies: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    stopped: str | None = None
    verdict: str | None = None

    @classmethod
    def read(cls, path: Path) -> UntilState:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != _STATE_FORMAT:
            raise ConfigError(
                f"{path} was written by another version of tune_until ({data.get('format')!r}); "
                "pass another output_dir or resume=False",
                "output_dir",
            )
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def write(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(dataclasses.asdict(self), indent=1, default=_jsonable))


@dataclasses.dataclass
class RoundResult:
    """One round: what it trained with, its scores, each gate's comparison, the verdict."""

    round: int
    lr: float
    steps: int
    kept: bool
    reason: str
    target: dict[str, Any]
    guards: dict[str, dict[str, Any]]
    rewards: dict[str, list[list[float]]] = dataclasses.field(default_factory=dict)
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    beta: float = 0.0
    remedy: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class UntilResult:
    """What :func:`rft.tune_until` returns; ``report`` is the dict behind the tuning report files."""

    best_model_dir: str
    best_round: int
    baseline: dict[str, Any]
    final: dict[str, Any]
    rounds: list[RoundResult]
    stopped: str
    report: dict[str, Any]
    files: dict[str, str]
    verdict: str = ""

    @property
    def target_delta(self) -> float | None:
        """The target's change from the baseline to the best model (the paired comparison's delta)."""
        return self.report["summary"]["target"]["delta"]

    def load_model(self) -> tuple[Any, Any]:
        """``(model, tokenizer)`` of the best model."""
        return load_model(self.best_model_dir)


# ------------------------------------------------------------------------------------------------
# The loop


class TuneUntil:
    """The phases of :func:`tune_until`; :meth:`run` calls them in order and resumes a stopped run."""

    def __init__(
        self,
        model: Any,
        train_data: Any,
        target: Any,
        guards: Sequence[Any],
        *,
        graders: Any,
        weights: Any,
        config: Any,
        options: UntilOptions,
        output_dir: str | os.PathLike[str],
        resume: bool,
        tokenizer: Any = None,
    ):
        self.started = time.perf_counter()
        self.options = options
        self.config = TuneConfig.from_dict(config) if isinstance(config, Mapping) else (config or TuneConfig())
        self.target = as_tune_suite(target, "target")
        self.guards = [as_tune_suite(g, f"guard{i + 1}") for i, g in enumerate(guards)]
        names = [self.target.name, *[g.name for g in self.guards]]
        if len(set(names)) != len(names) or "target" in names[1:]:
            raise ConfigError(
                f"suite names must be unique (and no guard may be called 'target'), got {names}", "guards"
            )
        self.train_graders = graders if graders is not None else self.target.graders
        self.weights = weights
        self.train_rows = load_rows(train_data)
        if not self.train_rows:
            raise DataError("the training data has no rows")
        self.model_spec = model if tokenizer is None else (model, tokenizer)
        self.out = Path(output_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.current: tuple[Any, Any] | None = None  # the best model in memory, when loaded
        self.trained: tuple[Any, Any] | None = None  # the model the last train() produced
        self.rehearsed = self._rehearsed()  # guards replayed from round 1 (checked against the guards)
        self.state = self._open_state(resume)
        self._audited: set[str] = set()  # reward graders audited by a round's rft.tune in this process

    # --- state ------------------------------------------------------------------------------

    def _fingerprint(self) -> dict[str, Any]:
        cfg = {k: v for k, v in self.config.to_dict().items() if k not in ("output_dir", "preflight", "save_model")}
        o = self.options
        return {
            "target": self.target.fingerprint(),
            "guards": [g.fingerprint() for g in self.guards],
            "train": _digest(self.train_rows),
            "steps_per_round": o.steps_per_round,
            "keep_if": o.keep_if,
            "min_delta": o.min_delta,
            "guard_rule": o.guard_rule,
            "tolerances": [g.tolerance for g in self.guards],
            "level": o.level,
            "config": cfg,
            # Only when set, so that runs started before the option existed still resume.
            **({"replay_from_start": self.rehearsed} if o.replay_from_start else {}),
        }

    def _open_state(self, resume: bool) -> UntilState:
        path = self.out / _STATE
        fingerprint = json.loads(json.dumps(self._fingerprint(), default=repr))
        if resume and path.is_file():
            state = UntilState.read(path)
            if state.fingerprint != fingerprint:
                raise ConfigError(
                    f"{self.out} holds a run with other suites or settings; pass another output_dir or resume=False",
                    "output_dir",
                )
            self.say(f"resuming {self.out}: {len(state.rounds)} round(s) finished")
            return state
        if path.is_file():
            for child in ("rounds", "baseline", "best"):
                shutil.rmtree(self.out / child, ignore_errors=True)
        return UntilState(
            fingerprint=fingerprint, lr=self.config.learning_rate, beta=self.config.beta, replay=list(self.rehearsed)
        )

    def _rehearsed(self) -> list[str]:
        """The guards ``replay_from_start`` names, checked against the guards."""
        wanted = self.options.replay_from_start
        names = [g.name for g in self.guards]
        if wanted is True:
            picked = [g.name for g in self.guards if g.replay_data is not None]
            if not picked:
                raise ConfigError(
                    "replay_from_start=True rehearses the guards that have replay_data (rows of the guard's skill "
                    f"that are not its evaluation items), and none of {names} has any; add gate.replay_data to a "
                    "guard, or name guards to rehearse their own rows (their results are then no longer held out)",
                    "replay_from_start",
                )
            return picked
        if not wanted:
            return []
        unknown = [n for n in wanted if n not in names]
        if unknown:
            raise ConfigError(f"no guard is called {unknown[0]!r}; the guards are {names}", "replay_from_start")
        return list(dict.fromkeys(wanted))

    def save(self) -> None:
        self.state.write(self.out / _STATE)

    def say(self, text: str) -> None:
        if self.options.progress:
            print(f"[tune_until] {text}", flush=True)

    # --- models -----------------------------------------------------------------------------

    def _baseline_scores(self) -> dict[str, Any]:
        """The baseline phase's scores (that phase runs before any round and before finish)."""
        if self.state.baseline is None:
            raise RuntimeError("tune_until: the baseline phase has not run yet")
        return self.state.baseline

    def _best_pair(self) -> tuple[Any, Any]:
        if self.current is None:
            self.current = load_model(self.state.best_dir)
        return self.current

    def start(self) -> None:
        """Give the starting model a folder, so a rollback or a restart can reload it."""
        s = self.state
        if s.start_model is not None:
            return
        spec = self.model_spec
        if isinstance(spec, (str, os.PathLike)):
            s.start_model = str(default_model_dir() if is_default_model_name(spec) else Path(spec))
        else:
            self.current = load_model(spec)
            s.start_model = str(_save_model(*self.current, self.out / "baseline" / "model"))
        s.best_dir = s.start_model
        self.save()

    # --- phases -----------------------------------------------------------------------------

    def preflight(self) -> None:
        """The signal check on the training data, before anything slow (``config.preflight=False`` skips it)."""
        s = self.state
        if s.preflight is not None or not self.config.preflight:
            return
        report = signal_check(self._best_pair(), self.train_rows, self.train_graders, self.config, weights=self.weights)
        self.say(str(report))
        report.raise_if_no_signal()
        s.preflight = report.to_dict()
        self.save()

    def baseline(self) -> None:
        """Evaluate the starting model on every suite, then check each suite's power."""
        s = self.state
        if s.baseline is None:
            self.say("baseline: evaluating target and guards")
            s.baseline = self._evaluate_all(self._best_pair(), self.out / "baseline")
            self.save()
        if s.power is None:
            checks = check_power(self.target, self.guards, s.baseline, self.options)
            for c in checks:
                self.say(c["advice"])
            s.power = checks
            self.save()
        weak = [c for c in s.power if c["role"] == "guard" and not c["ok"]]
        if weak and self.options.power_check == "refuse":
            raise ConfigError(
                "a guard cannot resolve its tolerance, so its non-inferiority gate would reject good rounds by "
                "chance:\n" + "\n".join(f"- {c['advice']}" for c in weak) + "\n(power_check='warn' trains anyway)",
                "power_check",
            )

    def train(self, r: int) -> None:
        """Train round ``r`` from the best model with the remedies in force; record it as pending."""
        s = self.state
        if s.pending is not None and s.pending["round"] == r:
            return
        rdir = self.out / "rounds" / f"round_{r:03d}"
        rows, rewards, weights, remedy = self._training_set(r)
        self.say(
            f"round {r}: training {self.options.steps_per_round} steps at lr {s.lr:.3g}"
            + (f", beta {s.beta:g}" if s.beta else "")
            + (f" ({'; '.join(remedy)})" if remedy else "")
        )
        changes: dict[str, Any] = {
            "max_steps": self.options.steps_per_round,
            "learning_rate": s.lr,
            "beta": s.beta,
            "seed": self.config.seed + r,
            "output_dir": str(rdir / "train"),
            "preflight": False,
            "save_model": False,  # the round's model is saved below, atomically
        }
        # Audit a reward grader once: the pre-flight audited the training graders; a replay's guard
        # graders are audited by the first round that trains with them, not again every round.
        preflight_audits = (s.preflight or {}).get("audits", [])
        audited = self._audited | {a["grader"] for a in preflight_audits}
        inner = [getattr(rw, "grader", rw) for rw in rewards]  # run rewards, graders or plain functions
        graders = {str(getattr(g, "name", getattr(g, "__name__", g))) for g in inner}
        if graders <= audited:
            changes["audit"] = False
        t0 = time.perf_counter()
        result = tune(
            self._best_pair(),
            rows,
            rewards,
            self.config.replace(**changes),
            weights=weights,
            progress=self.options.progress,
        )
        self._audited |= graders
        seconds = time.perf_counter() - t0
        model = result.model
        if hasattr(model, "merge_and_unload"):  # LoRA: fold this round's adapter in; the next round adds its own
            model = model.merge_and_unload()
        model_dir = _save_model(model, result.tokenizer, rdir / "model")
        self.current = None  # training changed the weights in memory; the best model is on disk
        self.trained = (model, result.tokenizer)
        s.pending = {
            "round": r,
            "model_dir": str(model_dir),
            "rewards": {k: [list(p) for p in v] for k, v in result.reward_curves().items()},
            "train_seconds": seconds,
            "steps": result.steps,
            "lr": s.lr,
            "beta": s.beta,
            "remedy": remedy,
        }
        self.save()

    def evaluate(self, r: int) -> tuple[dict[str, Any], float]:
        """Evaluate the model of round ``r`` on every suite (resumes a half-finished evaluation)."""
        pending = self.state.pending
        assert pending is not None and pending["round"] == r
        if self.trained is None:
            self.trained = load_model(pending["model_dir"])
        self.say(f"round {r}: evaluating")
        t0 = time.perf_counter()
        scores = self._evaluate_all(self.trained, self.out / "rounds" / f"round_{r:03d}")
        return scores, time.perf_counter() - t0

    def decide(self, r: int, scores: dict[str, Any], eval_seconds: float) -> dict[str, Any]:
        """Apply both gates, record the round, keep or roll back, plan the next attempt."""
        s = self.state
        pending = s.pending or {}
        target, guards, target_ok, failing = self._gates(scores)
        kept = target_ok and not failing
        reason = target["describe"] + ("" if not guards else "; " + "; ".join(g["describe"] for g in guards.values()))
        record = RoundResult(
            round=r,
            lr=pending["lr"],
            steps=pending["steps"],
            kept=kept,
            reason=("kept: " if kept else "rolled back: ") + reason,
            target=target,
            guards=guards,
            rewards=pending["rewards"],
            train_seconds=pending["train_seconds"],
            eval_seconds=eval_seconds,
            beta=pending["beta"],
            remedy=pending["remedy"],
        ).to_dict()
        record.update(scores=scores, model_dir=pending["model_dir"], target_ok=target_ok, failing=failing)
        self.say(f"round {r}: {'KEPT' if kept else 'rolled back'}: {reason}")
        s.rounds.append(record)
        s.pending = None
        trained, self.trained = self.trained, None
        doomed = None
        if kept:
            doomed = s.best_dir if s.best_dir != s.start_model else None
            s.best_dir, s.best_round, s.rejects = pending["model_dir"], r, 0
            self.current = trained
            threshold = self.target.threshold
            if (
                threshold is not None
                and scores["target"]["score"] is not None
                and scores["target"]["score"] >= threshold
            ):
                s.stopped = f"target threshold {threshold:g} reached"
        else:
            doomed = pending["model_dir"]
            self._plan_next(r, target_ok, failing)
        self.save()
        if doomed and not self.options.keep_rejected:
            shutil.rmtree(doomed, ignore_errors=True)
        return record

    def finish(self) -> UntilResult:
        """The best model under ``best/``, the verdict and the report."""
        s = self.state
        baseline = self._baseline_scores()
        best_dir = s.best_dir
        if best_dir is None:
            raise RuntimeError("tune_until: finish() before start() gave the starting model a folder")
        if s.stopped is None:
            s.stopped = f"{len(s.rounds)} rounds done"
        best = self.out / "best"
        marker = best / "rft_source.txt"
        if not (marker.is_file() and marker.read_text().strip() == best_dir):
            _save_model(*self._best_pair(), best)
            (best / "rft_source.txt").write_text(best_dir + "\n")
        report, files = write_report(s, self.target, self.guards, self.options, self.out)  # sets s.verdict
        self.save()
        self.say(f"done ({s.stopped}): {s.verdict}")
        self.say(f"report: {files.get('markdown')}")
        final = s.rounds[s.best_round - 1]["scores"] if s.best_round else baseline
        return UntilResult(
            best_model_dir=str(best),
            best_round=s.best_round,
            baseline=baseline,
            final=final,
            rounds=[_round_result(rec) for rec in s.rounds],
            stopped=s.stopped,
            report=report,
            files=files,
            verdict=s.verdict or "",
        )

    def run(self) -> UntilResult:
        """Every phase in order, skipping those ``state.json`` says are done."""
        self.start()
        self.preflight()
        self.baseline()
        s = self.state
        best = (
            s.rounds[s.best_round - 1]["scores"]["target"]["score"]
            if s.best_round
            else self._baseline_scores()["target"]["score"]
        )
        if (
            s.stopped is None
            and self.target.threshold is not None
            and best is not None
            and best >= self.target.threshold
        ):
            s.stopped = "target threshold already met"
            self.save()
        last_round_s = 0.0
        while s.stopped is None and len(s.rounds) < self.options.rounds:
            r = len(s.rounds) + 1
            budget = self.options.time_budget_s
            if budget is not None and time.perf_counter() - self.started + last_round_s > budget:
                s.stopped = f"time budget of {budget:.0f}s would be exceeded by round {r}"
                self.save()
                break
            t0 = time.perf_counter()
            self.train(r)
            scores, eval_seconds = self.evaluate(r)
            self.decide(r, scores, eval_seconds)
            last_round_s = time.perf_counter() - t0
        return self.finish()

    # --- helpers of the phases --------------------------------------------------------------

    def _evaluate_all(self, pair: tuple[Any, Any], folder: Path) -> dict[str, Any]:
        progress = self.options.progress
        rep = self.target.evaluate(pair, folder / "target", progress=progress)
        scores = {"target": _suite_scores(self.target, rep, folder / "target"), "guards": {}}
        for g in self.guards:
            grep = g.evaluate(pair, folder / f"guard_{g.name}", progress=progress)
            scores["guards"][g.name] = _suite_scores(g, grep, folder / f"guard_{g.name}")
        return scores

    def _gates(self, scores: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], bool, list[str]]:
        s = self.state
        baseline = self._baseline_scores()
        best = s.rounds[s.best_round - 1]["scores"] if s.best_round else baseline
        return judge_round(self.target, self.guards, best, baseline, scores, self.options)

    def _plan_next(self, r: int, target_ok: bool, failing: list[str]) -> None:
        """After a rejected round: a remedy if the target improved but a guard fell, else on_reject."""
        s, o = self.state, self.options
        s.rejects += 1
        tried = {rem["kind"] for rem in s.remedies}
        remedy = self._remedy(failing) if target_ok and failing else None
        if remedy is not None:
            s.remedies.append({"after_round": r, **remedy})
            self.say(f"remedy for round {r + 1}: {remedy['text']}")
            if remedy["kind"] not in tried or remedy["kind"] == "replay":
                s.rejects -= 1  # a new remedy deserves its round: only repeats count towards max_rejects
        elif o.on_reject == "stop":
            s.stopped = "round rejected and on_reject='stop'"
        elif o.on_reject == "lower_lr":
            s.lr *= o.lr_factor
        if s.stopped is None and s.rejects >= o.max_rejects:
            s.stopped = f"{s.rejects} rejected rounds in a row (max_rejects={o.max_rejects})"

    def _remedy(self, failing: list[str]) -> dict[str, Any] | None:
        s, o = self.state, self.options
        new = [g for g in failing if g not in s.replay]
        if "replay" in o.remedies and new:
            s.replay.extend(new)
            return {
                "kind": "replay",
                "guards": new,
                "text": f"replay {', '.join(new)}: train on the target rows plus the guard's prompts, "
                "its graders rewarding those rows only",
            }
        if "anchor" in o.remedies:
            s.lr *= o.lr_factor
            if s.beta < o.anchor_beta:
                s.beta = o.anchor_beta
                text = f"anchor: KL penalty beta {s.beta:g} towards the round's starting model, lr {s.lr:.3g}"
            else:
                text = f"anchor: lr lowered to {s.lr:.3g} (beta {s.beta:g})"
            return {"kind": "anchor", "guards": failing, "beta": s.beta, "lr": s.lr, "text": text}
        return None

    def _training_set(self, r: int) -> tuple[list[dict[str, Any]], list[Any], Any, list[str]]:
        """Rows, rewards and weights of round ``r``: the target's alone, or mixed with replayed guards."""
        s = self.state
        if not s.replay:
            return self.train_rows, self.train_graders, self.weights, []
        replayed = [g for g in self.guards if g.name in s.replay]
        graders = list(self.train_graders) if isinstance(self.train_graders, (list, tuple)) else [self.train_graders]
        built = reward_functions(
            [*graders, *[gr for g in replayed for gr in g.rewards]],
            max_unscored_frac=self.config.max_unscored_frac,
            log_reasons=self.config.log_completions,
        )
        own = built[: len(graders)]
        weights = reward_weights(own, self.weights) or [1.0] * len(own)
        rewards = route_rewards(own, ["target"])
        parts: dict[str, list[dict[str, Any]]] = {"target": self.train_rows}
        remedy = []
        n_replay = max(1, round(len(self.train_rows) * self.options.replay_share / (1 - self.options.replay_share)))
        start = len(own)
        for g in replayed:
            mine = built[start : start + len(g.rewards)]
            start += len(g.rewards)
            rewards += route_rewards(mine, [g.name])
            weights += [1.0] * len(mine)
            rows, own_rows = g.replay_rows()
            picked = random.Random(self.config.seed + r).sample(rows, min(len(rows), max(1, n_replay // len(replayed))))
            parts[g.name] = picked
            where = (
                "its own evaluation prompts: that guard's result is no longer held out"
                if own_rows
                else "its replay data"
            )
            since = " (from round 1)" if g.name in self.rehearsed else ""
            remedy.append(
                f"replay {g.name}{since}: {len(picked)} rows from {where}, rewarded by "
                + ", ".join(x.name for x in mine)
            )
        if s.beta:
            remedy.append(f"anchor: beta {s.beta:g}")
        return routed_rows(parts), rewards, weights, remedy


def tune_until(
    model: Any,
    train_data: Any,
    target: Any,
    guards: Sequence[Any] = (),
    *,
    graders: Any = None,
    weights: Any = None,
    config: Any = None,
    output_dir: str | os.PathLike[str] = "rft-tune-until",
    resume: bool = True,
    tokenizer: Any = None,
    **options: Any,
) -> UntilResult:
    """Tune in rounds; keep a round only when ``target`` improved significantly and every guard
    is non-inferior; repair a guard regression (replay, anchor) before giving up.

    - ``target``/``guards``: an :class:`rft.eval.Suite` (its ``gate`` block names the deciding
      grader, metric, guard ``tolerance``, target ``threshold`` and optional ``replay_data``), a
      suite file path, or a dict in the suite format.
    - ``graders``: what training rewards (default: the target suite's graders); ``weights`` as
      for :func:`rft.tune`; ``config``: a :class:`~rft.TuneConfig` (``config.preflight=False``
      skips the signal check).
    - ``options``: the fields of :class:`UntilOptions`: ``rounds``, ``steps_per_round``,
      ``keep_if`` (``"ci"``: the paired CI of the target's change lies above 0; ``"delta"``),
      ``min_delta``, ``guard_rule`` (``"noninferior"``; ``"lenient"`` compares the point estimate
      only), ``level``, ``on_reject``, ``lr_factor``, ``max_rejects``, ``remedies``,
      ``replay_share``, ``replay_from_start``, ``anchor_beta``, ``power_check`` (``"warn"``, ``"refuse"``, ``"off"``),
      ``power``, ``keep_rejected``, ``time_budget_s``, ``progress``.
    - ``output_dir``: the best model (``best/``), per-round models and evaluations, ``state.json``
      and the report (``report.json``, ``report.md``, ``report.html``, ``report.png``). With
      ``resume=True`` a run found there continues after its last finished phase.

    The returned :class:`UntilResult` names the best model folder, holds the report and a verdict.
    """
    known = {f.name for f in dataclasses.fields(UntilOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(f"unknown tune_until options {unknown}; known: {sorted(known)}", unknown[0])
    loop = TuneUntil(
        model,
        train_data,
        target,
        guards,
        graders=graders,
        weights=weights,
        config=config,
        options=UntilOptions(**options),
        output_dir=output_dir,
        resume=resume,
        tokenizer=tokenizer,
    )
    return loop.run()


def judge_round(
    target: TuneSuite,
    guards: Sequence[TuneSuite],
    best: Mapping[str, Any],
    baseline: Mapping[str, Any],
    scores: Mapping[str, Any],
    options: UntilOptions,
) -> tuple[dict[str, Any], dict[str, Any], bool, list[str]]:
    """Both gates of a round: the target against the best model so far, each guard against the
    baseline, on each suite's metric. Returns (target record, guard records, target ok, failing guards).

    ``best``/``baseline``/``scores`` map ``"target"`` and ``"guards"`` to scores that name a saved
    report (``"report"``) and the suite's metric value (``"score"``).
    """
    d = gate_comparison(target, best["target"], scores["target"], options.level)
    if options.keep_if == "ci":
        target_ok = d.superior() and d.delta > options.min_delta
        describe = "target " + d.describe("superior")
        if d.superior() and not target_ok:
            describe += f" (below min_delta {options.min_delta:g})"
    else:
        target_ok = d.delta is not None and d.delta > 0 and d.delta >= options.min_delta - 1e-12
        describe = (
            f"target {d.describe()} ({'holds' if target_ok else 'fails'}: delta rule, min_delta {options.min_delta:g})"
        )
    target_rec = {
        **_public(scores["target"]),
        "vs_best": _delta_dict(d),
        "rule": "superior" if options.keep_if == "ci" else "delta",
        "holds": target_ok,
        "describe": describe,
    }
    guard_recs: dict[str, Any] = {}
    failing = []
    for g in guards:
        gd = gate_comparison(g, baseline["guards"][g.name], scores["guards"][g.name], options.level)
        holds = baseline["guards"][g.name]["score"] is None or gd.holds(options.guard_rule, g.tolerance)
        if not holds:
            failing.append(g.name)
        guard_recs[g.name] = {
            **_public(scores["guards"][g.name]),
            "vs_baseline": _delta_dict(gd),
            "rule": options.guard_rule,
            "tolerance": g.tolerance,
            "holds": holds,
            "describe": f"guard {g.name}: " + gd.describe(options.guard_rule, g.tolerance),
        }
    return target_rec, guard_recs, target_ok, failing


# ------------------------------------------------------------------------------------------------
# Small helpers


def _save_model(model: Any, tokenizer: Any, target: Path) -> Path:
    """Save atomically: a half-written folder never carries the final name."""
    with atomic_dir(target) as tmp:  # umask-respecting modes, unlike tempfile.mkdtemp's 0700
        if hasattr(model, "merge_and_unload"):
            model = model.merge_and_unload()
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return target


def _suite_scores(suite: TuneSuite, report: Any, folder: Path) -> dict[str, Any]:
    """The deciding grader's metric with its interval, and where the report lies."""
    stats = report[suite.grader]
    if suite.metric == "pass_rate":
        score, low, high = stats.pass_rate, stats.pass_rate_ci_low, stats.pass_rate_ci_high
    else:
        score, low, high = stats.mean, stats.ci_low, stats.ci_high
    return {
        "report": str(folder / "report.json"),
        "suite": suite.name,
        "grader": suite.grader,
        "metric": suite.metric,
        "score": score,
        "ci_low": low,
        "ci_high": high,
        "n": stats.n,
        "unscored": stats.unscored_count,
        "graders": {name: {"mean": report[name].mean, "pass_rate": report[name].pass_rate} for name in report.graders},
    }


def _delta_dict(d: Any) -> dict[str, Any]:
    keys = (
        "grader",
        "metric",
        "n_paired",
        "before",
        "after",
        "delta",
        "ci_low",
        "ci_high",
        "sd_diff",
        "verdict",
        "method",
        "level",
        "unpaired",
    )
    out = {k: getattr(d, k, None) for k in keys}
    out.update(n_fixed=len(d.fixed), n_broken=len(d.broken))
    return out


def _public(scores: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in scores.items() if k != "graders"}


def _round_result(rec: Mapping[str, Any]) -> RoundResult:
    return RoundResult(**{k: v for k, v in rec.items() if k in {f.name for f in dataclasses.fields(RoundResult)}})


def _digest(rows: Any) -> str:
    return hashlib.sha256(json.dumps(rows, sort_keys=True, default=repr).encode()).hexdigest()[:16]


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"cannot write {type(value).__name__} to state.json")
