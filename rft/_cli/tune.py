"""``rft tune CONFIG.yaml``: tune a model with graders, once or in keep/rollback rounds.

The config file (YAML or JSON)::

    model: default                      # 'default' (embedded SmolLM2-135M-Instruct) or a model folder
    data: ../data/tune_tags_train.jsonl # training rows: a prompt plus the fields graders read
    graders: [answer_in_tags]           # rewards: catalogue names, grader files or inline configs
    weights: {answer_in_tags: 1.0}      # optional
    output_dir: results/tune            # the tuned model (or, with target, best/ and the report)
    config: {max_steps: 20, learning_rate: 2.0e-5, num_generations: 4}   # TuneConfig / GRPOConfig fields
    # With a target suite the run is rft.tune_until (baseline, rounds, gates, report):
    target: suites/tags.yaml            # a suite file, or inline: {name, data, graders, threshold, ...}
    guards: [{name: plain_sum, data: ../data/tune_guard_plain_sum.jsonl, graders: [...], tolerance: 0.02}]
    until: {rounds: 4, steps_per_round: 6, keep_if: delta, min_delta: 0.03, on_reject: lower_lr}

Relative paths in the file (model, data, grader files, output_dir, suite files and the data of
inline suites) are relative to the config file's folder, as in a suite file; ``--out`` is relative
to the current directory. The whole config (settings, graders, weights, suites, files) is checked
before anything slow runs. Re-running a config with ``target`` resumes the run in its output
folder (``--fresh`` starts over); a run that already started is not pre-flighted again.

Exit status: 0 done (with ``target``: its threshold was reached, or none was set); 1 the work ran
but a bar was not met: the pre-flight found no reward signal, so nothing was trained
(``--no-preflight`` trains anyway), or with ``target`` the rounds ended below its threshold;
2 usage, config or data error.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rft._catalogue import read_config_file
from rft._cli import EXIT_FAILED, EXIT_OK
from rft._errors import ConfigError
from rft.eval._evaluate import load_graders
from rft.eval._suite import Suite, resolve_path
from rft.models import is_default_model_name, is_tiny_model_name
from rft.tuning import NoSignalError, TuneConfig, preflight
from rft.tuning._rewards import reward_functions, reward_weights
from rft.tuning._suites import as_tune_suite
from rft.tuning._tune import tune
from rft.tuning._until import UntilOptions, tune_until

__all__ = ["load_tune_config", "register", "run_tune"]

_KEYS = {"model", "data", "graders", "weights", "output_dir", "config", "target", "guards", "until"}
_STATE = "state.json"  # tune_until's record of finished phases in its output folder


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "tune",
        help="tune a model with GRPO using graders as rewards (optionally in keep/rollback rounds)",
        description="Tune a model with GRPO, the graders as rewards; with a target suite, in keep/rollback rounds.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument("config", metavar="CONFIG.yaml", help="tuning config file (YAML or JSON)")
    p.add_argument("--out", metavar="DIR", help="output folder (overrides output_dir)")
    p.add_argument(
        "--preflight-only", action="store_true", help="only check for reward signal, then stop (exit 1: none)"
    )
    p.add_argument("--no-preflight", action="store_true", help="skip the signal check")
    p.add_argument("--fresh", action="store_true", help="with target: start over instead of resuming")
    p.set_defaults(func=run_tune)


def _until_keys() -> set[str]:
    """The ``until:`` keys: the fields of tune_until's options, so the two cannot drift apart."""
    return {f.name for f in dataclasses.fields(UntilOptions)}


def load_tune_config(path: str | Path) -> dict[str, Any]:
    """Read and check a tuning config file; relative paths in it are resolved from the file's folder.

    Errors are :class:`~rft.ConfigError` naming the file and the key.
    """
    try:
        return _load(read_config_file(path), Path(path).absolute().parent)
    except ConfigError as exc:
        raise exc.in_source(str(path)) from None


def _load(raw: Any, base: Path) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"a tuning config is a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ConfigError(f"unknown keys {unknown}; known: {sorted(_KEYS)}")
    for key in ("data", "graders"):
        if key not in raw:
            raise ConfigError(f"missing {key!r}", key)
    until = raw.get("until") or {}
    if not isinstance(until, Mapping):
        raise ConfigError(f"expected a mapping of tune_until settings, got {until!r}", "until")
    bad = sorted(set(until) - _until_keys())
    if bad:
        raise ConfigError(f"unknown keys {bad}; known: {sorted(_until_keys())}", "until")
    if ("guards" in raw or until) and "target" not in raw:
        raise ConfigError("'guards' and 'until' need a 'target' suite", "target")
    out = dict(raw)
    out["data"] = _file(raw["data"], base, "data")
    out["model"] = _model(raw.get("model", "default"), base)
    out["graders"] = _grader_specs(raw["graders"], base)
    if raw.get("output_dir") is not None:
        out["output_dir"] = resolve_path(str(raw["output_dir"]), base)
    if "target" in raw:
        out["target"] = _suite_spec(raw["target"], base, "target")
        guards = raw.get("guards") or []
        if not isinstance(guards, list):
            raise ConfigError(f"expected a list of suites, got {type(guards).__name__}", "guards")
        out["guards"] = [_suite_spec(g, base, f"guards[{i}]") for i, g in enumerate(guards)]
    out["until"] = dict(until)
    return out


def _file(value: Any, base: Path, where: str) -> Any:
    """A data file named in the config: resolved, and it must exist."""
    if not isinstance(value, str):
        return value  # rows inline in the file
    path = resolve_path(value, base)
    if not Path(path).is_file():
        raise ConfigError(f"{path} does not exist (relative paths are read from the config file's folder)", where)
    return path


