"""`rft.tune_until`: tune in rounds, keep a round only if the target improved and no guard regressed.

The loop::

    baseline: evaluate the target suite and every guard suite on the starting model
    for each round:
        train `steps_per_round` GRPO steps from the best model so far      (rft.tune)
        evaluate target and guards again, with the same graders             (rft.evaluate)
        keep   if the target improved (paired CI above 0, or delta >= min_delta)
               and every guard is within its tolerance of its baseline
        else   roll back to the best model, and lower the LR / stop / go on (on_reject)
    until the target reaches its threshold or the rounds run out

Every finished phase (baseline, a round's training, a round's evaluation, a round's verdict) is
recorded in ``OUTPUT/state.json``, written atomically; model folders are written to a temporary
name and renamed. Calling ``tune_until`` again with the same ``output_dir`` resumes after the last
finished phase, so a run killed at any point (even with SIGKILL) redoes no finished work.
Evaluations stream their grades to disk (``rft.evaluate(out=...)``), so even a half-finished
evaluation resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rft._errors import ConfigError, DataError
from rft.eval._store import atomic_dir, atomic_write_text

__all__ = ["GateSuite", "RoundResult", "UntilResult", "tune_until"]

_STATE = "state.json"
_STATE_FORMAT = "rft.tune_until/1"


@dataclasses.dataclass
class GateSuite:
    """A suite as the loop uses it: data, graders, the grader and metric that decide, a tolerance.

    ``tune_until`` accepts an :class:`rft.eval.Suite`, a dict with these fields, or a ``GateSuite``.

    >>> from rft import StringCheck
    >>> s = GateSuite("fmt", [{"prompt": "hi", "answer": "x"}], [StringCheck(name="m", reference="x")])
    >>> s.grader_name, s.metric
    ('m', 'pass_rate')
    """

    name: str = dataclasses.field(metadata={"help": "Suite name (report rows, folder names)."})
    data: Any = dataclasses.field(metadata={"help": "Rows with a prompt and the fields the graders read."})
    graders: Any = dataclasses.field(metadata={"help": "The graders (the same ones training uses, for the target)."})
    grader: str | None = dataclasses.field(default=None, metadata={"help": "Grader whose metric decides (default: the first)."})
    metric: str = dataclasses.field(default="pass_rate", metadata={"help": "pass_rate or mean."})
    tolerance: float = dataclasses.field(default=0.02, metadata={"help": "Guards: largest allowed drop below baseline."})
    threshold: float | None = dataclasses.field(default=None, metadata={"help": "Target: stop once the metric reaches this."})
    samples_per_item: int = dataclasses.field(default=1, metadata={"help": "Samples per prompt in evaluation."})
    max_new_tokens: int = dataclasses.field(default=64, metadata={"help": "Tokens generated per evaluation sample."})
    temperature: float = dataclasses.field(default=0.0, metadata={"help": "Evaluation sampling temperature (0 = greedy)."})
    limit: int | None = dataclasses.field(default=None, metadata={"help": "Use only the first N rows."})

    def __post_init__(self) -> None:
        from rft.eval._evaluate import load_graders

        if self.metric not in ("pass_rate", "mean"):
            raise ConfigError(f"unknown metric {self.metric!r}; use pass_rate or mean", f"{self.name}.metric")
        self.graders = load_graders(self.graders)
        names = [g.name for g in self.graders]
        if self.grader is None:
            self.grader = names[0]
        elif self.grader not in names:
            raise ConfigError(f"grader {self.grader!r} is not one of the suite's graders {names}", f"{self.name}.grader")
        if not (isinstance(self.tolerance, (int, float)) and self.tolerance >= 0):
            raise ConfigError(f"expected a tolerance >= 0, got {self.tolerance!r}", f"{self.name}.tolerance")

    @property
    def grader_name(self) -> str:
        return str(self.grader)

    def rows(self) -> list[dict[str, Any]]:
        from rft._data import load_rows

        rows = load_rows(self.data)
        return rows[: self.limit] if self.limit else rows

    def evaluate(self, model: Any, tokenizer: Any, out: Path, progress: bool = False) -> Any:
        from rft.eval._evaluate import evaluate

        return evaluate(
            (model, tokenizer),
            self.rows(),
            self.graders,
            samples_per_item=self.samples_per_item,
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            out=out,
            progress=progress,
        )

    def score(self, report: Any) -> float | None:
        stats = report[self.grader_name]
        return stats.pass_rate if self.metric == "pass_rate" else stats.mean

    def ci(self, report: Any) -> tuple[float | None, float | None]:
        stats = report[self.grader_name]
        if self.metric == "mean":
            return stats.ci_low, stats.ci_high
        return _wilson(stats.pass_rate, stats.scored)

    def per_item(self, report: Any) -> dict[str, float]:
        """Item id -> the item's metric (mean over its samples), for paired comparison."""
        out: dict[str, float] = {}
        for item in report.items:
            grades = [g for g in item.grades.get(self.grader_name, []) if g.score is not None]
            if not grades:
                continue
            vals = [float(bool(g.passed)) if self.metric == "pass_rate" else float(g.score) for g in grades]
            out[json.dumps(item.id)] = sum(vals) / len(vals)
        return out


