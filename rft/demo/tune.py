"""The tuning half of ``make demo``: teach the embedded model a skill without losing two others.

Model: the embedded SmolLM2-135M-Instruct, CPU only, fp32.

**Target skill** (``task="contacts"``): read a sentence and return *only* a JSON object with four
fields: ``name``, ``email``, ``company``, ``city`` (``data/tune_contacts_*.jsonl``, 160 training
rows, 64 held out). Zero-shot, the base model wraps its JSON in prose (``JSON:\\n{...}``), drops
fields and copies the wrong span into ``company``; strict parsing scores that 0. Training rewards
are field-level: one strict-JSON check (``json_only``: the whole reply is one object, no prose
before or after) and one grader per field, each visible in TRL's logs. The deciding metric is
``fields`` (mean): the share of checks passed (schema, then each field), 0 unless the reply is
strict JSON with exactly those keys.

A **held-out task of the same kind** (``task="orders"``): customer, product, quantity (an
integer) and city from an order sentence, with the same settings.

**Guards** (other skills that must not be lost; 160 and 120 items, sized by the power check):
``arithmetic`` (small sums; the last number of the reply is the answer) and ``knowledge``
(capitals and opposites; the answer word appears). Each has replay data of the same skill but
other items, so a replay remedy leaves the guard's own items held out.

Settings, from runs on 2 CPU cores (not a guarantee; see the report each run writes): 16 GRPO
steps per round at learning rate 1e-5, sampling temperature 0.7 (at 1.0 the 135M model's samples
rarely get a field right, so only the strict-JSON reward moved), 2 prompts x 4 completions per
step, and the knowledge guard **rehearsed from round 1** (``replay_from_start``): half the training
prompts are capital and opposite questions about *other* countries and words
(``guard_knowledge_replay.jsonl``), rewarded by the guard's own grader and by nothing else.
Without that, one round lifts ``extraction`` by 55 points but costs the knowledge guard 8 points
(CI -14..-3, not non-inferior at 0.12): the model learns terse replies and answers "Which city is
the capital of Germany? Answer with one word." with "Germany". With it, the same round lifts
``extraction`` 0.03 -> 0.64 and the knowledge guard rises. The arithmetic guard is left to the
loop: should it fall, replay and then anchor repair it. About 9 minutes of training and 2.5 of
evaluation per round, and 3 minutes of pre-flight and baseline, on 2 cores.

Run: ``python -m rft.demo --stage 3`` (or ``python -m rft.demo.tune --task orders``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from rft._data import data_dir
from rft.tuning import TuneConfig, preflight, tune_until

__all__ = ["TASKS", "guard_suites", "main", "reward_graders", "stage", "target_suite"]

#: Task -> (file stem, fields in order; "quantity" is an integer).
TASKS: dict[str, list[str]] = {
    "contacts": ["name", "email", "company", "city"],
    "orders": ["customer", "product", "quantity", "city"],
}


def _schema(fields: list[str]) -> dict[str, Any]:
    props = {f: {"type": "integer"} if f == "quantity" else {"type": "string", "minLength": 1} for f in fields}
    return {"type": "object", "properties": props, "required": fields, "additionalProperties": False}


_JSON_ONLY = {
    "type": "regex",
    "name": "json_only",
    "pattern": r"\s*\{.*\}\s*",
    "mode": "fullmatch",
    "flags": ["DOTALL"],
}


def target_suite(task: str = "contacts", *, limit: int | None = None) -> dict[str, Any]:
    """The target suite (suite format, with its gate block) of ``task``.

    ``extraction`` decides: the mean of five strict checks (the reply is one JSON object and
    nothing else; each field parses from it and is right), so every field learnt counts.
    ``exact`` is the all-or-nothing view: the reply validates against the four-key schema and every
    field is right.
    """
    fields = TASKS[task]
    parts = {"json_only": _JSON_ONLY, **{f: _field(f) for f in fields}}
    return {
        "name": task,
        "data": str(data_dir() / f"tune_{task}_eval.jsonl"),
        "generation": {"max_new_tokens": 64, "temperature": 0},
        "limit": limit,
        "graders": [
            {
                "type": "multi",
                "name": "extraction",
                "graders": parts,
                "calculate_output": "(" + " + ".join(parts) + f") / {len(parts)}",
            },
            {
                "type": "json_schema",
                "name": "exact",
                "schema": _schema(fields),
                "fields": {f: "{{item.%s}}" % f for f in fields},
            },
        ],
        "gate": {"grader": "extraction", "metric": "mean", "threshold": 0.95},
    }


def _field(name: str) -> dict[str, Any]:
    return {"type": "json_schema", "name": name, "schema": {"type": "object"}, "fields": {name: "{{item.%s}}" % name}}


def reward_graders(task: str = "contacts") -> list[dict[str, Any]]:
    """Field-level training rewards: strict JSON, then one grader per field (each parses strictly)."""
    per_field = [
        {"type": "json_schema", "name": f, "schema": {"type": "object"}, "fields": {f: "{{item.%s}}" % f}}
        for f in TASKS[task]
    ]
    return [_JSON_ONLY, *per_field]


def guard_suites(*, limit: int | None = None, tolerance: float = 0.12) -> list[dict[str, Any]]:
    """The two guards. Tolerance 0.12: the power check says 160 and 120 items resolve about 0.10-0.11."""
    d = data_dir()
    return [
        {
            "name": "arithmetic",
            "data": str(d / "guard_arithmetic.jsonl"),
            "limit": limit,
            "generation": {"max_new_tokens": 24, "temperature": 0},
            "graders": [
                {
                    "type": "exact_match",
                    "name": "sum_correct",
                    "reference": "{{item.answer}}",
                    "extract": "last_number",
                    "numeric": True,
                }
            ],
            "gate": {"tolerance": tolerance, "replay_data": str(d / "guard_arithmetic_replay.jsonl")},
        },
        {
            "name": "knowledge",
            "data": str(d / "guard_knowledge.jsonl"),
            "limit": limit,
            "generation": {"max_new_tokens": 24, "temperature": 0},
            "graders": [
                {
                    "type": "string_check",
                    "name": "says_answer",
                    "input": "{{sample.output_text}}",
                    "reference": "{{item.answer}}",
                    "operation": "ilike",
                }
            ],
            "gate": {"tolerance": tolerance, "replay_data": str(d / "guard_knowledge_replay.jsonl")},
        },
    ]


def stage(
    out: str | Path = "results/tune",
    *,
    minutes: float = 15.0,
    model: Any = "default",
    quick: bool = False,
    task: str = "contacts",
    rounds: int = 3,
    steps_per_round: int = 16,
    learning_rate: float = 1e-5,
    temperature: float = 0.7,
    rehearse: tuple[str, ...] = ("knowledge",),
) -> dict[str, Any]:
    """Run the tuning demo into ``out``; return the summary (also written to ``out/summary.json``).

    ``quick=True`` shrinks everything (a smoke run with the tiny model: every stage, no claims).
    ``rehearse`` names the guards replayed from round 1 (``()``: only after a regression).
    """
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = TuneConfig(
        num_generations=4,
        per_device_train_batch_size=8,  # 2 prompts x 4 completions per step
        max_completion_length=8 if quick else 64,
        learning_rate=learning_rate,
        temperature=temperature,
        seed=0,
        preflight_prompts=4 if quick else 8,
    )
    limit = 6 if quick else None
    if quick:  # a smoke model's random text earns no JSON reward: show the pre-flight, do not stop on it
        print(preflight(model, str(data_dir() / f"tune_{task}_train.jsonl"), reward_graders(task), config), flush=True)
        config = config.replace(preflight=False)
    result = tune_until(
        model,
        str(data_dir() / f"tune_{task}_train.jsonl"),
        target_suite(task, limit=limit),
        guard_suites(limit=limit, tolerance=0.5 if quick else 0.12),
        graders=reward_graders(task),
        rounds=2 if quick else rounds,
        steps_per_round=1 if quick else steps_per_round,
        config=config,
        replay_share=0.5,
        replay_from_start=tuple(rehearse),
        output_dir=out / "run",
        time_budget_s=max(60.0, minutes * 60 - (time.perf_counter() - t0)),
        progress=True,
    )
    summary = {
        "model": "SmolLM2-135M-Instruct (embedded, fp32, CPU)" if model == "default" else str(model),
        "task": task,
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "verdict": result.verdict,
        "stopped": result.stopped,
        "best_round": result.best_round,
        "target": result.report["summary"]["target"],
        "guards": result.report["summary"]["guards"],
        "power": result.report["power"],
        "remedies": [r["text"] for r in result.report["remedies"]],
        "report": result.files,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    print(Path(result.files["markdown"]).read_text(), flush=True)
    print(f"{result.verdict}\n(wall time {summary['wall_seconds']:.0f} s)", flush=True)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rft.demo.tune", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/tune", help="results folder (resumes a run found there)")
    parser.add_argument(
        "--task", choices=sorted(TASKS), default="contacts", help="target task (orders: the held-out one)"
    )
    parser.add_argument("--minutes", type=float, default=15.0, help="wall-clock budget for the whole stage")
    parser.add_argument("--model", default="default", help="model folder or 'default' (embedded SmolLM2-135M-Instruct)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=16, help="GRPO steps per round")
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--temperature", type=float, default=0.7, help="sampling temperature in training")
    parser.add_argument(
        "--rehearse",
        default="knowledge",
        help="comma-separated guards replayed from round 1; '' replays only after a regression",
    )
    parser.add_argument("--quick", action="store_true", help="tiny settings for a smoke run")
    args = parser.parse_args(argv)
    stage(
        args.out,
        minutes=args.minutes,
        model=args.model,
        quick=args.quick,
        task=args.task,
        rounds=args.rounds,
        steps_per_round=args.steps,
        temperature=args.temperature,
        learning_rate=args.lr,
        rehearse=tuple(n for n in args.rehearse.split(",") if n),
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
