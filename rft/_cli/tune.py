"""``rft tune CONFIG.yaml``: tune a model with graders, once or in keep/rollback rounds.

The config file (YAML or JSON)::

    model: default                      # 'default' (embedded SmolLM2-135M-Instruct) or a model folder
    data: data/tune_tags_train.jsonl    # training rows: a prompt plus the fields graders read
    graders: [answer_in_tags]           # rewards: catalogue names, grader files or inline configs
    weights: {answer_in_tags: 1.0}      # optional
    output_dir: results/tune
    config: {max_steps: 20, learning_rate: 2.0e-5, num_generations: 4}   # TuneConfig / GRPOConfig fields
    # With a target suite the run is rft.tune_until (baseline, rounds, gates, report):
    target: {name: tags, data: data/tune_tags_eval.jsonl, graders: [answer_in_tags], threshold: 0.95}
    guards: [{name: plain_sum, data: data/tune_guard_plain_sum.jsonl, graders: [...], tolerance: 0.02}]
    until: {rounds: 4, steps_per_round: 6, keep_if: delta, min_delta: 0.03, on_reject: lower_lr}

Exit status: 0 done; 1 the run ended without reaching the target threshold (with ``target``),
or pre-flight found no signal; 2 config or data error.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rft._errors import ConfigError

__all__ = ["load_tune_config", "register", "run_tune"]

_KEYS = {"model", "data", "graders", "weights", "output_dir", "config", "target", "guards", "until"}
_UNTIL_KEYS = {"rounds", "steps_per_round", "keep_if", "min_delta", "on_reject", "lr_factor", "max_rejects",
               "keep_rejected", "time_budget_s"}


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
    p.add_argument("--preflight-only", action="store_true", help="only check for reward signal, then stop")
    p.add_argument("--no-preflight", action="store_true", help="skip the signal check")
    p.add_argument("--fresh", action="store_true", help="with target: start over instead of resuming")
    p.set_defaults(func=run_tune)


def load_tune_config(path: str | Path) -> dict[str, Any]:
    """Read and check a tuning config file; relative data paths are read from the file's folder."""
    from rft.graders._registry import read_config_file

    raw = read_config_file(path)
    if not isinstance(raw, Mapping):
        raise ConfigError(f"a tuning config is a mapping, got {type(raw).__name__}", source=str(path))
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ConfigError(f"unknown keys {unknown}; known: {sorted(_KEYS)}", source=str(path))
    for key in ("data", "graders"):
        if key not in raw:
            raise ConfigError(f"missing {key!r}", key, source=str(path))
    until = dict(raw.get("until") or {})
    bad = sorted(set(until) - _UNTIL_KEYS)
    if bad:
        raise ConfigError(f"unknown keys {bad}; known: {sorted(_UNTIL_KEYS)}", "until", source=str(path))
    if ("guards" in raw or until) and "target" not in raw:
        raise ConfigError("'guards' and 'until' need a 'target' suite", "target", source=str(path))
    base = Path(path).resolve().parent

    def resolve(value: Any) -> Any:
        if isinstance(value, str) and not Path(value).is_absolute() and (base / value).exists() and not Path(value).exists():
            return str(base / value)
        return value

    out = dict(raw)
    out["data"] = resolve(raw["data"])
    out["model"] = resolve(raw.get("model", "default"))
    if "target" in raw:
        out["target"] = {**raw["target"], "data": resolve(raw["target"].get("data"))}
        out["guards"] = [{**g, "data": resolve(g.get("data"))} for g in raw.get("guards") or []]
    out["until"] = until
    return out


def run_tune(args: argparse.Namespace) -> int:
    from rft.tuning import TuneConfig, preflight
    from rft.tuning._tune import tune
    from rft.tuning._until import tune_until

    spec = load_tune_config(args.config)
    try:
        config = TuneConfig.from_dict(spec.get("config") or {})
    except ConfigError as exc:
        raise exc.at("config").in_source(str(args.config)) from None
    output_dir = args.out or spec.get("output_dir") or "rft-tune"
    config = config.replace(output_dir=str(output_dir))
    if args.no_preflight:
        config = config.replace(preflight=False)
    if args.preflight_only:
        report = preflight(spec["model"], spec["data"], spec["graders"], config, weights=spec.get("weights"), progress=True)
        print(report)
        return 0 if report.ok else 1
    if "target" not in spec:
        result = tune(spec["model"], spec["data"], spec["graders"], config, weights=spec.get("weights"), progress=True)
        final = result.save(Path(output_dir) / "final")
        print(result.summary())
        print(f"tuned model: {final}")
        return 0
    if config.preflight:
        report = preflight(spec["model"], spec["data"], spec["graders"], config, weights=spec.get("weights"), progress=True)
        print(report)
        if not report.ok:
            print("\n".join(f"- {a}" for a in report.advice))
            return 1
    result = tune_until(
        spec["model"],
        spec["data"],
        spec["target"],
        spec.get("guards") or [],
        graders=spec["graders"],
        weights=spec.get("weights"),
        config=config.replace(preflight=False),
        output_dir=output_dir,
        resume=not args.fresh,
        **spec["until"],
    )
    print(Path(result.files["markdown"]).read_text())
    print(json.dumps({"best_model": result.best_model_dir, "report": result.files}, indent=1))
    threshold = (spec["target"] or {}).get("threshold")
    score = result.final["target"]["score"]
    return 1 if threshold is not None and (score is None or score < threshold) else 0
