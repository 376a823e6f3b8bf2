"""`rft serve-graders` without --trust-code, driven by the official openai SDK over loopback.

One server process for the module. Every served reward is checked against
``rft.load_grader(config).grade(sample, item)`` in this process: the server adds no semantics of
its own, apart from OpenAI's rule that ``sample.output_json`` is filled only when the whole
``model_sample`` is JSON.
"""

from __future__ import annotations

import http.client
import json
import os
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import openai
import pytest

import rft

CONTACT = {  # OpenAI's contact-extraction multi grader (shared/REFERENCE.md section 1)
    "type": "multi", "name": "contact",
    "graders": {
        "name": {"type": "text_similarity", "name": "n", "input": "{{sample.output_json.name}}",
                 "reference": "{{item.name}}", "evaluation_metric": "fuzzy_match"},
        "email": {"type": "string_check", "name": "e", "input": "{{sample.output_json.email}}",
                  "reference": "{{item.email}}", "operation": "eq"},
    },
    "calculate_output": "(name + email) / 2",
}


def string_check(operation: str, reference: str = "{{item.answer}}") -> dict:
    return {"type": "string_check", "name": f"check_{operation}", "input": "{{sample.output_text}}",
            "reference": reference, "operation": operation}


def judge(replies: list[str], **extra) -> dict:
    return {"type": "score_model", "name": "helpful", "model": "gpt-4o-2024-08-06", "range": [1, 5],
            "input": [{"role": "system", "content": "Rate the answer from 1 to 5."},
                      {"role": "user", "content": "Q: {{item.question}}\nA: {{sample.output_text}}"}],
            "backend": {"type": "scripted", "replies": replies}, "cache": False, **extra}


@pytest.fixture(scope="module")
def server(start_server, cache_dir):
    with start_server("--judge", "tiny", "--workers", "4", env={"RFT_CACHE": cache_dir}) as served:
        yield served


@pytest.fixture(scope="module")
def client(server):
    return server.client()


def local(config: dict, sample, item: dict | None = None) -> rft.Grade:
    """The same config graded in this process, as the served reward must be."""
    return rft.load_grader(config).grade(sample, item)


