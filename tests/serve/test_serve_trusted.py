"""`rft serve-graders --trust-code --api-key-env VAR --workers 2`: python graders in the sandbox,
judges on the config's own backend, the bearer token, the lanes, and SIGTERM."""

from __future__ import annotations

import os
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

import rft
from rft.testing import FaultServer

KEY = "s3cret-token-for-tests"


def python(source: str, **extra) -> dict:
    return {"type": "python", "name": "py", "source": source, **extra}


@pytest.fixture(scope="module")
def judge_server():
    """An OpenAI-compatible judge on loopback: the server's --judge."""
    with FaultServer([{"reply": "Score: 1"}]).start() as fault:
        yield fault


@pytest.fixture(scope="module")
def server(start_server, cache_dir, judge_server):
    with start_server("--trust-code", "--workers", "2", "--api-key-env", "RFT_SERVE_TEST_KEY",
                      "--judge", judge_server.url,
                      env={"RFT_CACHE": cache_dir, "RFT_SERVE_TEST_KEY": KEY}) as served:
        yield served


@pytest.fixture(scope="module")
def client(server):
    return server.client(api_key=KEY)


def test_python_grader_runs_and_matches_in_process(client):
    source = ("def grade(sample, item):\n"
              "    data = sample['output_json'] or {}\n"
              "    return 0.5 * (data.get('answer') == item['answer']) + 0.5 * (sample['output_text'][:1] == '{')\n")
    config = python(source)
    for sample, item in (('{"answer": 4}', {"answer": 4}), ('{"answer": 5}', {"answer": 4}), ("4", {"answer": 4})):
        resp = client.fine_tuning.alpha.graders.run(grader=config, model_sample=sample, item=item)
        with rft.load_grader(config, trust_code=True) as local:
            assert resp.reward == local.grade(sample, item).score
        assert (resp.metadata.type, resp.metadata.name) == ("python", "py")


def test_the_refused_proof_source_does_run_when_trusted(client, proof):
    """The counterpart of test_serve_graders' refusal: this source leaves its files when it runs."""
    folder, source = proof
    assert client.fine_tuning.alpha.graders.validate(grader=python(source)).grader.name == "py"
    assert os.listdir(folder) == []  # validating compiles the source, never runs it
    resp = client.fine_tuning.alpha.graders.run(grader=python(source), model_sample="x", item={})
    assert resp.reward == 1.0
    assert sorted(os.listdir(folder)) == ["graded", "loaded"]


@pytest.mark.parametrize("body, flag, says", [
    ("    return 1 / 0", "python_grader_runtime_error", "ZeroDivisionError"),
    ("    return 'high'", "python_grader_runtime_error", "'high'"),
    ("    import time\n    time.sleep(30)", "unresponsive_reward_error", None),
])
def test_python_failures_set_openais_flags(client, body, flag, says):
    config = python(f"def grade(sample, item):\n{body}\n", timeout=1)
    resp = client.fine_tuning.alpha.graders.run(grader=config, model_sample="x", item={})
    assert resp.reward is None
    errors = resp.to_dict()["metadata"]["errors"]
    assert errors[flag] is True
    assert [k for k, v in errors.items() if v is True] == [flag]
    if says:
        assert says in errors["python_grader_runtime_error_details"]


def test_function_is_refused_even_with_trust_code(client):
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client.fine_tuning.alpha.graders.run(grader={"type": "python", "name": "p", "function": "os:getcwd"},
                                             model_sample="x")
    assert caught.value.param == "grader.function"


def test_judge_on_the_configs_own_backend(client):
    config = {"type": "score_model", "name": "j", "model": "served-judge", "cache": False,
              "input": [{"role": "user", "content": "Rate 0-1: {{sample.output_text}}"}]}
    with FaultServer([{"reply": "Score: 1"}, {"status": 500}]).start() as judge_server:
        backend = {"type": "openai", "base_url": judge_server.url, "max_retries": 0}
        ok = client.fine_tuning.alpha.graders.run(grader={**config, "backend": backend}, model_sample="yes")
        down = client.fine_tuning.alpha.graders.run(grader={**config, "backend": backend}, model_sample="no")
        assert judge_server.bodies[0]["model"] == "served-judge"
    assert ok.reward == 1.0 and ok.metadata.sampled_model_name == "served-judge"
    assert down.reward is None
    errors = down.to_dict()["metadata"]["errors"]
    assert errors["model_grader_server_error"] is True and "500" in errors["model_grader_server_error_details"]


