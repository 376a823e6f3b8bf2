"""Evaluation overhead of rft.EvalCallback as a fraction of training time.

The same GRPO run (model, data, seed, settings) twice: without the callback, and with
``rft.EvalCallback(suites, every_n_steps=10)`` (plus the evaluation at the start). Prints both wall
times and, the figure to quote, the evaluation time the callback logged (``rft/eval_seconds``)
as a share of the training time of the same run (robust to a machine whose load changes between
runs). The suites are a target (answers in tags, right answers) and a guard (plain sums), ``limit``
rows each.

    python bench/callback_overhead.py                # tiny model, 30 steps, 32 rows per suite
    python bench/callback_overhead.py --slow         # the embedded SmolLM2-135M (tens of minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time

import rft


def _in_tags(completions, **kwargs):
    return [1.0 if re.search(r"<answer>\s*\S.*?</answer>", c[-1]["content"], re.S) else 0.0 for c in completions]


def _suites(limit: int) -> list[dict]:
    from rft._data import data_dir

    states_sum = {"type": "string_check", "name": "states_sum", "input": "{{sample.output_text}}",
                  "reference": "{{item.answer}}", "operation": "like"}
    return [
        {"name": "tags", "data": str(data_dir() / "tune_tags_eval.jsonl"), "limit": limit,
         "graders": ["answer_in_tags", "answer_matches_reference"]},
        {"name": "plain_sum", "data": str(data_dir() / "tune_guard_plain_sum.jsonl"), "limit": limit,
         "graders": [states_sum]},
    ]


def run(model_spec: str, steps: int, callback: rft.EvalCallback | None, *,
        max_new_tokens: int) -> tuple[float, list[dict]]:
    """Train ``steps`` GRPO steps; return the wall time of ``trainer.train()`` and the log history."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from rft._data import data_dir, load_rows
    from rft.models import load_model

    model, tok = load_model(model_spec)
    args = GRPOConfig(output_dir=tempfile.mkdtemp(prefix="rft-bench-"), max_steps=steps, num_generations=4,
                      per_device_train_batch_size=8, max_completion_length=max_new_tokens, learning_rate=1e-5,
                      logging_steps=1, save_strategy="no", report_to="none", use_cpu=True, bf16=False, seed=0,
                      disable_tqdm=True)
    trainer = GRPOTrainer(model=model, processing_class=tok, reward_funcs=[_in_tags], args=args,
                          train_dataset=Dataset.from_list(load_rows(data_dir() / "tune_tags_train.jsonl")),
                          callbacks=[callback] if callback else None)
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # one printed dict per step is noise here
    t0 = time.perf_counter()
    trainer.train()
    return time.perf_counter() - t0, trainer.state.log_history


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slow", action="store_true", help="the embedded SmolLM2-135M instead of the tiny model")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--every", type=int, default=10, help="every_n_steps")
    parser.add_argument("--limit", type=int, default=32, help="rows per suite")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default: 24 (tiny), 64 (--slow)")
    parser.add_argument("--repeats", type=int, default=2, help="pairs of runs (without, with), alternating")
    args = parser.parse_args()
    from rft.testing import tiny_model_dir

    spec = "default" if args.slow else str(tiny_model_dir())
    tokens = args.max_new_tokens or (64 if args.slow else 24)
    run(spec, 2, None, max_new_tokens=tokens)  # warm-up: imports, first-call costs
    without: list[float] = []
    with_cb: list[float] = []
    shares: list[float] = []
    for _ in range(args.repeats):
        without.append(run(spec, args.steps, None, max_new_tokens=tokens)[0])
        cb = rft.EvalCallback(_suites(args.limit), every_n_steps=args.every, max_new_tokens=tokens)
        seconds, log = run(spec, args.steps, cb, max_new_tokens=tokens)
        with_cb.append(seconds)
        evals = [e for e in log if "rft/eval_seconds" in e]
        eval_s = sum(e["rft/eval_seconds"] for e in evals)
        shares.append(eval_s / (seconds - eval_s))  # both halves measured in the same run: robust to load changes
    print(f"model={'default' if args.slow else 'tiny'} steps={args.steps} every_n_steps={args.every} "
          f"evaluations={len(evals)} (steps {[e['step'] for e in evals]}) x {args.limit * 2} rows, "
          f"max_new_tokens={tokens}, {args.repeats} pairs of runs")
    print(f"  evaluation time / training time in the same run: median {statistics.median(shares):.1%} "
          f"({', '.join(f'{s:.1%}' for s in shares)}); {eval_s / len(evals):.2f}s per evaluation")
    w, c = statistics.median(without), statistics.median(with_cb)
    print(f"  separate runs: without the callback {w:.1f}s, with it {c:.1f}s (medians): {(c - w) / w:+.1%} "
          "(noisy on a shared machine)")


if __name__ == "__main__":
    main()