def raw(server, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> tuple[int, dict]:
    """A request below the SDK (no retries, no JSON encoding): status and parsed body."""
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.request(method, parts.path + path, body=body, headers=headers or {"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------- run


@pytest.mark.parametrize("operation, sample, answer", [
    ("eq", "42", "42"),               # equal: 1
    ("eq", "42 ", "42"),              # eq is exact: 0
    ("ne", "41", "42"),               # not equal: 1
    ("like", "it is 42.", "42"),      # contains: 1
    ("like", "It Is FORTY", "forty"),  # like is case-sensitive: 0
    ("ilike", "It Is FORTY", "forty"),  # ilike is not: 1
])
def test_string_check_reward_is_rfts(client, operation, sample, answer):
    config = string_check(operation)
    resp = client.fine_tuning.alpha.graders.run(grader=config, model_sample=sample, item={"answer": answer})
    assert resp.reward == local(config, sample, {"answer": answer}).score
    assert resp.sub_rewards == {} and resp.model_grader_token_usage_per_model == {}
    meta = resp.metadata
    assert (meta.name, meta.type) == (f"check_{operation}", "string_check")
    assert (meta.sampled_model_name, meta.token_usage) == (None, None)
    assert meta.execution_time >= 0
    assert not any(v for k, v in meta.errors.to_dict().items() if not k.endswith(("_details", "_type")))


@pytest.mark.parametrize("metric", ["fuzzy_match", "bleu"])
def test_text_similarity_reward_is_rfts(client, metric):
    config = {"type": "text_similarity", "name": "sim", "input": "{{sample.output_text}}",
              "reference": "{{item.reference}}", "evaluation_metric": metric}
    item = {"reference": "The quick brown fox jumps over the lazy dog"}
    sample = "the quick brown fox jumped over a lazy dog"
    resp = client.fine_tuning.alpha.graders.run(grader=config, model_sample=sample, item=item)
    expected = local(config, sample, item).score
    assert 0 < expected < 1  # a partial match, so equality says something
    assert resp.reward == expected


def test_multi_contact_extraction(client):
    sample = '{"name": "Ada Lovelace", "email": "ada@x.org"}'
    item = {"name": "Ada Lovelace", "email": "ada@example.org"}
    resp = client.fine_tuning.alpha.graders.run(grader=CONTACT, model_sample=sample, item=item)
    expected = local(CONTACT, sample, item)
    assert resp.reward == expected.score == 0.5
    assert resp.sub_rewards == expected.details["sub_rewards"] == {"name": 1.0, "email": 0.0}
    assert resp.metadata.scores == resp.sub_rewards
    assert (resp.metadata.name, resp.metadata.type) == ("contact", "multi")
    assert resp.metadata.errors.sample_parse_error is False


def test_sample_that_is_not_json_raises_sample_parse_error(client):
    item = {"name": "Ada Lovelace", "email": "ada@x.org"}
    resp = client.fine_tuning.alpha.graders.run(grader=CONTACT, model_sample="Ada Lovelace, ada@x.org", item=item)
    assert resp.metadata.errors.sample_parse_error is True
    assert resp.reward == local(CONTACT, "Ada Lovelace, ada@x.org", item).score  # judged (poorly), not unscored


def test_output_json_only_when_the_whole_sample_is_json(client):
    """OpenAI fills output_json only for a sample that is valid JSON; rft's in-process default
    also reads a last fenced block. The server follows OpenAI (the README lists the difference)."""
    fenced = 'Here you go:\n```json\n{"name": "Ada Lovelace", "email": "ada@x.org"}\n```'
    item = {"name": "Ada Lovelace", "email": "ada@x.org"}
    resp = client.fine_tuning.alpha.graders.run(grader=CONTACT, model_sample=fenced, item=item)
    assert resp.metadata.errors.sample_parse_error is True
    assert resp.reward == local(CONTACT, {"output_text": fenced, "output_json": None}, item).score
    assert resp.reward < local(CONTACT, fenced, item).score == 1.0


def test_unscored_is_null_with_the_reason(client):
    resp = client.fine_tuning.alpha.graders.run(grader=string_check("eq"), model_sample="42", item={})
    assert resp.reward is None  # never a 0 that reads as "judged wrong"
    assert resp.metadata.errors.invalid_variable_error is True
    assert resp.grade["details"]["error"] == "missing_field"
    assert "item.answer" in resp.grade["reason"]


def test_item_may_be_omitted(client):
    resp = client.fine_tuning.alpha.graders.run(grader=string_check("eq", reference="yes"), model_sample="yes")
    assert resp.reward == 1.0


def test_async_client_works_unchanged(server):
    import asyncio

    async def main():
        async with openai.AsyncOpenAI(base_url=server.url, api_key="unused") as client:
            calls = [client.fine_tuning.alpha.graders.run(grader=string_check("eq"), model_sample=str(i),
                                                          item={"answer": "3"}) for i in range(8)]
            return [r.reward for r in await asyncio.gather(*calls)]

    assert asyncio.run(main()) == [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]


# ------------------------------------------------------------------------------------------ judges


def test_score_model_with_a_scripted_judge(client):
    config = judge(["The answer is right. Score: 4"])
    item = {"question": "Capital of France?"}
    resp = client.fine_tuning.alpha.graders.run(grader=config, model_sample="Paris", item=item)
    expected = local(config, "Paris", item)
    assert resp.reward == expected.score == 0.75  # 4 on [1, 5], normalised as rft does
    assert resp.grade["details"]["raw_score"] == 4.0
    assert resp.metadata.sampled_model_name == "gpt-4o-2024-08-06"
    assert set(resp.model_grader_token_usage_per_model) == {"gpt-4o-2024-08-06"}


@pytest.mark.parametrize("reply, flag", [
    ("I'm sorry, I can't help with rating this.", "model_grader_refusal_error"),
    ("Looks fine to me.", "model_grader_parse_error"),
    ("Score: 9", "model_grader_parse_error"),  # off the [1, 5] scale: unscored, not clipped
])
def test_judge_failures_set_openais_flags(client, reply, flag):
    resp = client.fine_tuning.alpha.graders.run(grader=judge([reply]), model_sample="Paris",
                                                item={"question": "Capital of France?"})
    assert resp.reward is None
    assert resp.to_dict()["metadata"]["errors"][flag] is True


def test_judge_replies_are_cached_across_requests(client):
    config = judge(["Score: 5"], cache=True, name="cached")
    item = {"question": "A question only this test asks"}
    first = client.fine_tuning.alpha.graders.run(grader=config, model_sample="Paris", item=item)
    second = client.fine_tuning.alpha.graders.run(grader=config, model_sample="Paris", item=item)
    assert first.reward == second.reward == 1.0
    assert (first.grade["details"]["cache_hit"], second.grade["details"]["cache_hit"]) == (False, True)


def test_judges_without_a_backend_run_on_the_servers_model(client):
    """A config written for OpenAI names gpt-4o; served, it runs on --judge (here the tiny model)."""
    config = {**judge([]), "sampling_params": {"max_completions_tokens": 4}}
    del config["backend"]
    item = {"question": "Capital of France?"}
    resp = client.fine_tuning.alpha.graders.run(grader=config, model_sample="Paris", item=item)
    assert resp.metadata.sampled_model_name == "tiny"
    usage = resp.model_grader_token_usage_per_model["tiny"]
    assert usage["prompt_tokens"] > 0 and resp.metadata.token_usage == usage["total_tokens"]
    # The tiny model is random: a verdict in range, or unscored with the parse flag, never both.
    errors = resp.metadata.errors
    assert (resp.reward is None) == (errors.model_grader_parse_error or errors.model_grader_refusal_error)


# -------------------------------------------------------------------------------------- validate


@pytest.mark.parametrize("config", [string_check("eq"), CONTACT, judge(["Score: 1"])], ids=["string", "multi", "judge"])
def test_validate_a_good_grader(client, config):
    resp = client.fine_tuning.alpha.graders.with_raw_response.validate(grader=config)
    assert resp.http_response.json() == {"grader": config}
    assert resp.parse().grader.name == config["name"]


@pytest.mark.parametrize("config, param", [
    ({**string_check("eq"), "operation": "equals"}, "grader.operation"),
    ({**CONTACT, "graders": {**CONTACT["graders"], "email": {**CONTACT["graders"]["email"], "operation": "is"}}},
     "grader.graders.email.operation"),
    ({**CONTACT, "calculate_output": "(name + phone) / 2"}, "grader.calculate_output"),
    ({**string_check("eq"), "type": "string_chek"}, "grader.type"),
    ({"type": "text_similarity", "name": "s", "input": "{{sample.output_text}}", "evaluation_metric": "bleu"},
     "grader.reference"),
    ({**judge([]), "range": [5, 1]}, "grader.range"),
])
def test_validate_a_bad_grader_names_the_field(client, config, param):
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.alpha.graders.validate(grader=config)
    assert caught.value.status_code == 400
    assert caught.value.param == param
    assert caught.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError) as again:  # run refuses the same config the same way
        client.fine_tuning.alpha.graders.run(grader=config, model_sample="x", item={})
    assert again.value.param == param


# ------------------------------------------------------------------------------------------ safety


def test_untrusted_python_grader_is_refused_and_never_runs(client, proof):
    folder, source = proof
    python = {"type": "python", "name": "proof", "source": source}
    inside = {"type": "multi", "name": "m", "calculate_output": "p", "graders": {"p": python}}
    for config, param in ((python, "grader.source"), (inside, "grader.graders.p.source")):
        for call in (lambda c=config: client.fine_tuning.alpha.graders.run(grader=c, model_sample="x", item={}),
                     lambda c=config: client.fine_tuning.alpha.graders.validate(grader=c)):
            with pytest.raises(openai.PermissionDeniedError) as caught:
                call()
            assert caught.value.status_code == 403 and caught.value.param == param
            assert "--trust-code" in caught.value.message
    assert os.listdir(folder) == []  # test_serve_trusted shows this very source does write both files


@pytest.mark.parametrize("judge_extra, param", [
    ({"backend": {"type": "openai", "base_url": "http://127.0.0.1:9/v1"}}, "grader.backend.base_url"),
    ({"backend": {"type": "openai", "api_key_env": "HOME"}}, "grader.backend.api_key_env"),
    ({"backend": {"type": "callable", "function": "os:system"}}, "grader.backend.function"),
    ({"cache": "/tmp/somewhere.sqlite"}, "grader.cache"),
    ({"backend": {"type": "local"}, "model": "/srv/models/judge"}, "grader.model"),
])
def test_untrusted_configs_may_not_reach_the_servers_secrets_files_or_code(client, judge_extra, param):
    config = {**judge(["Score: 1"]), **judge_extra}
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client.fine_tuning.alpha.graders.run(grader=config, model_sample="x", item={"question": "q"})
    assert caught.value.param == param


def test_a_burst_of_64_threads(client, server):
    configs = [string_check("eq"), string_check("ilike"), CONTACT]

    def call(i: int) -> tuple[float | None, float | None]:
        config = configs[i % 3]
        if config is CONTACT:
            item = {"name": f"N{i}", "email": f"{i}@x.org"}
            sample = json.dumps(item)
        else:
            sample, item = f"Answer {i}", {"answer": f"answer {i}" if i % 2 else f"Answer {i}"}
        served = client.fine_tuning.alpha.graders.run(grader=config, model_sample=sample, item=item).reward
        return served, local(config, sample, item).score

    before = server.stats()["requests"]
    with ThreadPoolExecutor(64) as pool:
        results = list(pool.map(call, range(256)))
    assert all(served == expected for served, expected in results)
    assert sum(served == 1.0 for served, _ in results) > 100  # not vacuous: most calls pass
    assert server.stats()["requests"] - before == 256 + 1


def test_bad_bodies_get_400_and_413_and_the_server_keeps_answering(client, server):
    for body, param in ((b'{"grader": {"type": "string_check"', None),  # cut short
                        (b"\xff\xfe not utf-8", None),
                        (b'["grader"]', None),                       # JSON, but not an object
                        (b'{"grader": {}, "model_sample": 42}', "model_sample"),
                        (b'{"grader": "gsm8k_answer", "model_sample": "x"}', "grader"),  # no catalogue or file names
                        (b'{"grader": {"type": "string_check"}, "model_sample": "x", "item": [1]}', "item")):
        status, error = raw(server, "POST", "/fine_tuning/alpha/graders/run", body)
        assert status == 400, (body, error)
        assert error["error"]["type"] == "invalid_request_error" and error["error"]["param"] == param
    oversized = json.dumps({"grader": string_check("eq"), "model_sample": "x" * (9 * 1024 * 1024)}).encode()
    status, error = raw(server, "POST", "/fine_tuning/alpha/graders/run", oversized)
    assert status == 413 and error["error"]["code"] == "request_too_large"
    chunks = (oversized[i:i + 65536] for i in range(0, len(oversized), 65536))  # no Content-Length: counted
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    conn.request("POST", parts.path + "/fine_tuning/alpha/graders/run", body=chunks, encode_chunked=True,
                 headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    assert conn.getresponse().status == 413
    conn.close()
    assert raw(server, "GET", "/fine_tuning/alpha/graders/run")[0] == 405
    status, error = raw(server, "POST", "/fine_tuning/jobs", b"{}")
    assert status == 404 and "graders/run" in error["error"]["message"]
    resp = client.fine_tuning.alpha.graders.run(grader=string_check("eq"), model_sample="7", item={"answer": "7"})
    assert resp.reward == 1.0


# -------------------------------------------------------------------------------------- extension


def test_grade_many_samples_in_one_call(client):
    samples = [json.dumps({"name": "Ada Lovelace", "email": f"ada{i % 3}@x.org"}) for i in range(50)]
    items = [{"name": "Ada Lovelace", "email": "ada0@x.org"}] * 50
    body = {"grader": CONTACT, "samples": samples, "items": items}
    resp = client.post("/rft/grade", body=body, cast_to=object)
    expected = rft.load_grader(CONTACT).grade_batch(samples, items)
    assert [r["reward"] for r in resp["data"]] == [g.score for g in expected]
    assert [r["sub_rewards"] for r in resp["data"]] == [g.details["sub_rewards"] for g in expected]
    with pytest.raises(openai.BadRequestError) as caught:
        client.post("/rft/grade", body={**body, "items": items[:3]}, cast_to=object)
    assert caught.value.param == "items"


def test_health_needs_no_key(server):
    status, body = raw(server, "GET", "/health")
    assert status == 200 and body == {"status": "ok"}


def test_stats_count_lanes(server):
    stats = server.stats()
    assert stats["lanes"]["fast"]["size"] == stats["lanes"]["slow"]["size"] == 4
    assert stats["graders_built"] >= 1


def test_cli_refuses_an_unset_key_variable_and_a_busy_port(capsys, monkeypatch):
    import socket

    from rft.cli import main

    monkeypatch.delenv("RFT_SERVE_UNSET_KEY", raising=False)
    assert main(["serve-graders", "--port", "0", "--api-key-env", "RFT_SERVE_UNSET_KEY"]) == 2
    assert "RFT_SERVE_UNSET_KEY" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert main(["serve-graders", "--port", str(busy.getsockname()[1])]) == 2
    assert "pick another --port" in capsys.readouterr().err