def _wilson(p: float | None, n: int, z: float = 1.96) -> tuple[float | None, float | None]:
    if p is None or not n:
        return None, None
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def as_gate_suite(spec: Any, default_name: str) -> GateSuite:
    """A :class:`GateSuite` from a GateSuite, a dict of its fields, or an ``rft.eval.Suite``-like object."""
    if isinstance(spec, GateSuite):
        return spec
    if isinstance(spec, Mapping):
        values = dict(spec)
        values.setdefault("name", default_name)
        known = {f.name for f in dataclasses.fields(GateSuite)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown suite fields {unknown}; known: {sorted(known)}", str(values["name"]))
        if "data" not in values or "graders" not in values:
            raise ConfigError("a suite needs 'data' and 'graders'", str(values["name"]))
        return GateSuite(**values)
    if hasattr(spec, "data") and hasattr(spec, "graders"):  # rft.eval.Suite and look-alikes
        values = {f.name: getattr(spec, f.name) for f in dataclasses.fields(GateSuite) if hasattr(spec, f.name)}
        values.setdefault("name", getattr(spec, "name", None) or default_name)
        generation = getattr(spec, "generation", None) or {}
        for key in ("max_new_tokens", "temperature"):
            if key in generation:
                values[key] = generation[key]
        if getattr(spec, "split", None):  # rft.eval.Suite keeps only rows of its split
            from rft._data import load_rows

            values["data"] = [r for r in load_rows(spec.data) if r.get("split") == spec.split]
        return GateSuite(**values)
    raise ConfigError(f"cannot use a {type(spec).__name__} as a suite; pass a dict with data and graders", default_name)


@dataclasses.dataclass
class RoundResult:
    """One round: scores after training, the comparison with the best model, the verdict."""

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

    @property
    def target_delta(self) -> float | None:
        b, f = self.baseline["target"]["score"], self.final["target"]["score"]
        return None if b is None or f is None else f - b

    def load_model(self) -> tuple[Any, Any]:
        """``(model, tokenizer)`` of the best model."""
        from rft.models import load_model

        return load_model(self.best_model_dir)


# ------------------------------------------------------------------------------------------------
# State on disk


def _save_model(model: Any, tokenizer: Any, target: Path) -> Path:
    """Save atomically: a half-written folder never carries the final name."""
    with atomic_dir(target) as tmp:  # umask-respecting modes, unlike tempfile.mkdtemp's 0700
        if hasattr(model, "merge_and_unload"):
            model = model.merge_and_unload()
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return target


def _fingerprint(target: GateSuite, guards: Sequence[GateSuite], settings: Mapping[str, Any]) -> dict[str, Any]:
    import hashlib

    def digest(s: GateSuite) -> str:
        rows = json.dumps(s.rows(), sort_keys=True, default=repr)
        graders = json.dumps([g.to_config() for g in s.graders], sort_keys=True, default=repr)
        return hashlib.sha256((rows + graders + s.grader_name + s.metric).encode()).hexdigest()[:16]

    return {"target": digest(target), "guards": [digest(g) for g in guards], **settings}


def _suite_scores(suite: GateSuite, report: Any, folder: Path | None = None) -> dict[str, Any]:
    low, high = suite.ci(report)
    stats = report[suite.grader_name]
    return {
        "report": str(folder / "report.json") if folder is not None else None,
        "suite": suite.name,
        "grader": suite.grader_name,
        "metric": suite.metric,
        "score": suite.score(report),
        "ci_low": low,
        "ci_high": high,
        "n": stats.n,
        "unscored": stats.unscored_count if hasattr(stats, "unscored_count") else None,
        "per_item": suite.per_item(report),
    }


def compare_scores(before: Mapping[str, float], after: Mapping[str, float], *, seed: int = 0) -> dict[str, Any]:
    """Paired comparison of per-item scores (items both runs scored): delta and its 95% CI.

    Uses the evaluation module's paired bootstrap (:func:`rft.eval._stats.paired_bootstrap`).

    >>> r = compare_scores({"a": 0, "b": 0, "c": 1}, {"a": 1, "b": 1, "c": 1})
    >>> round(r["delta"], 3), r["n"]
    (0.667, 3)
    """
    from rft.eval._stats import paired_bootstrap

    keys = [k for k in before if k in after]
    if not keys:
        return {"delta": None, "ci_low": None, "ci_high": None, "n": 0}
    delta, low, high = paired_bootstrap([before[k] for k in keys], [after[k] for k in keys], seed=seed)
    return {"delta": delta, "ci_low": low, "ci_high": high, "n": len(keys)}


# ------------------------------------------------------------------------------------------------
# The loop


def tune_until(
    model: Any,
    train_data: Any,
    target: Any,
    guards: Sequence[Any] = (),
    *,
    graders: Any = None,
    weights: Any = None,
    rounds: int = 3,
    steps_per_round: int = 10,
    config: Any = None,
    keep_if: str = "ci",
    min_delta: float = 0.0,
    on_reject: str = "lower_lr",
    lr_factor: float = 0.5,
    max_rejects: int = 2,
    output_dir: str | os.PathLike[str] = "rft-tune-until",
    resume: bool = True,
    keep_rejected: bool = False,
    progress: bool = True,
    tokenizer: Any = None,
    time_budget_s: float | None = None,
) -> UntilResult:
    """Tune in rounds, keeping a round only when ``target`` improved and no guard regressed.

    - ``target``/``guards``: suites (an ``rft.eval.Suite``, a dict of :class:`GateSuite` fields,
      or a ``GateSuite``): data, graders, the deciding grader and metric, guard ``tolerance``,
      target ``threshold``.
    - ``graders``: what training rewards (default: the target suite's graders); ``weights`` as for
      :func:`rft.tune`.
    - ``keep_if``: ``"ci"`` keeps a round when the paired 95% CI of the target's change against
      the best model so far is above zero; ``"delta"`` when the change is at least ``min_delta``
      (and above zero).
    - ``on_reject``: after a rolled-back round, ``"lower_lr"`` multiplies the learning rate by
      ``lr_factor``, ``"stop"`` ends the loop, ``"continue"`` retries unchanged (fresh samples).
      ``max_rejects`` consecutive rejections end the loop in any case.
    - ``output_dir``: the best model (``best/``), per-round models and evaluations, ``state.json``
      and the tuning report (``report.json``, ``report.md``, ``report.html``, ``report.png``).
      With ``resume=True`` an existing run in that folder continues after its last finished phase.
    - ``time_budget_s``: start no new round when the last round's duration would overrun this
      many seconds since the call began (the run then stops as if the rounds had run out).

    The returned :class:`UntilResult` names the best model folder and holds the report.
    """
    from rft.tuning._config import TuneConfig
    from rft.tuning._report import write_report

    started = time.perf_counter()
    if keep_if not in ("ci", "delta"):
        raise ConfigError(f"unknown keep_if {keep_if!r}; use 'ci' or 'delta'", "keep_if")
    if on_reject not in ("lower_lr", "stop", "continue"):
        raise ConfigError(f"unknown on_reject {on_reject!r}; use lower_lr, stop or continue", "on_reject")
    for name, value in (("rounds", rounds), ("steps_per_round", steps_per_round), ("max_rejects", max_rejects)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"expected a positive integer, got {value!r}", name)
    if not 0 < lr_factor <= 1:
        raise ConfigError(f"expected 0 < lr_factor <= 1, got {lr_factor!r}", "lr_factor")
    if config is None:
        config = TuneConfig()
    elif isinstance(config, Mapping):
        config = TuneConfig.from_dict(config)
    target_suite = as_gate_suite(target, "target")
    guard_suites = [as_gate_suite(g, f"guard{i + 1}") for i, g in enumerate(guards)]
    names = [target_suite.name, *[g.name for g in guard_suites]]
    if len(set(names)) != len(names):
        raise ConfigError(f"suite names must be unique, got {names}", "guards")
    train_graders = graders if graders is not None else target_suite.graders
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)

    settings = {
        "steps_per_round": steps_per_round,
        "keep_if": keep_if,
        "min_delta": min_delta,
        "config": {k: v for k, v in config.to_dict().items() if k != "output_dir"},
    }
    fingerprint = _fingerprint(target_suite, guard_suites, settings)
    state_path = out / _STATE
    state: dict[str, Any] | None = None
    if resume and state_path.is_file():
        state = json.loads(state_path.read_text(encoding="utf-8"))
        if state.get("fingerprint") != fingerprint:
            raise ConfigError(
                f"{out} holds a run with other suites or settings; pass another output_dir or resume=False",
                "output_dir",
            )
        _say(progress, f"resuming {out}: {len(state['rounds'])} round(s) finished")
    elif state_path.is_file():
        for child in ("rounds", "baseline", "best"):
            shutil.rmtree(out / child, ignore_errors=True)
    if state is None:
        state = {
            "format": _STATE_FORMAT,
            "fingerprint": fingerprint,
            "start_model": None,
            "best_dir": None,
            "best_round": 0,
            "lr": config.learning_rate,
            "rejects": 0,
            "baseline": None,
            "pending": None,
            "rounds": [],
            "stopped": None,
        }

    def save_state() -> None:
        atomic_write_text(state_path, json.dumps(state, indent=1, default=_jsonable))

    from rft.models import load_model

    current: tuple[Any, Any] | None = None  # (model, tokenizer) in memory, matching state["best_dir"] when set

    def load_best() -> tuple[Any, Any]:
        return load_model(state["best_dir"])

    # --- the starting model: a folder we can reload after a rollback or a restart
    if state["start_model"] is None:
        spec = model if tokenizer is None else (model, tokenizer)
        if isinstance(spec, (str, os.PathLike)):
            from rft.models import default_model_dir, is_default_model_name

            path = default_model_dir() if is_default_model_name(spec) else Path(spec)
            state["start_model"] = str(path)
        else:
            current = load_model(spec)
            state["start_model"] = str(_save_model(current[0], current[1], out / "baseline" / "model"))
        state["best_dir"] = state["start_model"]
        save_state()

    # --- baseline evaluation
    if state["baseline"] is None:
        if current is None:
            current = load_best()
        _say(progress, "baseline: evaluating target and guards")
        state["baseline"] = _evaluate_all(current, target_suite, guard_suites, out / "baseline", progress)
        save_state()
    baseline = state["baseline"]
    best_scores = state["rounds"][state["best_round"] - 1]["scores"] if state["best_round"] else baseline

    def reached(scores: Mapping[str, Any]) -> bool:
        thr = target_suite.threshold
        s = scores["target"]["score"]
        return thr is not None and s is not None and s >= thr

    if state["stopped"] is None and reached(best_scores):
        state["stopped"] = "target threshold already met"
        save_state()

    last_round_s = 0.0
    while state["stopped"] is None and len(state["rounds"]) < rounds:
        r = len(state["rounds"]) + 1
        if time_budget_s is not None and time.perf_counter() - started + last_round_s > time_budget_s:
            state["stopped"] = f"time budget of {time_budget_s:.0f}s would be exceeded by round {r}"
            save_state()
            break
        round_start = time.perf_counter()
        rdir = out / "rounds" / f"round_{r:03d}"
        pending = state["pending"] if state["pending"] and state["pending"]["round"] == r else None
        if pending is None:
            if current is None:
                current = load_best()
            _say(progress, f"round {r}: training {steps_per_round} steps at lr {state['lr']:.3g}")
            from rft.tuning._tune import tune

            run_config = config.replace(
                max_steps=steps_per_round,
                learning_rate=state["lr"],
                seed=config.seed + r,
                output_dir=str(rdir / "train"),
                preflight=False,
            )
            t0 = time.perf_counter()
            result = tune(current, train_data, train_graders, run_config, weights=weights, progress=progress)
            train_seconds = time.perf_counter() - t0
            model_dir = _save_model(result.model, result.tokenizer, rdir / "model")
            current = None  # training changed the weights in memory; the best model is on disk
            pending = {
                "round": r,
                "model_dir": str(model_dir),
                "rewards": {k: [list(p) for p in v] for k, v in result.reward_curves().items()},
                "train_seconds": train_seconds,
                "steps": result.steps,
            }
            state["pending"] = pending
            save_state()
            trained: tuple[Any, Any] | None = (result.model, result.tokenizer)
        else:
            trained = None
        if trained is None:
            trained = load_model(pending["model_dir"])
        _say(progress, f"round {r}: evaluating")
        t0 = time.perf_counter()
        scores = _evaluate_all(trained, target_suite, guard_suites, rdir, progress)
        eval_seconds = time.perf_counter() - t0
        kept, reason, comparison = _decide(
            scores, best_scores, baseline, target_suite, guard_suites, keep_if, min_delta, seed=config.seed + r
        )
        record = RoundResult(
            round=r,
            lr=state["lr"],
            steps=pending["steps"],
            kept=kept,
            reason=reason,
            target={**_public(scores["target"]), **{f"vs_best_{k}": v for k, v in comparison.items()}},
            guards={name: _public(s) for name, s in scores["guards"].items()},
            rewards=pending["rewards"],
            train_seconds=pending["train_seconds"],
            eval_seconds=eval_seconds,
        ).to_dict()
        record["scores"] = scores
        record["model_dir"] = pending["model_dir"]
        _say(progress, f"round {r}: {'KEPT' if kept else 'rolled back'}: {reason}")
        state["rounds"].append(record)
        state["pending"] = None
        if kept:
            old_best = state["best_dir"]
            state["best_dir"] = pending["model_dir"]
            state["best_round"] = r
            state["rejects"] = 0
            best_scores = scores
            current = trained
            if not keep_rejected and old_best and old_best != state["start_model"]:
                record["replaced"] = old_best  # deleted below, once the state no longer needs it
            if reached(scores):
                state["stopped"] = f"target threshold {target_suite.threshold:g} reached"
        else:
            state["rejects"] += 1
            current = None
            if on_reject == "stop":
                state["stopped"] = "round rejected and on_reject='stop'"
            elif state["rejects"] >= max_rejects:
                state["stopped"] = f"{state['rejects']} rejected rounds in a row (max_rejects={max_rejects})"
            elif on_reject == "lower_lr":
                state["lr"] = state["lr"] * lr_factor
        save_state()
        if not keep_rejected:
            doomed = record.get("replaced") if kept else pending["model_dir"]
            if doomed:
                shutil.rmtree(doomed, ignore_errors=True)
        last_round_s = time.perf_counter() - round_start
    if state["stopped"] is None:
        state["stopped"] = f"{rounds} rounds done"
        save_state()

    # --- the best model under a stable name, and the report
    best = out / "best"
    marker = best / "rft_source.txt"
    if not (marker.is_file() and marker.read_text().strip() == state["best_dir"]):
        if current is None:
            current = load_best()
        _save_model(current[0], current[1], best)
        (best / "rft_source.txt").write_text(state["best_dir"] + "\n")
    final = state["rounds"][state["best_round"] - 1]["scores"] if state["best_round"] else baseline
    report, files = write_report(state, final, target_suite, guard_suites, out)
    _say(progress, f"done ({state['stopped']}): report in {files.get('markdown')}")
    return UntilResult(
        best_model_dir=str(best),
        best_round=state["best_round"],
        baseline={"target": _public(baseline["target"]), "guards": {k: _public(v) for k, v in baseline["guards"].items()}},
        final={"target": _public(final["target"]), "guards": {k: _public(v) for k, v in final["guards"].items()}},
        rounds=[RoundResult(**{k: v for k, v in rec.items() if k in {f.name for f in dataclasses.fields(RoundResult)}}) for rec in state["rounds"]],
        stopped=state["stopped"],
        report=report,
        files=files,
    )


