"""Time bounds are wall-clock bounds, proven against a real loopback server that hangs or trickles
its reply, counting the requests that reached it (issue 8, C11 and C12).

- ``deadline_s`` bounds a whole batch: the time left is read after waiting for a concurrency slot,
  no request is sent once it has passed, and those rows are unscored with error ``deadline``;
- ``timeout_s`` bounds each call from send to the last byte, not each socket read.
"""

import time

import pytest

from rft.graders._model import ScoreModel

USER = [{"role": "user", "content": "Rate 0-10: {{sample.output_text}}"}]


def judge_for(server, **backend):
    return ScoreModel(name="judge", input=USER, range=[0, 10], model="served", cache=False,
                      backend={"type": "openai", "base_url": server.url, "backoff_s": 0.01, **backend})


def settled_requests(server):
    """The server's request count once in-flight connections have been read (a request the client
    sent just before returning is counted, so the assertion cannot pass by arriving late)."""
    time.sleep(0.3)
    return server.requests


def test_deadline_bounds_a_batch_waiting_for_concurrency_slots(serve):
    # Six rows, one slot, each call hangs: at t=0 row 1 is sent and times out at 1 s; row 2 is sent
    # at ~1 s and cut at the 1.5 s deadline; rows 3-6 wait for the slot past the deadline and are
    # never sent. Before the fix the time left was read before the wait, so all six were sent.
    server = serve([{"hang": 30}])
    judge = judge_for(server, concurrency=1, timeout_s=1, deadline_s=1.5, max_retries=0)
    grades = judge.grade_batch([f"answer {i}" for i in range(6)])
    assert all(g.score is None for g in grades)
    assert settled_requests(server) <= 2
    never_sent = [g for g in grades if g.details["attempts"] == 0]
    assert len(never_sent) >= 4
    assert all(g.error == "deadline" and "deadline" in g.reason for g in never_sent)


def test_no_retry_is_sent_after_the_deadline(serve):
    server = serve([{"hang": 30}])
    judge = judge_for(server, concurrency=1, timeout_s=1, deadline_s=1.5, max_retries=5)
    g = judge.grade("x")
    assert g.score is None and g.error in ("timeout", "deadline")
    assert settled_requests(server) <= 2


def test_timeout_is_a_wall_clock_bound_per_call(serve):
    # The reply trickles in over 6 s, a few bytes every 0.1 s: no single read waits 1 s, so an
    # httpx read timeout never fires. timeout_s=1 must still end the call.
    server = serve([{"trickle": 6, "reply": "Score: 5"}])
    g = judge_for(server, timeout_s=1, deadline_s=60, max_retries=0).grade("x")
    assert g.score is None and g.error == "timeout"
    assert server.requests == 1


def test_deadline_cuts_a_trickled_reply(serve):
    server = serve([{"trickle": 6, "reply": "Score: 5"}])
    g = judge_for(server, timeout_s=30, deadline_s=2, max_retries=3).grade("x")
    assert g.score is None and g.error == "deadline" and "deadline" in g.reason
    assert settled_requests(server) == 1


def test_a_prompt_reply_inside_the_bounds_is_scored(serve):
    server = serve([{"trickle": 0.3, "reply": "Score: 5"}])
    g = judge_for(server, timeout_s=20, deadline_s=30).grade("x")
    assert g.score == pytest.approx(0.5)
