"""The local backend (tiny model: plumbing only), `rft serve-judge` as a real server process graded
through the openai SDK, and (slow) the embedded default model judging real outputs."""

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request

import pytest

from rft import load_grader
from rft.judge import JudgeRequest, LocalBackend

CONFIG = {
    "type": "score_model", "name": "judge", "range": [1, 5], "cache": False,
    "input": [{"role": "system", "content": "You grade answers."},
              {"role": "user", "content": "Question: {{item.question}}\nAnswer: {{sample.output_text}}\n"
                                          "Rate 1-5. Reply 'Score: N'."}],
    "sampling_params": {"max_completions_tokens": 8},
}
PARSE_ERRORS = {"unparseable", "empty", "refusal", "off_scale", "ambiguous"}


def check_judged(grades):
    """Every grade is a real verdict in range or unscored for a parse reason, with the raw reply kept."""
    for g in grades:
        assert "raw_reply" in g.details
        assert (g.score is not None and 0 <= g.score <= 1) or g.error in PARSE_ERRORS


def test_local_backend_gathers_concurrent_requests_into_batches():
    backend = LocalBackend("tiny", batch_size=8, max_new_tokens=3, gather_ms=50)
    requests = [JudgeRequest((("user", f"q{i}"),), "tiny") for i in range(16)]
    futures = []
    threads = [threading.Thread(target=lambda r=r: futures.append(backend.submit(r))) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    replies = [f.result(timeout=120) for f in futures]
    assert all(r.error is None and isinstance(r.text, str) for r in replies)
    assert backend.batches_run <= 4  # 16 concurrent requests, batch size 8: not 16 one-by-one calls
    assert all(r.prompt_tokens and r.prompt_tokens > 0 for r in replies)


def test_score_model_on_the_tiny_local_model():
    judge = load_grader({**CONFIG, "model": "tiny"})
    grades = judge.grade_batch(["4", "five", "4"], [{"question": "2+2?"}] * 3)
    check_judged(grades)
    assert grades[0].details["raw_reply"] == grades[2].details["raw_reply"]  # greedy, identical request


def test_local_model_failure_is_unscored(tmp_path):
    (tmp_path / "config.json").write_text("{}")  # looks like a model folder, is not one
    judge = load_grader({**CONFIG, "model": str(tmp_path)})
    g = judge.grade("x", {"question": "q"})
    assert g.error == "backend_error"


@pytest.fixture
def served():
    proc = subprocess.Popen(
        [sys.executable, "-m", "rft", "serve-judge", "--model", "tiny", "--port", "0", "--max-new-tokens", "6",
         "--served-name", "tiny-judge"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )
    try:
        line = proc.stdout.readline()
        assert "listening on" in line, line
        yield line.split("listening on", 1)[1].strip()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def _stats(url):
    with urllib.request.urlopen(url.replace("/v1", "/stats")) as resp:
        return json.loads(resp.read())


def test_same_config_graded_over_http_by_serve_judge(served, tmp_path):
    config = {**CONFIG, "model": "tiny-judge", "cache": str(tmp_path / "cache.sqlite"),
              "backend": {"type": "openai", "base_url": served, "max_retries": 1, "timeout_s": 60}}
    judge = load_grader(config)
    rows = [{"question": "2+2?"}, {"question": "3+3?"}, {"question": "2+2?"}]
    grades = judge.grade_batch(["4", "6", "4"], rows)
    check_judged(grades)
    assert all(g.details["prompt_tokens"] > 0 for g in grades)
    assert _stats(served)["completions"] == 2  # the duplicate row was sent once
    again = load_grader(config).grade_batch(["4", "6"], rows[:2])
    # Only verdicts are cached: a reply the parser read is a hit (no request reaches the server),
    # the tiny model's unreadable replies are asked again.
    verdicts = [g.score is not None for g in grades[:2]]
    assert [g.details["cache_hit"] for g in again] == verdicts
    assert _stats(served)["completions"] == 2 + verdicts.count(False)
    import openai

    models = openai.OpenAI(base_url=served, api_key="x").models.list()
    assert [m.id for m in models.data] == ["tiny-judge"]


@pytest.mark.slow
def test_default_model_judges_real_outputs():
    """The embedded 135M model, led by an assistant prefill, returns verdicts the parser reads.
    (It does not judge *well*: see test_judge_agreement for how it compares with humans.)"""
    config = {**CONFIG, "model": "default", "sampling_params": {"max_completions_tokens": 4},
              "input": CONFIG["input"] + [{"role": "assistant", "content": "Score:"}]}
    judge = load_grader(config)
    outputs = ["2 + 2 = 4.", "The answer is 5.", "Paris is the capital of France.", "I like turtles."]
    rows = [{"question": "What is 2+2?"}, {"question": "What is 2+2?"},
            {"question": "What is the capital of France?"}, {"question": "What is the capital of France?"}]
    grades = judge.grade_batch(outputs, rows)
    check_judged(grades)
    assert all(g.details["raw_reply"].startswith("Score:") for g in grades)
    assert sum(g.score is not None for g in grades) >= 3, [g.details["raw_reply"] for g in grades]