def _evaluate_all(
    pair: tuple[Any, Any], target: GateSuite, guards: Sequence[GateSuite], folder: Path, progress: bool
) -> dict[str, Any]:
    model, tokenizer = pair
    rep = target.evaluate(model, tokenizer, folder / "target", progress=progress)
    scores = {"target": _suite_scores(target, rep, folder / "target"), "guards": {}}
    for g in guards:
        grep = g.evaluate(model, tokenizer, folder / f"guard_{g.name}", progress=progress)
        scores["guards"][g.name] = _suite_scores(g, grep, folder / f"guard_{g.name}")
    return scores


def _decide(
    scores: Mapping[str, Any],
    best: Mapping[str, Any],
    baseline: Mapping[str, Any],
    target: GateSuite,
    guards: Sequence[GateSuite],
    keep_if: str,
    min_delta: float,
    *,
    seed: int,
) -> tuple[bool, str, dict[str, Any]]:
    comparison = _compare_reports(best["target"], scores["target"], target.grader_name, seed=seed)
    delta = comparison["delta"]
    if delta is None:
        return False, "no target item was scored in both evaluations", comparison
    if keep_if == "ci":
        improved = comparison["ci_low"] is not None and comparison["ci_low"] > 0 and delta > min_delta
        why = f"target {target.grader_name} {target.metric} {delta:+.3f} (95% CI {comparison['ci_low']:+.3f}..{comparison['ci_high']:+.3f})"
    else:
        improved = delta > 0 and delta >= min_delta
        why = f"target {target.grader_name} {target.metric} {delta:+.3f} (min_delta {min_delta:g})"
    problems = []
    for g in guards:
        now = scores["guards"][g.name]["score"]
        base = baseline["guards"][g.name]["score"]
        if base is None:
            continue
        if now is None or now < base - g.tolerance - 1e-12:
            problems.append(f"guard {g.name} {g.metric} {base:.3f} -> {now if now is None else round(now, 3)} (tolerance {g.tolerance:g})")
    if not improved:
        return False, f"{why}: not an improvement", comparison
    if problems:
        return False, f"{why}, but " + "; ".join(problems), comparison
    return True, why + ("; guards within tolerance" if guards else ""), comparison


def _compare_reports(before: Mapping[str, Any], after: Mapping[str, Any], grader: str, *, seed: int) -> dict[str, Any]:
    """The target's change, from the evaluation module's paired comparison of the saved reports
    (per-item mean score: the pass rate for pass/fail graders); per-item scores held in the state
    stand in when a report file is missing."""
    paths = [before.get("report"), after.get("report")]
    if all(p and Path(p).is_file() for p in paths):
        from rft.eval._compare import compare

        d = compare(paths[0], paths[1], graders=[grader], seed=seed)[grader]
        return {"delta": d.delta, "ci_low": d.ci_low, "ci_high": d.ci_high, "n": d.n_paired}
    return compare_scores(before["per_item"], after["per_item"], seed=seed)


def _public(scores: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in scores.items() if k != "per_item"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"cannot write {type(value).__name__} to state.json")


def _say(progress: bool, text: str) -> None:
    if progress:
        print(f"[tune_until] {text}", flush=True)


_ = DataError  # re-exported errors live in rft._errors