def _model(value: Any, base: Path) -> Any:
    if not isinstance(value, str) or is_default_model_name(value) or is_tiny_model_name(value):
        return value
    path = resolve_path(value, base)
    if not (Path(path) / "config.json").is_file():
        raise ConfigError(
            f"{path} is not a model folder (no config.json); use 'default' or a local model folder", "model"
        )
    return path


def _grader_specs(graders: Any, base: Path) -> Any:
    """Grader files resolved from the config's folder; catalogue names and inline configs unchanged."""

    def one(g: Any) -> Any:
        if isinstance(g, str) and (g.endswith((".yaml", ".yml", ".json")) or "/" in g):
            return resolve_path(g, base)
        return g

    return [one(g) for g in graders] if isinstance(graders, list) else one(graders)


def _suite_spec(spec: Any, base: Path, where: str) -> Any:
    """A target or guard: a suite file (read with its own folder as the base) or an inline dict."""
    if isinstance(spec, str):
        return Suite.load(resolve_path(spec, base))
    if not isinstance(spec, Mapping):
        raise ConfigError(f"expected a suite file path or a suite mapping, got {type(spec).__name__}", where)
    out = dict(spec)
    try:
        if "data" in out:
            out["data"] = _file(out["data"], base, "data")
        if "graders" in out:
            out["graders"] = _grader_specs(out["graders"], base)
        if isinstance(out.get("baseline"), str):
            out["baseline"] = resolve_path(out["baseline"], base)
        for holder in (out, out.get("gate")):
            if isinstance(holder, dict) and isinstance(holder.get("replay_data"), str):
                holder["replay_data"] = _file(holder["replay_data"], base, "replay_data")
    except ConfigError as exc:
        raise exc.at(where) from None
    return out


def _check(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Build everything the run will build (graders, weights, the ``until`` options, the target and
    guard suites), so that a mistake anywhere in the config stops the run before the pre-flight or
    any training. Returns the built suites (``target``, ``guards``) for tune_until to reuse."""
    load_graders(spec["graders"])
    reward_weights(reward_functions(spec["graders"]), spec.get("weights"))
    if "target" not in spec:
        return {}
    try:
        UntilOptions(**spec["until"])
    except ConfigError as exc:
        raise exc.at("until") from None
    suites = [("target", "target", spec["target"])]
    suites += [(f"guards[{i}]", f"guard{i + 1}", g) for i, g in enumerate(spec.get("guards") or [])]
    built = []
    for where, name, suite in suites:
        try:
            built.append(as_tune_suite(suite, name))
        except ConfigError as exc:
            raise (exc if exc.source else exc.at(where)) from None  # a suite file's errors name that file
    return {"target": built[0], "guards": built[1:]}


def _started(output_dir: Path) -> dict[str, Any] | None:
    """tune_until's saved state in ``output_dir`` if a run there got past its pre-flight (or skipped
    it): it has a pre-flight record or a baseline, so checking the signal again would only cost time."""
    try:
        state = json.loads((output_dir / _STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # none, or unreadable: tune_until says what is wrong with it
        return None
    if isinstance(state, dict) and (state.get("preflight") is not None or state.get("baseline") is not None):
        return state
    return None


def run_tune(args: argparse.Namespace) -> int:
    spec = load_tune_config(args.config)
    try:
        config = TuneConfig.from_dict(spec.get("config") or {})
    except ConfigError as exc:
        raise exc.at("config").in_source(str(args.config)) from None
    output_dir = Path(args.out or spec.get("output_dir") or "rft-tune").absolute()
    config = config.replace(output_dir=str(output_dir))
    if args.no_preflight:
        config = config.replace(preflight=False)
    try:
        suites = _check(spec)
    except ConfigError as exc:
        raise exc.in_source(str(args.config)) from None
    weights = spec.get("weights")
    if args.preflight_only:
        report = preflight(spec["model"], spec["data"], spec["graders"], config, weights=weights, progress=True)
        print(report)
        return EXIT_OK if report.ok else EXIT_FAILED
    state = None if args.fresh or "target" not in spec else _started(output_dir)
    if state is not None:
        what = f"a finished run ({state['stopped']})" if state.get("stopped") else "a started run"
        print(f"rft tune: {output_dir} holds {what}: resuming it without a new signal check", file=sys.stderr)
        config = config.replace(preflight=False)
    try:
        if "target" not in spec:
            result = tune(spec["model"], spec["data"], spec["graders"], config, weights=weights, progress=True)
        else:
            loop = tune_until(
                spec["model"],
                spec["data"],
                suites["target"],
                suites["guards"],
                graders=spec["graders"],
                weights=weights,
                config=config,
                output_dir=output_dir,
                resume=not args.fresh,
                **spec["until"],
            )
    except NoSignalError:  # the pre-flight table and its advice are printed already
        print("rft tune: no reward signal, nothing trained (--no-preflight trains anyway)", file=sys.stderr)
        return EXIT_FAILED
    if "target" not in spec:
        print(result.summary())
        print(f"tuned model: {output_dir}" if config.save_model else "tuned model: not saved (save_model: false)")
        return EXIT_OK
    print(Path(loop.files["markdown"]).read_text())
    print(json.dumps({"best_model": loop.best_model_dir, "report": loop.files}, indent=1))
    score, threshold = loop.final["target"]["score"], suites["target"].threshold
    return EXIT_FAILED if threshold is not None and (score is None or score < threshold) else EXIT_OK
