"""The tuning half of ``make demo``: baseline → pre-flight → tune_until with a guard → report.

Model: the embedded SmolLM2-135M-Instruct, CPU only, fp32.

Target skill: answering an addition question inside ``<answer></answer>`` tags when the prompt
shows one example (``data/tune_tags_*.jsonl``). Zero-shot the base model never uses the tags; with
the one-example prompt it sometimes does (the pre-flight proves there is signal), so GRPO has
something to reinforce. Graded by the catalogue grader ``answer_in_tags``, the same grader that
rewards training.

Guard: plain addition questions without any format instruction
(``data/tune_guard_plain_sum.jsonl``), graded by whether the answer states the correct sum: learning
the format must not cost the model its arithmetic.

Run: ``python -m rft.demo_tune [--out results/tune] [--minutes 20]``; the lead's ``rft.demo``
calls :func:`stage`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["main", "stage"]

TARGET_GRADER = "answer_in_tags"
GUARD_GRADER = {
    "type": "string_check",
    "name": "states_sum",
    "input": "{{sample.output_text}}",
    "reference": "{{item.answer}}",
    "operation": "like",
}


def _data_dir() -> Path:
    from rft._data import data_dir

    return Path(data_dir())


def stage(out: str | Path = "results/tune", *, minutes: float = 20.0, model: Any = "default", quick: bool = False) -> dict[str, Any]:
    """Run the tuning demo into ``out``; return the summary (also written to ``out/summary.json``).

    ``quick=True`` shrinks everything (for a smoke run with the tiny model).
    """
    from rft.models import load_model
    from rft.tuning import TuneConfig, preflight
    from rft.tuning._until import tune_until

    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = _data_dir()
    train = data / "tune_tags_train.jsonl"
    n_eval = 8 if quick else None
    target = {
        "name": "tags",
        "data": str(data / "tune_tags_eval.jsonl"),
        "graders": [TARGET_GRADER],
        "metric": "pass_rate",
        "max_new_tokens": 24,
        "threshold": 0.95,
        "limit": n_eval,
    }
    guard = {
        "name": "plain_sum",
        "data": str(data / "tune_guard_plain_sum.jsonl"),
        "graders": [GUARD_GRADER],
        "metric": "pass_rate",
        "max_new_tokens": 48,
        "tolerance": 0.04,
        "limit": n_eval,
    }
    config = TuneConfig(
        num_generations=4,
        per_device_train_batch_size=8,  # 2 prompts x 4 completions per step
        max_completion_length=24,
        learning_rate=2e-5,
        temperature=1.0,
        beta=0.0,
        seed=0,
        preflight_prompts=4 if quick else 6,
    )
    print(f"== pre-flight: {config.preflight_prompts} prompts x {config.k} completions ==", flush=True)
    pair = load_model(model) if not isinstance(model, tuple) else model
    report = preflight(pair, train, [TARGET_GRADER], config)
    print(report, flush=True)
    (out / "preflight.json").write_text(json.dumps(report.to_dict(), indent=1))
    if not quick:
        report.raise_if_no_signal()
    spent = time.perf_counter() - t0
    print("== tune_until: baseline, then rounds of GRPO with keep/rollback gates ==", flush=True)
    result = tune_until(
        pair,
        train,
        target,
        [guard],
        rounds=2 if quick else 6,
        steps_per_round=1 if quick else 6,
        config=config,
        keep_if="delta",
        min_delta=0.03,
        on_reject="lower_lr",
        output_dir=out / "run",
        time_budget_s=max(60.0, minutes * 60 - spent),
    )
    summary = {
        "model": "SmolLM2-135M-Instruct (embedded, fp32, CPU)" if model == "default" else str(model),
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "preflight": {
            "mean": report.graders[0].mean,
            "pass_at_k": report.graders[0].pass_at_k,
            "varied_share": report.varied_share,
        },
        "stopped": result.stopped,
        "best_round": result.best_round,
        "target": result.report["summary"]["target"],
        "guards": result.report["summary"]["guards"],
        "report": result.files,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(Path(result.files["markdown"]).read_text(), flush=True)
    t = summary["target"]
    print(
        f"target {t['metric']} {t['baseline']:.3f} -> {t['final']:.3f} "
        f"({t['delta']:+.3f}, paired 95% CI {t['delta_ci'][0]:+.3f}..{t['delta_ci'][1]:+.3f}) "
        f"in {summary['wall_seconds']:.0f}s",
        flush=True,
    )
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rft.demo_tune", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/tune", help="results folder (resumes a run found there)")
    parser.add_argument("--minutes", type=float, default=20.0, help="wall-clock budget for the whole stage")
    parser.add_argument("--model", default="default", help="model folder or 'default' (embedded SmolLM2-135M-Instruct)")
    parser.add_argument("--quick", action="store_true", help="tiny settings for a smoke run")
    args = parser.parse_args(argv)
    stage(args.out, minutes=args.minutes, model=args.model, quick=args.quick)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
