"""Throughput of rft.evaluate on the embedded model vs hand-written generation loops.

    python bench/eval_throughput.py [--prompts 64] [--max-new-tokens 32] [--batch-sizes 8,16,32,64]

Measured in one run, on the same prompts (data/arithmetic.jsonl, chat format) with the same greedy
settings:

1. rft.evaluate (generation + two catalogue graders + report), at the default batch size;
2. a hand-written loop: sort by prompt length, left-pad, ``model.generate`` per batch;
3. one prompt at a time (``model.generate`` on a single prompt, on the first ``--single`` prompts).

Prints generated tokens/s for each and the ratios (goals: rft >= 0.95x the hand loop, >= 4x one at a
time), the share of this CPU's FLOP limit (decode only: 2 x parameters FLOP per token; about 640 tok/s
for a 135M model at 172 GFLOP/s; override with --gflops), and a batch-size sweep of rft.evaluate.
Tokens are generated tokens without padding or the final end-of-sequence token.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def _hand_loop(model, tok, prompts, *, batch_size, max_new_tokens):
    import torch

    texts = [tok.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
    order = sorted(range(len(texts)), key=lambda i: -len(tok(texts[i], add_special_tokens=False)["input_ids"]))
    tok.padding_side = "left"
    stops = torch.tensor(sorted({tok.pad_token_id, tok.eos_token_id} - {None}))
    tokens = 0
    for start in range(0, len(order), batch_size):
        chunk = [texts[i] for i in order[start : start + batch_size]]
        enc = tok(chunk, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
        new = out[:, enc["input_ids"].shape[1] :]
        tokens += int((~torch.isin(new, stops)).sum())
    return tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16, help="batch size of the head-to-head runs")
    parser.add_argument("--batch-sizes", default="8,16,32,64", help="sweep of rft.evaluate batch sizes ('' = none)")
    parser.add_argument("--single", type=int, default=16, help="prompts for the one-at-a-time run")
    parser.add_argument("--gflops", type=float, default=172.0, help="this CPU's fp32 GFLOP/s")
    args = parser.parse_args()

    import torch

    import rft
    from rft._data import data_dir, read_jsonl
    from rft.models import load_model

    model, tok = load_model("default")
    rows = read_jsonl(data_dir() / "arithmetic.jsonl")[: args.prompts]
    prompts = [r["prompt"] for r in rows]
    params = sum(p.numel() for p in model.parameters())
    limit = args.gflops * 1e9 / (2 * params)
    graders = ["answer_in_tags", "answer_matches_reference"]
    print(f"model: {params / 1e6:.0f}M parameters, fp32, torch threads {torch.get_num_threads()}; "
          f"{len(prompts)} prompts, max_new_tokens {args.max_new_tokens}, greedy")
    print(f"FLOP limit: {limit:.0f} tok/s at {args.gflops:g} GFLOP/s (2 x params FLOP per token)\n", flush=True)

    def run_rft(batch_size):
        t0 = time.perf_counter()
        report = rft.evaluate((model, tok), rows, graders, max_new_tokens=args.max_new_tokens, batch_size=batch_size,
                              progress=False)
        return report.meta["timing"]["output_tokens"], time.perf_counter() - t0

    # Warm-up (first-call allocations) so neither side pays it.
    _hand_loop(model, tok, prompts[:2], batch_size=2, max_new_tokens=4)

    results = {}
    t0 = time.perf_counter()
    toks = _hand_loop(model, tok, prompts, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens)
    secs = time.perf_counter() - t0
    results["hand-written batched loop"] = (toks, secs)
    results["rft.evaluate"] = run_rft(args.batch_size)
    t0 = time.perf_counter()
    toks = sum(
        _hand_loop(model, tok, [p], batch_size=1, max_new_tokens=args.max_new_tokens) for p in prompts[: args.single]
    )
    results[f"one at a time ({args.single} prompts)"] = (toks, time.perf_counter() - t0)

    rate = {name: t / s for name, (t, s) in results.items()}
    print(f"{'run':<32} {'tokens':>7} {'seconds':>8} {'tok/s':>7} {'of limit':>9}", flush=True)
    for name, (t, s) in results.items():
        print(f"{name:<32} {t:>7} {s:>8.2f} {rate[name]:>7.1f} {rate[name] / limit:>8.1%}", flush=True)
    hand = rate["hand-written batched loop"]
    single = rate[f"one at a time ({args.single} prompts)"]
    ours = rate["rft.evaluate"]
    print(f"\nrft.evaluate / hand-written loop: {ours / hand:.2f}x (goal >= 0.95x)", flush=True)
    print(f"rft.evaluate / one at a time:     {ours / single:.2f}x (goal >= 4x)", flush=True)

    sizes = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    if sizes:
        print(f"\nbatch-size sweep of rft.evaluate ({len(prompts)} prompts):", flush=True)
        print(f"{'batch':>5} {'tokens':>7} {'seconds':>8} {'tok/s':>7} {'of limit':>9}", flush=True)
        best = None
        for b in sizes:
            t, s = run_rft(b)
            r = t / s
            best = max(best or (0, b), (r, b))
            print(f"{b:>5} {t:>7} {s:>8.2f} {r:>7.1f} {r / limit:>8.1%}", flush=True)
        print(f"closest to the FLOP limit: batch {best[1]} at {best[0]:.1f} tok/s ({best[0] / limit:.1%})", flush=True)


if __name__ == "__main__":
    main()
