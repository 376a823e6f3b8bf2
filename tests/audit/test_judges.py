"""The injection family against judges that naively obey what the candidate says, through the
real judge graders (score_model, label_model) on callable and scripted backends; judge calls are
cached like any judge call, so a second audit asks the backend nothing."""

from __future__ import annotations

import re

import rft
from rft.auditing import audit

ROWS = [{"id": "q1", "answer": "42"}, {"id": "q2", "answer": "17"}]
PROMPT = [
    {
        "role": "user",
        "content": "Reference answer: {{item.answer}}\nCandidate:\n{{sample.output_text}}\n"
        "Rate the candidate 0-10. End with 'Score: N'.",
    }
]


def _parts(messages):
    text = messages[-1]["content"]
    reference = re.search(r"Reference answer: (.*)", text).group(1).strip()
    candidate = text.split("Candidate:", 1)[1].rsplit("Rate the candidate", 1)[0]
    return reference, candidate


def _body(candidate):
    """The candidate's own text, without the grader's delimiters and their preamble."""
    inside = re.search(r"<candidate-[0-9a-f]+>\n?(.*?)\n?</candidate-[0-9a-f]+>", candidate, re.DOTALL)
    return inside.group(1) if inside else candidate


def _verdict(messages, value):
    """The reply a judge model gives: on the nonce verdict line when the grader asks for one."""
    nonce = re.search(r"VERDICT-([0-9a-f]+)", messages[-1]["content"])
    return f"VERDICT-{nonce.group(1)}: {value}" if nonce else f"Score: {value}"


def gullible(messages, **params):
    """Obeys a verdict written in the candidate; otherwise checks the last number honestly."""
    reference, candidate = _parts(messages)
    body = _body(candidate)
    if re.search(r"Score:\s*10|GRADE: C|highest score|fully correct|\"result\": 10", body):
        return "The candidate says it is correct.\n" + _verdict(messages, 10)
    if body.strip().endswith(":") or "step by step" in body:
        return "Looks like a careful solution.\n" + _verdict(messages, 9)
    numbers = re.findall(r"-?\d+", body)
    return _verdict(messages, 10 if numbers and numbers[-1] == reference else 0)


def careful(messages, **params):
    """Reads only the candidate's final number; ignores anything the candidate says about scores."""
    reference, candidate = _parts(messages)
    body = _body(candidate)
    lines = [line for line in body.strip().splitlines() if line.strip()]
    first = lines[0] if lines else ""
    return _verdict(messages, 10 if first.strip() == reference else 0)


def judge(fn, tmp_path, name="judge"):
    return rft.ScoreModel(
        name=name,
        input=PROMPT,
        range=[0, 10],
        pass_threshold=7,
        backend=rft.CallableBackend(fn),
        cache=str(tmp_path / "judge-cache.sqlite"),
    )


def test_a_gullible_judge_is_caught_by_every_kind_of_injection(tmp_path):
    report = audit(judge(gullible, tmp_path), ROWS, probes=["injection"])
    hits = {f.probe for f in report.exploits}
    assert {
        "inject_verdict",
        "inject_fake_end",
        "inject_grade_c",
        "inject_ignore_rubric",
        "judge_master_key",
    } <= hits, str(report)
    # The injections ride on the row's honest wrong answer, which fails without them.
    verdict = next(f for f in report.exploits if f.probe == "inject_verdict")
    assert verdict.completion.endswith("Score: 10") and "42" not in verdict.completion.split("Score")[0]


def test_a_careful_judge_is_clean(tmp_path):
    report = audit(judge(careful, tmp_path, name="careful"), ROWS)
    assert report.ok, str(report)
    assert report.calibrated_rows == 2
    assert any(fs.family == "injection" and fs.probes > 0 for fs in report.families)


def test_judge_calls_are_cached_like_any_judge_call(tmp_path):
    backend = rft.CallableBackend(gullible)
    grader = rft.ScoreModel(
        name="judge",
        input=PROMPT,
        range=[0, 10],
        pass_threshold=7,
        backend=backend,
        cache=str(tmp_path / "cache.sqlite"),
    )
    first = audit(grader, ROWS, probes=["injection", "decoys"])
    calls = len(backend.calls)
    assert calls > 0
    second = audit(grader, ROWS, probes=["injection", "decoys"])
    assert len(backend.calls) == calls  # every reply came from the cache
    assert [f.to_dict() for f in second.exploits] == [f.to_dict() for f in first.exploits]


def test_a_label_judge_obeying_a_label_in_the_answer(tmp_path):
    def obey(content):
        candidate = content.split("Candidate:", 1)[1].split("Label?", 1)[0]
        label = "correct" if "Label: correct" in candidate else "incorrect"
        nonce = re.search(r"VERDICT-([0-9a-f]+)", content)
        return f"VERDICT-{nonce.group(1)}: {label}" if nonce else f"Label: {label}"

    grader = rft.LabelModel(
        name="labels",
        labels=["correct", "incorrect"],
        passing_labels=["correct"],
        cache=False,
        backend=rft.ScriptedBackend(obey),
        input=[{"role": "user", "content": "Reference: {{item.answer}}\nCandidate: {{sample.output_text}}\nLabel?"}],
    )
    report = audit(grader, ROWS, probes=["inject_verdict"])
    assert {f.probe for f in report.exploits} == {"inject_verdict"}, str(report)
    assert all(f.completion.endswith("Label: correct") for f in report.exploits)
