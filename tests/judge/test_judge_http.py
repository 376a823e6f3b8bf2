"""The OpenAI-compatible backend against real loopback HTTP servers with scripted faults, and the
cache (hits proven by counting requests at the server)."""

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from rft.graders._model import ScoreModel
from rft.judge import JudgeCache, judge_stats

USER = [{"role": "user", "content": "Rate 0-10: {{sample.output_text}}"}]
FAST = {"max_retries": 2, "backoff_s": 0.01, "max_backoff_s": 1.0, "timeout_s": 5.0}


def judge_for(server, cache=False, **backend):
    return ScoreModel(name="judge", input=USER, range=[0, 10], model="served", cache=cache,
                      backend={"type": "openai", "base_url": server.url, **FAST, **backend})


FAULTS = [
    # (script, expected score, error, requests at the server, why)
    ([{"status": 429, "retry_after": "0.05"}, {"reply": "Score: 6"}], 0.6, None, 2, "429 then success: retried"),
    ([{"status": 500}, {"status": 503}, {"reply": "Score: 6"}], 0.6, None, 3, "5xx twice then success"),
    ([{"status": 500}], None, "server_error", 3, "5xx every time: 1 + max_retries attempts, then unscored"),
    ([{"status": 429, "retry_after": "0"}], None, "rate_limited", 3, "always 429: unscored with the reason"),
    ([{"status": 429, "retry_after": "3600"}], None, "rate_limited", 1,
     "Retry-After past max_backoff_s: give up at once"),
    ([{"garbage": True}], None, "bad_response", 1, "a non-JSON body is not retried"),
    ([{"status": 401}], None, "http_error", 1, "auth errors are not retried"),
    ([{"drop": True}, {"reply": "Score: 2"}], 0.2, None, 2, "connection dropped, then success"),
    ([{"reply": "Score: 99"}], None, "off_scale", 1, "server fine, verdict off scale"),
]


@pytest.mark.parametrize("script,score,error,count,why", FAULTS, ids=[f[-1] for f in FAULTS])
def test_faults(serve, script, score, error, count, why):
    server = serve(script)
    g = judge_for(server).grade("some answer")
    assert (g.score if g.score is None else round(g.score, 6)) == score
    assert g.error == error
    assert server.requests == count
    if error:
        assert g.reason


def test_retry_after_is_honoured(serve):
    server = serve([{"status": 429, "retry_after": "0.4"}, {"reply": "Score: 6"}])
    start = time.perf_counter()
    g = judge_for(server, backoff_s=0.0).grade("x")
    assert g.score == pytest.approx(0.6)
    assert time.perf_counter() - start >= 0.4  # waited as told (a lower bound, not a speed assertion)
    assert g.details["attempts"] == 2


def test_hang_past_timeout_is_unscored_and_batch_completes(serve):
    server = serve([{"reply": "Score: 5"}, {"hang": 3}, {"reply": "Score: 5"}])
    judge = judge_for(server, timeout_s=0.3, max_retries=0, concurrency=1)
    grades = judge.grade_batch(["a", "b", "c"])
    assert [g.error for g in grades].count("timeout") == 1
    assert sum(g.score == 0.5 for g in grades) == 2


def test_overall_deadline(serve):
    server = serve([{"status": 503, "retry_after": "0.2"}])
    judge = judge_for(server, max_retries=50, deadline_s=0.5, max_backoff_s=5)
    g = judge.grade("x")
    assert g.error == "server_error" and "deadline" in g.reason
    assert server.requests < 10


def test_concurrency_is_bounded_and_used(serve):
    server = serve([{"reply": "Score: 1", "sleep": 0.2}])
    active, peak, lock = [0], [0], threading.Lock()
    original = server.next_action

    def counting(body):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            time.sleep(0.05)
            return original(body)
        finally:
            with lock:
                active[0] -= 1

    server.next_action = counting
    judge = judge_for(server, concurrency=4)
    grades = judge.grade_batch([f"answer {i}" for i in range(12)])
    assert all(g.score == pytest.approx(0.1) for g in grades)
    assert 2 <= peak[0] <= 4


def test_cache_hits_cost_no_request_and_failures_are_not_cached(serve, tmp_path):
    server = serve([{"status": 500}, {"status": 500}, {"status": 500}, {"reply": "Score: 8"}])
    path = str(tmp_path / "cache.sqlite")
    judge = judge_for(server, cache=path)
    first = judge.grade("x")
    assert first.error == "server_error" and server.requests == 3
    assert len(JudgeCache(path)) == 0  # failure not cached
    second = judge.grade("x")
    assert second.score == pytest.approx(0.8) and server.requests == 4 and not second.details["cache_hit"]
    third = judge_for(server, cache=path).grade("x")  # a fresh grader: same content address
    assert third.score == pytest.approx(0.8) and third.details["cache_hit"] and server.requests == 4
    batch = judge.grade_batch(["x", "y", "y", "x"])
    assert server.requests == 5  # only "y" was new, and sent once
    stats = judge_stats(batch)
    assert stats["cache_hits"] == 3 and stats["backend_calls"] == 1


def test_cache_key_changes_with_model_and_params(serve, tmp_path):
    server = serve([{"reply": "Score: 3"}])
    path = str(tmp_path / "c.sqlite")
    judge_for(server, cache=path).grade("x")
    other = ScoreModel(name="judge", input=USER, range=[0, 10], model="served", cache=path,
                       sampling_params={"temperature": 0.5}, backend={"type": "openai", "base_url": server.url, **FAST})
    other.grade("x")
    assert server.requests == 2
    assert server.bodies[-1]["temperature"] == 0.5


def _write_cache(path, worker, n):
    cache = JudgeCache(path)
    for i in range(n):
        cache.put_many({f"{worker}-{i}": (f"Score: {i}", 1, 1)})
        cache.get_many([f"{worker}-{i}", f"other-{i}"])


def test_cache_is_safe_with_several_processes(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_cache, args=(path, w, 50)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert len(JudgeCache(path)) == 150


def test_server_killed_mid_run(tmp_path):
    """A real server process hangs, is killed while requests are in flight: unscored, batch completes."""
    proc = subprocess.Popen([sys.executable, "-m", "rft.testing._fault_server", '[{"hang": 30}]'],
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        url = proc.stdout.readline().strip()
        judge = ScoreModel(name="judge", input=USER, range=[0, 10], model="served", cache=False,
                           backend={"type": "openai", "base_url": url, "max_retries": 2, "backoff_s": 0.05,
                                    "timeout_s": 20})
        threading.Timer(1.0, lambda: os.killpg(proc.pid, signal.SIGKILL)).start()
        grades = judge.grade_batch(["a", "b", "c"])
        assert {g.error for g in grades} <= {"unavailable"}
        assert all(g.score is None and g.details["attempts"] == 3 for g in grades)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
