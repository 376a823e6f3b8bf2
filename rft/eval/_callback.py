"""`EvalCallback`: run rft suites on the model a ``transformers.Trainer`` is training.

Add one line to an existing TRL or transformers script::

    trainer = GRPOTrainer(..., callbacks=[rft.EvalCallback(["suites/math.yaml"], every_n_steps=10)])

At the chosen steps the callback evaluates every suite on the trainer's live model and tokenizer
(no reload, no copy of the weights) with :meth:`rft.eval.Suite.run`, that is with
:func:`rft.evaluate`: the graders, statistics and report are the ones ``rft test`` uses. Around
the evaluation the model goes into eval mode and back (each submodule's own mode is restored) and
the Python, NumPy, torch and CUDA random states are saved and restored, so a training run with
the callback follows the same trajectory as one without it. The optimizer is not touched.

What one evaluation at step ``N`` leaves:

- metrics in ``trainer.state.log_history`` and in every reporting integration enabled with
  ``report_to`` (TensorBoard, W&B, trackio, ...), sent through the trainer's own callback handler
  as ``Trainer.log`` does: ``rft/<suite>/<grader>/mean``, ``.../pass_rate``, ``.../unscored_frac``
  (unscored samples are never counted as 0), ``rft/<suite>/eval_seconds``, ``rft/eval_seconds``;
  for suites that decide (guards, the early-stop target): ``.../delta``, ``.../delta_ci_low``,
  ``.../delta_ci_high`` against the evaluation at the start, and ``.../holds`` (1 or 0);
- the full report (every output and grade) in ``<output_dir>/rft-eval/<suite>/step-<N>/report.json``,
  so ``rft.compare(".../step-0", ".../step-20")`` works between any two evaluations;
- one line in ``<output_dir>/rft-eval/evaluations.jsonl`` with the metrics and the decisions.

Decisions, with the paired comparison :func:`rft.tune_until` uses (:func:`rft.eval.compare` on
the deciding grader and metric, against the evaluation at the start of training):

- ``guards``: training stops when a guard is no longer *non-inferior*: the lower end of the
  paired confidence interval of its change lies below ``-tolerance`` (or, with too few items to
  decide, cannot be shown above it). ``guard_rule="lenient"`` compares the point estimate only.
  A guard whose tolerance is below what its size can resolve gets a warning at the start
  (:func:`rft.eval.power_check`);
- ``early_stop_at``: training stops when the target's metric reaches the threshold and its
  change since the start is *superior* (the paired interval lies above 0), so one lucky
  evaluation does not end training;
- ``best_metric``: the best evaluation so far is saved as a checkpoint and recorded as the
  trainer's best (``state.best_metric``, ``best_global_step``, ``best_model_checkpoint``), so
  ``load_best_model_at_end=True`` loads it and ``save_total_limit`` keeps it. The training
  arguments can say it instead: ``save_strategy="best"``,
  ``metric_for_best_model="rft/<suite>/<grader>/<metric>"``, ``load_best_model_at_end=True``
  (transformers accepts ``load_best_model_at_end`` with ``save_strategy`` ``"best"``, or ``"no"``
  with ``eval_strategy="no"``). The best must beat the evaluation at the start to be marked. The
  trainer's own evaluation (``eval_strategy``) cannot also choose the best: the two would
  overwrite each other, so that combination is refused.

Several processes (``torchrun``, ``accelerate launch``): rank 0 evaluates while the other ranks
wait in a broadcast that then hands them the metrics and decisions, so every rank logs the same
values and stops at the same step. An evaluation must finish within the process group's timeout
(``ddp_timeout``, 30 minutes by default): keep suites small with ``limit``. Models sharded across
ranks (FSDP, DeepSpeed ZeRO-3) cannot generate on one rank and are refused.

>>> import rft
>>> cb = rft.EvalCallback([{"name": "yes", "data": [{"prompt": "Say yes"}],
...                         "graders": [{"type": "string_check", "name": "says_yes", "input": "{{sample.output_text}}",
...                                      "reference": "yes", "operation": "ilike"}]}], every_n_steps=10)
>>> cb.metric_names()
['rft/yes/says_yes/mean', 'rft/yes/says_yes/pass_rate', 'rft/yes/says_yes/unscored_frac']
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import random
import re
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from rft._data import load_rows
from rft._errors import ConfigError, DataError, RftError
from rft.eval._checks import check_rows
from rft.eval._compare import compare
from rft.eval._evaluate import load_graders
from rft.eval._power import power_check
from rft.eval._report import METRICS, Report, load_report
from rft.eval._suite import Suite

__all__ = ["EvalCallback", "preserved_rng", "preserved_train_modes"]

logger = logging.getLogger("rft.eval.callback")

#: Folder under the trainer's ``output_dir`` that holds the reports.
FOLDER = "rft-eval"
#: Metrics logged per grader; the first two can choose the best checkpoint and decide.
LOGGED = ("mean", "pass_rate", "unscored_frac")
_DEFAULT_TOLERANCE = 0.05
_GUARD_RULES = ("noninferior", "lenient")


# ------------------------------------------------------------------------------------------------
# Leaving training as it was


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Restore the Python, NumPy, torch (CPU) and CUDA random states on exit.

    Generation seeds torch (``GenerationParams.seed``) and samples from it; without this, a
    training run with evaluations would draw different random numbers from then on.

    >>> import random
    >>> with preserved_rng():
    ...     state = random.getstate()
    ...     _ = random.random()
    >>> random.getstate() == state
    True
    """
    import numpy as np

    python_state, numpy_state = random.getstate(), np.random.get_state()
    torch = sys.modules.get("torch")  # not imported yet: nothing has drawn from it, nothing to restore
    cpu = cuda = None
    if torch is not None:
        cpu = torch.get_rng_state()
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            cuda = torch.cuda.get_rng_state_all()
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        if torch is not None:
            torch.set_rng_state(cpu)
            if cuda is not None:
                torch.cuda.set_rng_state_all(cuda)


