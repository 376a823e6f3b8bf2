"""Judge throughput: batched vs one-at-a-time local judging, cache-hit grades/s, HTTP concurrency.

Run: ``python bench/judge_throughput.py [--model default|tiny|PATH] [--n 32]``. Ratios are measured
against baselines in the same run. Goals (issue 3): batched >= 4x one-at-a-time on 32 grades;
cache hits >= 50k grades/s; 64 HTTP grades at 100 ms/request with concurrency 16 in <= 0.6 s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rft.graders._model import ScoreModel
from rft.judge import LocalBackend, ScriptedBackend

INPUT = [{"role": "user", "content": "Question: {{item.question}}\nAnswer: {{sample.output_text}}\nRate 1-5."},
         {"role": "assistant", "content": "Score:"}]


def local(model: str, n: int, max_tokens: int) -> None:
    outputs = [f"The answer is {i}." for i in range(n)]
    rows = [{"question": f"What is {i} + {i}?"} for i in range(n)]
    params = {"max_completions_tokens": max_tokens}
    one = ScoreModel(name="one", model=model, input=INPUT, range=[1, 5], cache=False, sampling_params=params,
                     backend=LocalBackend(model, batch_size=1, max_new_tokens=max_tokens))
    batched = ScoreModel(name="batched", model=model, input=INPUT, range=[1, 5], cache=False, sampling_params=params,
                         backend=LocalBackend(model, batch_size=n, max_new_tokens=max_tokens))
    one.judge_backend.load(), batched.judge_backend.load()
    one.grade(outputs[0], rows[0]), batched.grade(outputs[0], rows[0])  # warm up
    t0 = time.perf_counter()
    for o, r in zip(outputs, rows):
        one.grade(o, r)
    t_one = time.perf_counter() - t0
    t0 = time.perf_counter()
    grades = batched.grade_batch(outputs, rows)
    t_batch = time.perf_counter() - t0
    scored = sum(g.score is not None for g in grades)
    print(f"local judge ({model}, {n} grades, {max_tokens} new tokens): one-at-a-time {t_one:.2f}s, "
          f"batched {t_batch:.2f}s -> {t_one / t_batch:.1f}x (goal >= 4x); {scored}/{n} scored")


def cache_hits(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        judge = ScoreModel(name="cached", input=INPUT[:1], range=[1, 5], cache=str(Path(tmp) / "c.sqlite"),
                           backend=ScriptedBackend(["Score: 4"]))
        outputs = [f"answer {i}" for i in range(n)]
        rows = [{"question": "q"}] * n
        judge.grade_batch(outputs, rows)  # fill
        calls = len(judge.judge_backend.calls)
        t0 = time.perf_counter()
        grades = judge.grade_batch(outputs, rows)
        dt = time.perf_counter() - t0
        assert len(judge.judge_backend.calls) == calls and all(g.details["cache_hit"] for g in grades)
        print(f"cache hits: {n} grades in {dt:.3f}s -> {n / dt:,.0f} grades/s (goal >= 50,000/s)")


def http(n: int, concurrency: int) -> None:
    # The server runs as its own process, as a real judge server would: in-process, its 16 handler
    # threads would share the client's GIL and the measurement would be of that contention.
    import json
    import subprocess
    import sys

    script = json.dumps([{"reply": "Score: 4", "sleep": 0.1}])
    proc = subprocess.Popen([sys.executable, "-m", "rft.testing._fault_server", script],
                            stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        judge = ScoreModel(name="http", model="served", input=INPUT[:1], range=[1, 5], cache=False,
                           backend={"type": "openai", "base_url": url, "concurrency": concurrency})
        judge.grade("warm-up", {"question": "q"})
        t0 = time.perf_counter()
        grades = judge.grade_batch([f"a{i}" for i in range(n)], [{"question": "q"}] * n)
        dt = time.perf_counter() - t0
    finally:
        proc.kill()
        proc.wait()
    serial = n * 0.1
    assert all(g.score is not None for g in grades)
    print(f"HTTP: {n} grades at 100 ms each, concurrency {concurrency}: {dt:.2f}s "
          f"(serial would be {serial:.1f}s -> {serial / dt:.1f}x; floor {n / concurrency * 0.1:.1f}s; goal <= 0.6s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=4)
    parser.add_argument("--cache-n", type=int, default=20_000)
    parser.add_argument("--skip-local", action="store_true")
    args = parser.parse_args()
    if not args.skip_local:
        local(args.model, args.n, args.max_tokens)
    cache_hits(args.cache_n)
    http(64, 16)


if __name__ == "__main__":
    main()
