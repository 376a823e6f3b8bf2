"""evaluate(): targets, pre-flight row checks, report statistics and formats."""

from __future__ import annotations

import dataclasses
import json
import threading
import typing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import rft
from rft import DataError, Grade
from rft.eval import Outputs, Report, evaluate, load_report

ROWS = [
    {"id": "a", "prompt": "say yes", "answer": "yes"},
    {"id": "b", "prompt": "say no", "answer": "no"},
    {"id": "c", "prompt": [{"role": "user", "content": "say yes"}], "answer": "yes"},
]
MATCH = rft.StringCheck(name="match", reference="{{item.answer}}")


class Recorder:
    """A callable target that answers 'yes' and remembers every prompt it saw."""

    def __init__(self, answer="yes"):
        self.seen: list = []
        self.answer = answer

    def __call__(self, prompts):
        self.seen.extend(prompts)
        return [self.answer for _ in prompts]


@rft.register_grader("_eval_test_judge", replace=True)
@dataclasses.dataclass(kw_only=True, eq=True, repr=False)
class FakeJudge(rft.Grader):
    """Scores 1 for 'yes'; reports judge-call details like a model grader; unscored on 'down'."""

    def _evaluate(self, batch, rich):
        out = []
        for t in batch.texts:
            if t == "down":
                out.append(Grade.unscored_because("judge unreachable", error="judge_down", latency_s=2.0))
            else:
                s = 1.0 if t == "yes" else 0.0
                details = {"latency_s": 0.5, "tokens": {"prompt": 10, "completion": 2}, "cache_hit": t == "yes"}
                out.append(Grade(s, reason="judged", details=details))
        return out


def _answering(by_prompt):
    """A target answering each text prompt from ``by_prompt``; other prompts (chat lists) get 'down'."""
    return lambda ps: [by_prompt.get(p, "down") if isinstance(p, str) else "down" for p in ps]


# ----------------------------------------------------------------------------------- pre-flight


@pytest.mark.parametrize(
    "rows,grader,message",
    [
        (
            [{"prompt": "x", "answer": "1"}, {"answer": "2"}],
            MATCH,
            r"row 1: needs a 'prompt' field .* has none \(fields: answer\)",
        ),
        ([{"prompt": 42, "answer": "1"}], MATCH, r"row 0: needs a 'prompt' field .*, got int 42"),
        ([{"prompt": [{"role": "user"}], "answer": "1"}], MATCH, r"row 0: field 'prompt' message 0 is not"),
        ([{"prompt": "x", "answer": "1"}, {"prompt": "y"}], MATCH, r"row 1: no field 'answer' \(grader 'match'"),
        (
            [{"prompt": "x", "meta": "flat"}],
            rft.StringCheck(name="lvl", reference="{{item.meta.level}}"),
            r"row 0: field 'meta' is str, but grader 'lvl' reads \{\{item.meta.level\}\}",
        ),
        (
            [{"prompt": "x", "meta": {}}],
            rft.StringCheck(name="lvl", reference="{{item.meta.level}}"),
            r"row 0: field 'meta' has no key 'level'",
        ),
    ],
    ids=[
        "missing-prompt", "prompt-wrong-type", "bad-chat-message", "missing-grader-field", "nested-not-mapping",
        "nested-missing",
    ],
)
def test_rows_are_checked_before_anything_is_generated(rows, grader, message):
    target = Recorder()
    with pytest.raises(DataError, match=message):
        evaluate(target, rows, grader, progress=False)
    assert target.seen == []  # nothing was generated


def test_precheck_reports_how_many_rows_are_bad():
    rows = [{"prompt": "x"} for _ in range(8)]
    with pytest.raises(DataError, match=r"\(\+3 more problems\); 8 of 8 rows have problems"):
        evaluate(Recorder(), rows, MATCH, progress=False)


def test_fields_read_by_sub_graders_are_checked_too():
    composite = rft.load_grader(
        {"type": "multi", "name": "both", "calculate_output": "a * b",
         "graders": {"a": MATCH.to_config(), "b": {"type": "string_check", "name": "b", "reference": "{{item.other}}"}}}
    )
    with pytest.raises(DataError, match=r"no field 'other' \(grader 'both'"):
        evaluate(Recorder(), ROWS, composite, progress=False)


# ----------------------------------------------------------------------------------- targets


def test_callable_target_statistics_and_item_rows():
    report = evaluate(Recorder(), ROWS, MATCH, progress=False)
    s = report["match"]
    assert (s.n, s.scored, s.passed) == (3, 3, 2)
    assert s.mean == pytest.approx(2 / 3) and s.pass_rate == pytest.approx(2 / 3)
    assert s.ci_low < s.mean < s.ci_high
    assert [i.id for i in report.items] == ["a", "b", "c"]
    assert report.items[1].grades["match"][0].score == 0.0
    assert report.items[2].prompt == ROWS[2]["prompt"]  # chat prompts kept as messages


