"""tune_until: the keep/rollback decision, rollback on the real loop, resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytest.importorskip("trl")

import rft
from rft.tuning._until import GateSuite, _decide, compare_scores, tune_until

ROWS = [{"id": i, "prompt": f"Say {i}", "answer": str(i)} for i in range(6)]


def _scores(target, guard=None):
    """Per-item target scores (and a guard score) in the shape _decide reads."""
    per_item = {str(i): float(v) for i, v in enumerate(target)}
    out = {"target": {"score": sum(target) / len(target), "per_item": per_item}, "guards": {}}
    if guard is not None:
        out["guards"]["g"] = {"score": guard, "per_item": {}}
    return out


def _suite(name, **kw):
    return GateSuite(name, ROWS, [rft.StringCheck(name=f"{name}_check", reference="x")], **kw)


@pytest.mark.parametrize(
    "before, after, guard_before, guard_after, keep_if, min_delta, kept, why",
    [
        pytest.param([0] * 20, [1] * 10 + [0] * 10, 0.9, 0.9, "ci", 0.0, True, "CI", id="clear gain, guard flat: keep"),
        pytest.param([0] * 20, [1] + [0] * 19, 0.9, 0.9, "ci", 0.0, False, "not an improvement", id="one item better: CI includes 0"),
        pytest.param([0] * 20, [1] + [0] * 19, 0.9, 0.9, "delta", 0.0, True, "min_delta", id="delta rule keeps any gain"),
        pytest.param([0] * 20, [1] + [0] * 19, 0.9, 0.9, "delta", 0.1, False, "not an improvement", id="gain below min_delta"),
        pytest.param([0] * 20, [1] * 10 + [0] * 10, 0.9, 0.8, "ci", 0.0, False, "guard g", id="guard beyond tolerance: roll back"),
        pytest.param([0] * 20, [1] * 10 + [0] * 10, 0.9, 0.86, "ci", 0.0, True, "within tolerance", id="guard drop inside tolerance"),
        pytest.param([1] * 20, [1] * 20, 0.9, 0.9, "delta", 0.0, False, "not an improvement", id="no change is not a gain"),
    ],
)
def test_decide(before, after, guard_before, guard_after, keep_if, min_delta, kept, why):
    target, guard = _suite("t"), _suite("g", tolerance=0.05)
    best = _scores(before, guard_before)
    ok, reason, cmp = _decide(_scores(after, guard_after), best, best, target, [guard], keep_if, min_delta, seed=0)
    assert ok is kept and why in reason
    assert cmp["n"] == 20


def test_compare_scores_pairs_by_item():
    r = compare_scores({"a": 1.0, "b": 0.0}, {"b": 1.0, "c": 1.0})
    assert r["n"] == 1 and r["delta"] == 1.0


def test_rollback_restores_the_best_model_lowers_the_lr_and_stops(tmp_path, tiny_model_path):
    import torch

    from rft.models import load_model

    never = {"name": "never", "data": ROWS, "graders": [rft.StringCheck(name="never", reference="IMPOSSIBLE", operation="like")],
             "max_new_tokens": 4}
    guard = {"name": "guard", "data": ROWS, "graders": [rft.StringCheck(name="no_zzz", reference="zzz", operation="ne")],
             "max_new_tokens": 4, "tolerance": 0.0}
    varied = rft.StringCheck(name="has_e", reference="e", operation="ilike")
    config = rft.TuneConfig(num_generations=2, per_device_train_batch_size=2, max_completion_length=4, learning_rate=0.05)
    result = tune_until(str(tiny_model_path), ROWS, never, [guard], graders=[varied], rounds=4, steps_per_round=1,
                        config=config, keep_if="delta", on_reject="lower_lr", lr_factor=0.5, max_rejects=2,
                        output_dir=tmp_path / "run", progress=False)
    assert [r.kept for r in result.rounds] == [False, False]
    assert [r.lr for r in result.rounds] == [0.05, 0.025]
    assert result.best_round == 0 and "2 rejected rounds" in result.stopped
    best, _ = result.load_model()
    start, _ = load_model(tiny_model_path)
    assert all(torch.equal(a, b) for a, b in zip(best.state_dict().values(), start.state_dict().values()))
    for kind in ("json", "markdown", "html", "plot"):
        assert os.path.getsize(result.files[kind]) > 100
    saved = json.loads(open(result.files["json"]).read())
    assert saved["rounds"][0]["kept"] is False and "not an improvement" in saved["rounds"][0]["reason"]
    assert not (tmp_path / "run" / "rounds" / "round_001" / "model").exists()  # rejected weights deleted


_SCRIPT = """
import sys, rft
from rft.tuning._until import tune_until
rows = [{"id": i, "prompt": f"Say {i}"} for i in range(4)]
target = {"name": "t", "data": rows, "graders": [rft.StringCheck(name="has_e", reference="e", operation="ilike")],
          "max_new_tokens": 4}
config = rft.TuneConfig(num_generations=2, per_device_train_batch_size=2, max_completion_length=4, learning_rate=0.05)
r = tune_until(sys.argv[1], rows, target, rounds=3, steps_per_round=1, config=config, keep_if="delta",
               on_reject="continue", max_rejects=5, output_dir=sys.argv[2], progress=True)
print("ROUNDS", len(r.rounds), flush=True)
"""


def test_resume_after_sigkill_redoes_no_finished_work(tmp_path, tiny_model_path):
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(_SCRIPT))
    out = tmp_path / "run"
    state = out / "state.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(script), str(tiny_model_path), str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if state.is_file() and json.loads(state.read_text())["rounds"]:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stdout.read().decode()[-2000:]
    before = json.loads(state.read_text())
    assert len(before["rounds"]) == 1
    baseline_results = out / "baseline" / "target" / "results.jsonl"
    stamp = baseline_results.stat().st_mtime_ns, baseline_results.stat().st_size

    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "resuming" in done.stdout and "1 round(s) finished" in done.stdout
    assert "baseline: evaluating" not in done.stdout and "round 1: training" not in done.stdout
    assert "ROUNDS 3" in done.stdout
    after = json.loads(state.read_text())
    assert after["rounds"][0] == before["rounds"][0]  # finished work kept as it was
    assert (baseline_results.stat().st_mtime_ns, baseline_results.stat().st_size) == stamp
    assert (out / "best" / "config.json").is_file() and (out / "report.md").is_file()


def test_an_eval_suite_is_accepted_as_a_gate():
    from rft.tuning._until import as_gate_suite

    suite = rft.Suite.from_dict({"name": "s", "data": ROWS, "graders": [{"type": "string_check", "name": "m", "reference": "x"}],
                                 "generation": {"max_new_tokens": 7, "temperature": 0}, "limit": 3})
    gate = as_gate_suite(suite, "target")
    assert (gate.name, gate.grader_name, gate.max_new_tokens, gate.limit) == ("s", "m", 7, 3)
    assert len(gate.rows()) == 3