def test_judges_without_a_backend_go_to_the_servers_judge_url(client, judge_server):
    """--judge URL: a config written for OpenAI reaches that server under its own model name."""
    config = {"type": "score_model", "name": "j", "model": "gpt-4o-2024-08-06", "cache": False,
              "input": [{"role": "user", "content": "Rate 0-1: {{sample.output_text}}"}]}
    before = judge_server.requests
    resp = client.fine_tuning.alpha.graders.run(grader=config, model_sample="an answer only this test sends")
    assert judge_server.requests == before + 1
    assert judge_server.bodies[-1]["model"] == "gpt-4o-2024-08-06"
    assert "an answer only this test sends" in judge_server.bodies[-1]["messages"][-1]["content"]
    assert resp.reward == 1.0 and resp.metadata.sampled_model_name == "gpt-4o-2024-08-06"


def test_the_api_key_is_required(server, client):
    check = {"type": "string_check", "name": "s", "input": "{{sample.output_text}}", "reference": "a",
             "operation": "eq"}
    for wrong in ("", "s3cret-token-for-test", KEY + "x"):
        with pytest.raises(openai.AuthenticationError) as caught:
            server.client(api_key=wrong or "-").fine_tuning.alpha.graders.run(grader=check, model_sample="a")
        assert caught.value.code == "invalid_api_key"
    request = urllib.request.Request(f"{server.url}/fine_tuning/alpha/graders/validate", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as no_header:
        urllib.request.urlopen(request, timeout=10)
    assert no_header.value.code == 401 and no_header.value.headers["WWW-Authenticate"] == "Bearer"
    assert client.fine_tuning.alpha.graders.run(grader=check, model_sample="a").reward == 1.0
    with urllib.request.urlopen(f"{server.url}/health", timeout=10) as resp:  # health needs no key
        assert resp.status == 200


def test_a_full_slow_lane_does_not_hold_up_string_checks(server, client):
    """Both slow-lane slots (--workers 2) busy with python graders; a string check still answers
    while they run. No clock is read: the slow calls are seen unfinished after the fast one."""
    def slow(i: int) -> float | None:
        source = f"import time\ndef grade(sample, item):\n    time.sleep(2.5)  # grader {i}\n    return 1.0\n"
        return client.fine_tuning.alpha.graders.run(grader=python(source, timeout=30), model_sample="x").reward

    with ThreadPoolExecutor(2) as pool:
        pending = [pool.submit(slow, i) for i in range(2)]
        while server.stats(KEY)["lanes"]["slow"]["busy"] < 2:
            assert not any(f.done() for f in pending), [f.result() for f in pending if f.done()]
            time.sleep(0.05)
        check = {"type": "string_check", "name": "fast", "input": "{{sample.output_text}}", "reference": "a",
                 "operation": "eq"}
        assert client.fine_tuning.alpha.graders.run(grader=check, model_sample="a").reward == 1.0
        assert not any(f.done() for f in pending)
        assert server.stats(KEY)["lanes"]["slow"]["busy"] == 2
        assert [f.result() for f in pending] == [1.0, 1.0]


def test_sigterm_lets_the_request_in_flight_finish(start_server):
    with start_server("--trust-code") as served:
        client = served.client()
        source = "import time\ndef grade(sample, item):\n    time.sleep(1)\n    return 1.0\n"
        result: list = []
        thread = threading.Thread(target=lambda: result.append(client.fine_tuning.alpha.graders.run(
            grader=python(source), model_sample="x").reward))
        thread.start()
        while served.stats()["lanes"]["slow"]["busy"] < 1:
            time.sleep(0.02)
        code, stderr = served.stop()
        thread.join(30)
    assert result == [1.0]  # answered, not cut off
    assert code == 0 and "stopped (SIGTERM)" in stderr, stderr