def test_samples_per_item_gives_pass_at_k_and_mean_at_k():
    answers = iter(["yes", "no", "no", "no", "no", "no", "no", "no"])  # item a: 1 of 4 pass; b: 0 of 4
    report = evaluate(lambda ps: [next(answers) for _ in ps], ROWS[:2], MATCH, samples_per_item=4,
                      batch_size=8, progress=False)
    s = report["match"]
    assert s.n == 8
    # item order in generation is by prompt length; grade each item's own outputs
    passes = {item.id: sum(g.passed for g in item.grades["match"]) for item in report.items}
    expected_k2 = sum(rft.eval.pass_at_k(4, c, 2) for c in passes.values()) / 2
    assert s.pass_at_k[2] == pytest.approx(expected_k2)
    assert s.pass_at_k[4] == pytest.approx(sum(1.0 if c else 0.0 for c in passes.values()) / 2)
    assert s.mean_at_k == pytest.approx(s.mean)  # equal samples per item: item mean = sample mean
    assert "pass@2" in report.table() and "mean@4" in report.table()


def test_unscored_is_counted_by_reason_and_kept_out_of_the_mean():
    by_prompt = {"say yes": "yes", "say no": "no"}  # the chat prompt (a list) gets 'down'
    report = evaluate(_answering(by_prompt), ROWS, FakeJudge(name="judge"), progress=False)
    s = report["judge"]
    assert s.unscored == {"judge_down": 1}
    assert s.scored == 2 and s.mean == pytest.approx(0.5)  # not 1/3: unscored is not 0
    assert s.judge == {"calls": 3, "cache_hits": 1, "tokens": 24, "latency_mean_s": 1.0, "latency_p95_s": 2.0}
    assert "judge_down: 1" in report.table() and "cache hits" in report.table()


def test_outputs_column_and_jsonl_by_id(tmp_path):
    rows = [dict(r, out=["yes", "no"]) for r in ROWS]
    by_column = evaluate(Outputs(column="out"), rows, MATCH, progress=False)
    assert by_column.samples_per_item == 2 and by_column["match"].n == 6
    path = tmp_path / "outs.jsonl"
    lines = [json.dumps({"id": i, "output": o}) for i, o in [("b", "no"), ("a", "no"), ("a", "yes")]]
    path.write_text("\n".join(lines) + "\n")
    by_file = evaluate(str(path), ROWS[:2], MATCH, progress=False)  # a .jsonl path is precomputed outputs
    assert [i.outputs for i in by_file.items] == [["no", "yes"], ["no"]]
    # a: 2 samples, 1 pass (pass@1 0.5, pass@2 1.0); b: 1 passing sample (pass@1 1.0), too few for k=2
    assert by_file["match"].pass_at_k == {1: 0.75, 2: 1.0}


def test_datasets_dataset_input():
    from datasets import Dataset

    ds = Dataset.from_list([{"prompt": "p", "answer": "yes"}, {"prompt": "q", "answer": "no"}])
    assert evaluate(Recorder(), ds, MATCH, progress=False)["match"].mean == 0.5


def test_tiny_hf_model_target_records_sampling_and_tokens(tiny):
    report = evaluate(tiny, ROWS, MATCH, max_new_tokens=5, temperature=0.8, top_p=0.9, seed=7, samples_per_item=2,
                      batch_size=2, progress=False)
    assert report.meta["params"] == {"max_new_tokens": 5, "temperature": 0.8, "top_p": 0.9, "seed": 7, "batch_size": 2}
    assert report.meta["target"]["type"] == "hf" and report.meta["target"]["parameters"] > 0
    tokens = [g["tokens"] for item in report.items for g in item.gen]
    assert len(tokens) == 6 and all(0 <= t <= 5 for t in tokens)
    assert report.meta["timing"]["output_tokens"] == sum(tokens)
    again = evaluate(tiny, ROWS, MATCH, max_new_tokens=5, temperature=0.8, top_p=0.9, seed=7, samples_per_item=2,
                     batch_size=2, progress=False)
    assert [i.outputs for i in again.items] == [i.outputs for i in report.items]  # the seed makes sampling repeatable


def test_tiny_model_folder_greedy_equals_models_generate(tiny, tiny_model_path):
    from rft.models import generate

    report = evaluate(str(tiny_model_path), ROWS, MATCH, max_new_tokens=6, progress=False)
    model, tok = tiny
    direct = generate(model, tok, [r["prompt"] for r in ROWS], max_new_tokens=6)
    assert [i.outputs for i in report.items] == direct


class _ChatHandler(BaseHTTPRequestHandler):
    calls: typing.ClassVar[list] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append(body)
        last = body["messages"][-1]["content"]
        message = {"role": "assistant", "content": "yes" if "yes" in last else "maybe"}
        choices = [{"index": i, "finish_reason": "stop", "message": message} for i in range(body.get("n", 1))]
        reply = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"], "choices": choices}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_openai_compatible_endpoint_over_real_http():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ChatHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/v1"
        report = evaluate(f"openai:tiny-chat@{url}", ROWS, MATCH, samples_per_item=2, temperature=0.5, progress=False)
    finally:
        server.shutdown()
    assert [i.outputs for i in report.items] == [["yes", "yes"], ["maybe", "maybe"], ["yes", "yes"]]
    sent = _ChatHandler.calls
    assert {c["model"] for c in sent} == {"tiny-chat"} and all(c["n"] == 2 and c["seed"] == 0 for c in sent)
    # A string prompt is sent as one user message.
    assert any(c["messages"] == [{"role": "user", "content": "say no"}] for c in sent)
    assert report.meta["target"] == {"type": "openai", "model": "tiny-chat", "base_url": url}


