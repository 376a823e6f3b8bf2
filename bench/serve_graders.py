"""`rft serve-graders` throughput: string_check through the official openai SDK, and the server's
overhead per request against grading in-process.

Run: ``python bench/serve_graders.py [--n 1000] [--threads 8] [--batch 1000]``. The server runs as
its own process on loopback (as it would in use); every figure is compared with a baseline
measured in the same run: one in-process ``grader.grade(sample, item)`` call.

- SDK sequential: ``client.fine_tuning.alpha.graders.run(...)`` one after another (the code being
  ported), requests/s and microseconds per request;
- raw HTTP sequential: the same JSON posted over a kept-alive ``http.client`` connection, without
  the SDK: what the server itself adds per request (parse, look up the built grader, grade in a
  worker thread, build OpenAI's response);
- SDK with ``--threads`` threads;
- the rft extension ``POST /v1/rft/grade`` with ``--batch`` samples in one call, against
  in-process ``grade_batch``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import rft

GRADER = {"type": "string_check", "name": "answer", "input": "{{sample.output_text}}",
          "reference": "{{item.answer}}", "operation": "eq"}


def start_server() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "rft", "serve-graders", "--port", "0"],
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    line = proc.stdout.readline()
    if "listening on" not in line:
        raise SystemExit(f"the server did not start: {line!r}")
    return proc, line.split("listening on", 1)[1].strip()


def per_call(fn, n: int) -> float:
    """Seconds per call of ``fn(i)`` over ``n`` calls (after a warm-up)."""
    for i in range(min(50, n)):
        fn(i)
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="requests per sequential measurement")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--batch", type=int, default=1000, help="samples in one /v1/rft/grade call")
    args = parser.parse_args()

    import openai

    samples = [str(i % 7) for i in range(max(args.n, args.batch))]
    items = [{"answer": "3"}] * len(samples)
    grader = rft.load_grader(GRADER)
    t_local = per_call(lambda i: grader.grade(samples[i], items[i]), args.n)

    proc, url = start_server()
    try:
        client = openai.OpenAI(base_url=url, api_key="unused")
        run = client.fine_tuning.alpha.graders.run
        t_sdk = per_call(lambda i: run(grader=GRADER, model_sample=samples[i], item=items[i]), args.n)

        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port)
        bodies = [json.dumps({"grader": GRADER, "model_sample": s, "item": it}).encode()
                  for s, it in zip(samples, items)]

        def raw(i: int) -> None:
            conn.request("POST", parts.path + "/fine_tuning/alpha/graders/run", body=bodies[i],
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200

        t_raw = per_call(raw, args.n)
        conn.close()

        with ThreadPoolExecutor(args.threads) as pool:
            list(pool.map(lambda i: run(grader=GRADER, model_sample=samples[i], item=items[i]), range(100)))
            start = time.perf_counter()
            list(pool.map(lambda i: run(grader=GRADER, model_sample=samples[i], item=items[i]), range(args.n)))
            rps_threads = args.n / (time.perf_counter() - start)

        batch = {"grader": GRADER, "samples": samples[: args.batch], "items": items[: args.batch]}
        client.post("/rft/grade", body=batch, cast_to=object)  # warm-up
        start = time.perf_counter()
        served = client.post("/rft/grade", body=batch, cast_to=object)
        t_batch = time.perf_counter() - start
        start = time.perf_counter()
        local = grader.grade_batch(samples[: args.batch], items[: args.batch])
        t_local_batch = time.perf_counter() - start
        assert [r["reward"] for r in served["data"]] == [g.score for g in local]
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(30)

    us = 1e6
    print(f"in-process grader.grade (baseline):  {t_local * us:8.1f} us/call  ({1 / t_local:,.0f}/s)")
    print(f"SDK, sequential:                     {t_sdk * us:8.1f} us/request ({1 / t_sdk:,.0f} requests/s) "
          f"-> {t_sdk / t_local:,.0f}x the in-process call")
    print(f"raw HTTP keep-alive, sequential:     {t_raw * us:8.1f} us/request ({1 / t_raw:,.0f} requests/s); "
          f"server overhead {(t_raw - t_local) * us:,.0f} us/request ({t_raw / t_local:,.0f}x the in-process call)")
    print(f"SDK's own share of a request:        {(t_sdk - t_raw) * us:8.1f} us ({(t_sdk - t_raw) / t_sdk:.0%})")
    print(f"SDK, {args.threads} threads:                     {rps_threads:8,.0f} requests/s "
          f"({rps_threads * t_sdk:.1f}x sequential)")
    print(f"/v1/rft/grade, {args.batch} samples per call:   {args.batch / t_batch:8,.0f} samples/s "
          f"(in-process grade_batch {args.batch / t_local_batch:,.0f}/s -> {t_batch / t_local_batch:.1f}x its time; "
          f"{t_sdk * args.batch / t_batch:.0f}x the samples/s of one SDK request each)")


if __name__ == "__main__":
    main()