@contextlib.contextmanager
def preserved_train_modes(model: Any) -> Iterator[None]:
    """Put ``model`` in eval mode; on exit give every submodule back its own ``training`` flag
    (``model.train()`` would also switch on submodules the user had frozen in eval mode)."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


# ------------------------------------------------------------------------------------------------
# What decides


@dataclasses.dataclass(frozen=True)
class _Rule:
    """A guard (``tolerance``) or the early-stop target (``threshold``) on one suite's grader."""

    suite: str
    grader: str
    metric: str
    tolerance: float | None = None
    threshold: float | None = None

    @property
    def key(self) -> str:
        return f"rft/{self.suite}/{self.grader}"


def _number(value: Any, where: str, *, low: float = -math.inf, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(f"expected a number between {low:g} and {high:g}, got {value!r}", where)
    return float(value)


def _safe_name(name: str) -> str:
    """A suite name as a folder name (the metric names keep the name as it is)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "suite"


def _as_suite(spec: Any, index: int) -> Suite:
    if isinstance(spec, Suite):
        return spec
    if isinstance(spec, Mapping):
        try:
            return Suite.from_dict(spec)
        except ConfigError as exc:
            raise exc.at(f"suites[{index}]") from None
    if isinstance(spec, (str, os.PathLike)):
        return Suite.load(spec)
    raise ConfigError(
        f"cannot use a {type(spec).__name__} as a suite; pass an rft.eval.Suite, a suite file path or a dict "
        "with data and graders",
        f"suites[{index}]",
    )


class EvalCallback:
    """Evaluate rft suites during training; a ``transformers.TrainerCallback`` for any Trainer
    (``GRPOTrainer``, ``SFTTrainer``, ``DPOTrainer``, ...). See the module docstring.

    - ``suites``: :class:`rft.eval.Suite` objects, dicts in the suite file format, or suite file
      paths (one, or a list). The suite's ``target`` is ignored: the trained model is evaluated.
    - ``every_n_steps``: evaluate after every N optimizer steps; ``on_epoch_end``: after each
      epoch; ``eval_on_start``: before the first step (the start that guards and the early-stop
      target compare against; needed by both).
    - Cost: ``limit`` (first rows), ``samples_per_item`` and ``max_new_tokens`` replace the
      suites' own settings when given.
    - ``guards``: ``{suite: tolerance}`` or a list of suite names (each suite's gate tolerance,
      else 0.05); ``"suite/grader"`` picks the deciding grader (default: the suite's gate grader,
      else its first grader). ``guard_rule``: ``"noninferior"`` (default) or ``"lenient"``.
    - ``early_stop_at``: a threshold for the one suite that is not a guard, or ``{suite: threshold}``.
    - ``metric``: what guards and the target decide on, ``"pass_rate"`` or ``"mean"`` (default:
      each suite's gate metric, else ``"pass_rate"``); ``level``: the intervals' confidence.
    - ``best_metric``: a logged metric name (``"rft/suite/grader/mean"``; the ``rft/`` prefix may
      be left out) whose best value marks the best checkpoint; ``greater_is_better`` defaults to
      True (False for ``unscored_frac``).
    - ``output_dir``: where reports go (default ``<trainer output_dir>/rft-eval``).
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        # The TrainerCallback subclass is built on first use so that importing rft (and this
        # module) does not import transformers; every instance is a real TrainerCallback.
        built = _trainer_callback_class() if cls is EvalCallback else cls
        return super().__new__(built)

    def __init__(
        self,
        suites: Any,
        *,
        every_n_steps: int | None = None,
        on_epoch_end: bool = False,
        eval_on_start: bool = True,
        limit: int | None = None,
        samples_per_item: int | None = None,
        max_new_tokens: int | None = None,
        guards: Mapping[str, float] | Sequence[str] | None = None,
        guard_rule: str = "noninferior",
        early_stop_at: float | Mapping[str, float] | None = None,
        metric: str | None = None,
        level: float = 0.95,
        best_metric: str | None = None,
        greater_is_better: bool | None = None,
        output_dir: str | os.PathLike[str] | None = None,
        trust_code: bool = False,
        progress: bool = False,
    ):
        counts = {"every_n_steps": every_n_steps, "limit": limit, "samples_per_item": samples_per_item,
                  "max_new_tokens": max_new_tokens}
        for name, value in counts.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"expected an integer >= 1 or None, got {value!r}", name)
        if every_n_steps is None and not on_epoch_end and not eval_on_start:
            raise ConfigError("nothing would be evaluated; set every_n_steps=N, on_epoch_end=True or "
                              "eval_on_start=True", "every_n_steps")
        if guard_rule not in _GUARD_RULES:
            raise ConfigError(f"unknown guard_rule {guard_rule!r}; use one of: {', '.join(_GUARD_RULES)}", "guard_rule")
        if metric is not None and metric not in METRICS:
            raise ConfigError(f"unknown metric {metric!r}; use one of: {', '.join(METRICS)}", "metric")
        if not 0.5 <= level < 1:
            raise ConfigError(f"expected 0.5 <= level < 1, got {level!r}", "level")
        self.every_n_steps = every_n_steps
        self.eval_on_epoch_end = on_epoch_end
        self.eval_on_start = eval_on_start
        self.guard_rule = guard_rule
        self.level = level
        self.output_dir = os.fspath(output_dir) if output_dir is not None else None
        self.progress = progress
        self.suites = self._load_suites(suites, limit=limit, samples_per_item=samples_per_item,
                                        max_new_tokens=max_new_tokens, trust_code=trust_code)
        self._graders = {s.name: [g.name for g in s.graders] for s in self.suites}
        self.guards = self._guard_rules(guards, metric)
        self.target = self._target_rule(early_stop_at, metric)
        if (self.guards or self.target) and not eval_on_start:
            raise ConfigError("guards and early_stop_at compare against the evaluation at the start; "
                              "leave eval_on_start=True", "eval_on_start")
        self.best_metric: str | None = None
        self.greater_is_better = True
        if best_metric is not None:
            self._set_best_metric(best_metric, greater_is_better, "best_metric")
        #: One dict per evaluation (step, epoch, metrics, decisions), on every rank.
        self.evaluations: list[dict[str, Any]] = []
        #: Why training was stopped by this callback (None while it was not).
        self.stopped: str | None = None
        #: The best evaluation: ``{"step", "value", "checkpoint"}`` (``best_metric`` only).
        self.best: dict[str, Any] | None = None
        self._baseline: dict[str, Report] = {}
        self._last_step: int | None = None
        self._handler: Any = None
        self._trainer: Any = None
        self._folder: Path | None = None

    # ---------------------------------------------------------------------------- configuration
    @staticmethod
    def _load_suites(specs: Any, *, limit: int | None, samples_per_item: int | None, max_new_tokens: int | None,
                     trust_code: bool) -> list[Suite]:
        if isinstance(specs, (Suite, Mapping, str, os.PathLike)):
            specs = [specs]
        if not isinstance(specs, Sequence) or not specs:
            raise ConfigError("expected a suite or a non-empty list of suites", "suites")
        out: list[Suite] = []
        for i, spec in enumerate(specs):
            suite = _as_suite(spec, i)
            try:
                graders = load_graders(suite.graders, trust_code=trust_code)  # built once; errors before training
            except ConfigError as exc:
                raise (exc.in_source(suite.source) if suite.source else exc.at(f"suites[{i}]")) from None
            changes: dict[str, Any] = {"graders": graders}
            if limit is not None:
                changes["limit"] = limit
            if samples_per_item is not None:
                changes["samples_per_item"] = samples_per_item
            if max_new_tokens is not None:
                changes["generation"] = {**(suite.generation or {}), "max_new_tokens": max_new_tokens}
            suite = dataclasses.replace(suite, **changes)
            _check_suite_rows(suite, graders)
            out.append(suite)
        names = [s.name for s in out]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"suite names must be unique, {', '.join(map(repr, dupes))} repeats; set name:", "suites")
        folders = [_safe_name(n) for n in names]
        if len(set(folders)) != len(folders):
            raise ConfigError(f"suite names {names} give the same folder name; rename one", "suites")
        return out

    def _suite_grader(self, spec: str, where: str) -> tuple[str, str | None]:
        """``"suite"`` or ``"suite/grader"`` -> (suite, grader or None), checked."""
        for suite in sorted(self._graders, key=len, reverse=True):  # longest first: names may hold "/"
            if spec == suite:
                return suite, None
            if spec.startswith(f"{suite}/"):
                grader = spec[len(suite) + 1 :]
                if grader not in self._graders[suite]:
                    known = ", ".join(self._graders[suite])
                    raise ConfigError(f"suite {suite!r} has no grader {grader!r}; graders: {known}", where)
                return suite, grader
        raise ConfigError(f"no suite named {spec!r}; suites: {', '.join(self._graders)}", where)

    def _rule(self, spec: str, where: str, metric: str | None, **limits: float | None) -> _Rule:
        suite_name, grader = self._suite_grader(spec, where)
        gate = getattr(next(s for s in self.suites if s.name == suite_name), "gate", None)  # a suite's gate block

        def gate_get(key: str) -> Any:
            return gate.get(key) if isinstance(gate, Mapping) else getattr(gate, key, None)

        grader = grader or gate_get("grader") or self._graders[suite_name][0]
        chosen = metric or gate_get("metric") or "pass_rate"
        if chosen not in METRICS:
            raise ConfigError(f"unknown metric {chosen!r}; use one of: {', '.join(METRICS)}", f"{where}.metric")
        if "tolerance" in limits and limits["tolerance"] is None:
            limits["tolerance"] = gate_get("tolerance") if gate_get("tolerance") is not None else _DEFAULT_TOLERANCE
        return _Rule(suite_name, grader, chosen, **limits)

    def _guard_rules(self, guards: Any, metric: str | None) -> list[_Rule]:
        if guards is None:
            return []
        if isinstance(guards, str):
            guards = [guards]
        items = list(guards.items()) if isinstance(guards, Mapping) else [(g, None) for g in guards]
        rules = []
        for spec, tolerance in items:
            where = f"guards.{spec}"
            if tolerance is not None:
                tolerance = _number(tolerance, where, low=0.0, high=1.0)
            rules.append(self._rule(str(spec), where, metric, tolerance=tolerance))
        return rules

    def _target_rule(self, early_stop_at: Any, metric: str | None) -> _Rule | None:
        if early_stop_at is None:
            return None
        if isinstance(early_stop_at, Mapping):
            if len(early_stop_at) != 1:
                raise ConfigError(f"expected one target suite, got {list(early_stop_at)}", "early_stop_at")
            (spec, threshold), = early_stop_at.items()
        else:
            free = [s.name for s in self.suites if s.name not in {g.suite for g in self.guards}]
            if len(free) != 1:
                raise ConfigError(
                    f"early_stop_at needs its target suite named when {len(free)} suites are not guards ({free}); "
                    "write early_stop_at={'SUITE': threshold}", "early_stop_at")
            spec, threshold = free[0], early_stop_at
        where = f"early_stop_at.{spec}"
        return self._rule(str(spec), where, metric, threshold=_number(threshold, where))

    def _set_best_metric(self, name: str, greater_is_better: bool | None, where: str) -> None:
        key = name.removeprefix("eval_")
        key = key if key.startswith("rft/") else f"rft/{key}"
        body, _, metric = key[len("rft/"):].rpartition("/")
        if metric not in LOGGED or not body:
            form = f"rft/<suite>/<grader>/<{'|'.join(LOGGED)}>"
            raise ConfigError(f"{name!r} is not an rft metric; write {form!r}", where)
        suite, grader = self._suite_grader(body, where) if "/" in body else (body, None)
        if grader is None:
            raise ConfigError(f"{name!r} names no grader; write 'rft/{suite}/<grader>/{metric}'", where)
        self.best_metric = key
        self.greater_is_better = (metric != "unscored_frac") if greater_is_better is None else bool(greater_is_better)

    def metric_names(self) -> list[str]:
        """The per-grader metric names this callback logs (sub-graders of composites come as
        ``grader.key`` once evaluated)."""
        return [f"rft/{s.name}/{g}/{m}" for s in self.suites for g in self._graders[s.name] for m in LOGGED]

    # ---------------------------------------------------------------------------- trainer events
    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        from transformers import Trainer
        from transformers.trainer_callback import CallbackHandler

        # The callback receives neither the trainer nor its callback handler; both are found
        # on the call stack (every event is dispatched by CallbackHandler.call_event from a Trainer
        # method), so that adding the callback stays one line. Logging goes through the handler as
        # Trainer.log does; calling trainer.log would also flush TRL's own pending metrics early.
        self._handler = _caller(CallbackHandler)
        self._trainer = _caller(Trainer)
        if self._handler is None:
            logger.warning("EvalCallback: no CallbackHandler found; rft metrics reach state.log_history only")
        self._check_trainer(args)
        self._folder = Path(self.output_dir) if self.output_dir else Path(args.output_dir) / FOLDER
        self._last_step = None
        self._baseline = {}
        if state.global_step > 0:  # resumed: the start is the evaluation at step 0, when it was saved
            self._baseline = {s.name: load_report(p) for s in self.suites if (p := self._report_path(s, 0)).is_file()}
            if self.best_metric and state.best_metric is not None and state.best_global_step:
                self.best = {"step": state.best_global_step, "value": state.best_metric,
                             "checkpoint": f"checkpoint-{state.best_global_step}"}
        if self.eval_on_start:
            self._evaluate(args, state, control, kwargs)
        return control

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.every_n_steps and state.global_step % self.every_n_steps == 0:
            self._evaluate(args, state, control, kwargs)
        return control

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.eval_on_epoch_end:
            self._evaluate(args, state, control, kwargs)
        return control

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        best = self.best
        if self.best_metric and best is not None and best["checkpoint"] is None and state.is_world_process_zero:
            logger.warning("EvalCallback: no checkpoint beat the start on %s (%s); none is marked best",
                           self.best_metric, best["value"])
        self._handler = self._trainer = None
        return control

    def _check_trainer(self, args: Any) -> None:
        trainer = self._trainer
        if trainer is not None and (getattr(trainer, "is_fsdp_enabled", False) or _zero3(trainer)):
            raise ConfigError("EvalCallback generates on rank 0 alone, which a model sharded across ranks (FSDP, "
                              "DeepSpeed ZeRO-3) cannot do; evaluate saved checkpoints with rft.evaluate instead")
        ours = args.metric_for_best_model
        ours = ours.removeprefix("eval_") if ours else ours
        strategy = getattr(args, "eval_strategy", "no")
        trainer_evaluates = str(getattr(strategy, "value", strategy)) != "no"
        if ours and ours.startswith("rft/"):
            if trainer_evaluates:
                raise ConfigError(
                    f"metric_for_best_model={args.metric_for_best_model!r} is logged by EvalCallback, not by the "
                    "trainer's own evaluation, which would look it up and fail; set eval_strategy='no' "
                    "(EvalCallback marks the best checkpoint itself) or pass best_metric= to EvalCallback and keep "
                    "the trainer's metric",
                    "metric_for_best_model")
            if self.best_metric is None:
                self._set_best_metric(ours, args.greater_is_better, "metric_for_best_model")
        elif self.best_metric and trainer_evaluates and args.load_best_model_at_end:
            raise ConfigError(
                f"both EvalCallback (best_metric={self.best_metric!r}) and the trainer's evaluation "
                f"(metric_for_best_model={args.metric_for_best_model!r}) would mark the best checkpoint; set "
                "eval_strategy='no', or drop best_metric", "best_metric")

    # ---------------------------------------------------------------------------- one evaluation
    def _evaluate(self, args: Any, state: Any, control: Any, kwargs: Mapping[str, Any]) -> None:
        step = int(state.global_step)
        if step == self._last_step:  # every_n_steps and on_epoch_end on the same step
            return
        self._last_step = step
        payload: dict[str, Any] | None = None
        if state.is_world_process_zero:
            try:
                payload = self._run_suites(kwargs, step, float(state.epoch or 0.0), args)
            except BaseException as exc:  # other ranks wait in the broadcast below: tell them, then raise here
                _share({"error": f"{type(exc).__name__}: {exc}"})
                raise
        payload = _share(payload)
        if "error" in payload:
            raise RftError(f"EvalCallback: the evaluation on rank 0 failed at step {step}: {payload['error']}")
        self.evaluations.append(payload)
        self._log(args, state, control, payload["metrics"])
        if payload.get("best") is not None:
            self.best = payload["best"]
            state.best_metric = self.best["value"]
            if self.best["checkpoint"] is not None:
                state.best_global_step = step
                state.best_model_checkpoint = os.path.join(args.output_dir, self.best["checkpoint"])
                control.should_save = True  # the checkpoint that load_best_model_at_end will load
        if payload.get("stop"):
            self.stopped = payload["stop"]
            control.should_training_stop = True

    def _run_suites(self, kwargs: Mapping[str, Any], step: int, epoch: float, args: Any) -> dict[str, Any]:
        model = kwargs.get("model")
        tokenizer = kwargs.get("processing_class") or kwargs.get("tokenizer")
        tokenizer = getattr(tokenizer, "tokenizer", tokenizer)  # a multimodal processor holds its tokenizer
        if model is None or tokenizer is None:
            raise ConfigError("EvalCallback needs the trainer's model and tokenizer (processing_class=)")
        assert self._folder is not None
        metrics: dict[str, float] = {}
        reports: dict[str, Report] = {}
        started = time.perf_counter()
        with preserved_rng(), preserved_train_modes(model):
            for suite in self.suites:
                t0 = time.perf_counter()
                result = suite.run(target=(model, tokenizer), progress=self.progress)
                seconds = time.perf_counter() - t0
                reports[suite.name] = result.report
                result.report.meta["training"] = {"step": step, "epoch": epoch}
                result.report.save(self._report_path(suite, step))
                metrics.update(_report_metrics(suite.name, result.report))
                if suite.thresholds:
                    metrics[f"rft/{suite.name}/passed"] = float(result.passed)
                metrics[f"rft/{suite.name}/eval_seconds"] = round(seconds, 3)
        total = time.perf_counter() - started
        metrics["rft/eval_seconds"] = round(total, 3)
        started_now = [name for name in reports if name not in self._baseline]
        for name in started_now:  # the first evaluation of a suite is the start its decisions compare against
            self._baseline[name] = reports[name]
        self._power_warnings(started_now)
        decisions, stop = self._decide(reports, metrics)
        best = self._best(metrics, step)
        record = {"step": step, "epoch": epoch, "metrics": metrics, "decisions": decisions, "stop": stop, "best": best,
                  "reports": {s.name: str(self._report_path(s, step)) for s in self.suites}}
        self._folder.mkdir(parents=True, exist_ok=True)
        with open(self._folder / "evaluations.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record, allow_nan=False, default=str) + "\n")
        if stop:
            logger.warning("EvalCallback: stopping training at step %d: %s", step, stop)
        timeout = getattr(args, "ddp_timeout", None)
        if _world_size() > 1 and timeout and total > 0.5 * timeout:
            logger.warning("EvalCallback: the evaluation took %.0fs, more than half of ddp_timeout=%ss that the other "
                           "ranks wait; lower limit= or raise ddp_timeout", total, timeout)
        return record

    def _report_path(self, suite: Suite, step: int) -> Path:
        assert self._folder is not None
        return self._folder / _safe_name(suite.name) / f"step-{step}" / "report.json"

    def _power_warnings(self, suites: Sequence[str]) -> None:
        for g in (g for g in self.guards if g.suite in suites):
            check = power_check(self._baseline[g.suite], g.grader, g.metric, g.tolerance or 0.0, level=self.level,
                                name=f"guard {g.suite!r}")
            if not check.ok:
                logger.warning("EvalCallback: %s; until then the guard stops training on noise", check.advice)

    def _decide(self, reports: Mapping[str, Report], metrics: dict[str, float]) -> tuple[list[str], str | None]:
        """Guards and the target against the start; adds their deltas to ``metrics``."""
        decisions: list[str] = []
        stops: list[str] = []
        rules = [*self.guards, *([self.target] if self.target else [])]
        for rule in rules:
            base = self._baseline.get(rule.suite)
            if base is None or base is reports[rule.suite]:
                continue  # this evaluation is the start itself
            d = compare(base, reports[rule.suite], graders=[rule.grader], metric=rule.metric,
                        level=self.level)[rule.grader]
            for name, value in (("delta", d.delta), ("delta_ci_low", d.ci_low), ("delta_ci_high", d.ci_high)):
                if value is not None:
                    metrics[f"{rule.key}/{name}"] = value
            if rule.tolerance is not None:
                # As in tune_until: a guard that scored nothing at the start cannot regress.
                holds = not base.item_values(rule.grader, rule.metric) or d.holds(self.guard_rule, rule.tolerance)
                text = f"guard {rule.suite}: " + d.describe(self.guard_rule, rule.tolerance)
                if not holds:
                    stops.append(text)
            else:
                assert rule.threshold is not None
                value = metrics.get(f"{rule.key}/{rule.metric}")
                holds = value is not None and value >= rule.threshold and d.superior()
                shown = "-" if value is None else f"{value:.3f}"
                text = (f"target {rule.suite}: {rule.metric.replace('_', ' ')} {shown} vs threshold "
                        f"{rule.threshold:g}; " + d.describe("superior"))
                if holds:
                    stops.append(f"{text} (target reached)")
            metrics[f"{rule.key}/holds"] = float(holds)
            decisions.append(text)
        return decisions, "; ".join(stops) or None

    def _best(self, metrics: Mapping[str, float], step: int) -> dict[str, Any] | None:
        """The new best ``{"step", "value", "checkpoint"}`` when this evaluation is one, else None."""
        if not self.best_metric:
            return None
        value = metrics.get(self.best_metric)
        if value is None:
            return None
        if self.best is not None:
            old = self.best["value"]
            if not (value > old if self.greater_is_better else value < old):
                return None
        best = {"step": step, "value": value, "checkpoint": f"checkpoint-{step}" if step > 0 else None}
        self.best = best
        return best

    def _log(self, args: Any, state: Any, control: Any, metrics: Mapping[str, float]) -> None:
        """What ``Trainer.log`` does, without flushing the trainer's own pending metrics: one entry in
        ``state.log_history`` and ``on_log`` for every callback (the reporting integrations)."""
        logs = dict(metrics)
        if state.epoch is not None:
            logs["epoch"] = state.epoch
        state.log_history.append({**logs, "step": state.global_step})
        if self._handler is None:
            return
        should_log = control.should_log  # CallbackHandler.on_log clears it; the trainer's own log may be due
        result = self._handler.on_log(args, state, control, logs)
        if result is not None and result is not control:
            for field in dataclasses.fields(control):
                setattr(control, field.name, getattr(result, field.name))
        control.should_log = should_log


# ------------------------------------------------------------------------------------------------
# Helpers


def _report_metrics(suite: str, report: Report) -> dict[str, float]:
    """``rft/<suite>/<grader>/{mean,pass_rate,unscored_frac}`` for every grader and sub-grader;
    a mean or pass rate with nothing scored is left out (unscored is not 0)."""
    out: dict[str, float] = {}
    for s in report.stats:
        key = f"rft/{suite}/{s.grader}"
        if s.mean is not None:
            out[f"{key}/mean"] = float(s.mean)
        if s.pass_rate is not None:
            out[f"{key}/pass_rate"] = float(s.pass_rate)
        if s.n:
            out[f"{key}/unscored_frac"] = s.unscored_count / s.n
    return out


def _check_suite_rows(suite: Suite, graders: Sequence[Any]) -> None:
    """The rows a suite evaluates have its prompt field and every field its graders read (as
    :func:`rft.evaluate` checks), so that a bad row fails before training, not at step N."""
    rows = load_rows(suite.data)
    if suite.split is not None:
        rows = [r for r in rows if r.get("split") == suite.split]
    try:
        check_rows(rows[: suite.limit] if suite.limit else rows, graders, prompt_field=suite.prompt_field,
                   source=os.fspath(suite.data) if isinstance(suite.data, (str, os.PathLike)) else None)
    except DataError as exc:
        raise DataError(f"suite {suite.name!r}: {exc}") from None


def _caller(cls: type) -> Any:
    """The nearest ``self`` up the call stack that is a ``cls``, else None."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        obj = frame.f_locals.get("self")
        if isinstance(obj, cls):
            return obj
        frame = frame.f_back
    return None


def _zero3(trainer: Any) -> bool:
    if not getattr(trainer, "is_deepspeed_enabled", False):
        return False
    from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled

    return bool(is_deepspeed_zero3_enabled())


def _world_size() -> int:
    dist = _dist()
    return dist.get_world_size() if dist is not None else 1


def _dist() -> Any:
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    dist = torch.distributed
    return dist if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1 else None


def _share(payload: dict[str, Any] | None) -> dict[str, Any]:
    """Rank 0's ``payload`` on every rank; the other ranks wait here while rank 0 evaluates."""
    dist = _dist()
    if dist is None:
        assert payload is not None
        return payload
    box = [payload]
    dist.broadcast_object_list(box, src=0)
    assert box[0] is not None
    return box[0]


_BUILT: type | None = None


def _trainer_callback_class() -> type:
    """``EvalCallback`` mixed with ``transformers.TrainerCallback`` (built once, on first use)."""
    global _BUILT
    if _BUILT is None:
        from transformers import TrainerCallback

        namespace = {"__module__": __name__, "__doc__": EvalCallback.__doc__}
        _BUILT = type("EvalCallback", (EvalCallback, TrainerCallback), namespace)
    return _BUILT