@pytest.mark.parametrize(
    "target,message",
    [
        (42, "cannot evaluate a int"),
        ({"outputs_column": "x", "extra": 1}, "unknown target"),
        ("openai:@http://x", "names no model"),
    ],
    ids=["int", "bad-mapping", "openai-no-model"],
)
def test_bad_targets_are_config_errors(target, message):
    with pytest.raises(rft.ConfigError, match=message):
        evaluate(target, ROWS, MATCH, progress=False)


def test_callable_returning_wrong_count_is_named():
    with pytest.raises(rft.ConfigError, match="returned 1 outputs for 3 prompts"):
        evaluate(lambda ps: ["x"], ROWS, MATCH, batch_size=4, progress=False)


def test_duplicate_grader_names_refused():
    with pytest.raises(rft.ConfigError, match="'match' repeats"):
        evaluate(Recorder(), ROWS, [MATCH, MATCH], progress=False)


# ----------------------------------------------------------------------------------- report formats


def _report() -> Report:
    by_prompt = {"say yes": "yes", "say no": "<script>alert(1)</script>"}
    return evaluate(_answering(by_prompt), ROWS, [MATCH, FakeJudge(name="judge")], progress=False)


def test_report_save_load_round_trip(tmp_path):
    report = _report()
    path = report.save(tmp_path)
    assert path == tmp_path / "report.json"
    loaded = load_report(tmp_path)
    assert loaded.to_dict() == report.to_dict()
    assert loaded.items[2].grades["judge"][0].error == "judge_down"
    with pytest.raises(DataError, match="not an rft report"):
        Report.from_dict({"format": "other"})


def test_report_text_markdown_pandas_html():
    report = _report()
    assert str(report).splitlines()[0].startswith("rft evaluation of")
    md = report.to_markdown()
    assert "| match | 3 |" in md and "Sampling: max_new_tokens=128" in md
    df = report.to_pandas()
    assert list(df["match.score"]) == [1.0, 0.0, 0.0] and df["judge.error"].iloc[2] == "judge_down"
    page = report._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;" in page  # hostile outputs are escaped
    assert "Failing examples" in page


def test_report_plot_has_one_panel_per_grader():
    import matplotlib

    matplotlib.use("Agg")
    fig = _report().plot()
    assert [ax.get_title().split("\n")[0] for ax in fig.axes] == ["match", "judge"]


def test_sub_grader_rows_follow_their_parent():
    both = rft.load_grader(
        {"type": "multi", "name": "both", "calculate_output": "(a + b) / 2",
         "graders": {"a": MATCH.to_config(), "b": {"type": "string_check", "name": "b", "reference": "yes"}}}
    )
    report = evaluate(Recorder("no"), ROWS, both, progress=False)
    names = [(s.grader, s.depth) for s in report.stats]
    assert names[0] == ("both", 0) and ("both.a", 1) in names and ("both.b", 1) in names
    assert report["both.b"].mean == 0.0 and report["both.a"].mean == pytest.approx(1 / 3)


def test_outputs_file_may_cover_more_rows_but_not_fewer(tmp_path):
    path = tmp_path / "outs.jsonl"
    path.write_text("".join(json.dumps({"id": i, "output": "yes"}) + "\n" for i in "abcxyz"))
    assert evaluate(Outputs(path), ROWS[:2], MATCH, progress=False)["match"].n == 2  # x, y, z: other rows, ignored
    path.write_text(json.dumps({"id": "a", "output": "yes"}) + "\n")
    with pytest.raises(DataError, match=r"row 1 \(id 'b'\) has no output in"):
        evaluate(Outputs(path), ROWS[:2], MATCH, progress=False)


def test_a_real_score_model_judge_reports_latency_tokens_and_cache():
    from rft.graders._model import ScoreModel
    from rft.judge import ScriptedBackend

    judge = ScoreModel(
        name="helpful",
        range=[1, 5],
        backend=ScriptedBackend(["Score: 4", "Score: 2", "no verdict"]),
        input=[{"role": "user", "content": "Rate 1-5 ({{item.answer}}): {{sample.output_text}}"}],
        cache=False,
    )
    report = evaluate(Recorder(), ROWS, judge, progress=False)
    s = report["helpful"]
    # Rows a and c render the same judge prompt: asked once, the repeat is served as a cache hit.
    assert s.n == 3 and s.judge["calls"] == 3 and s.judge["cache_hits"] == 1
    assert s.judge["latency_mean_s"] is not None and s.scored == 3
    assert "judge calls" in report.table()
