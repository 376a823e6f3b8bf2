"""tune_until: both gates, the power check, the pre-flight, rollback, repair and resume after SIGKILL."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytest.importorskip("trl")

import torch

import rft
from rft import Grade
from rft.eval import ItemResult, Report
from rft.tuning._plan import check_power
from rft.tuning._suites import as_tune_suite
from rft.tuning._until import TuneUntil, UntilOptions, judge_round, tune_until

ROWS = [{"id": i, "prompt": f"Say {i}", "answer": str(i)} for i in range(6)]


def _suite(name, **gate):
    return as_tune_suite(
        {"name": name, "data": ROWS, "graders": [rft.StringCheck(name=f"{name}_check", reference="x")], **gate}, name
    )


def _scores(tmp_path, tag, name, values):
    """A saved report of per-item 0/1 results, in the shape the gates read."""
    grader = f"{name}_check"
    items = [ItemResult(i, i, "", ["x"], {grader: [Grade(float(v), bool(v))]}) for i, v in enumerate(values)]
    path = Report(items, [grader]).save(tmp_path / tag / name / "report.json")
    return {"report": str(path), "score": sum(values) / len(values) if values else None}


def _round(tmp_path, tag, target, guard):
    return {"target": _scores(tmp_path, tag, "t", target), "guards": {"g": _scores(tmp_path, tag, "g", guard)}}


BIG_GUARD = [1] * 150 + [0] * 50  # 200 items, pass rate 0.75
# Four items of 200 fail afterwards and none is fixed: -0.02, and the paired interval is tight.
BIG_GUARD_SLIP = [1] * 146 + [0] * 54
# Two of 20 slip: the same sort of drop, but 20 items cannot bound it.
SMALL_GUARD, SMALL_GUARD_SLIP = [1] * 15 + [0] * 5, [1] * 13 + [0] * 7


@pytest.mark.parametrize(
    "before, after, guard_before, guard_after, options, kept, why",
    [
        pytest.param(
            [0] * 20,
            [1] * 10 + [0] * 10,
            BIG_GUARD,
            BIG_GUARD,
            {},
            True,
            "improved (holds)",
            id="clear gain, guard flat: keep",
        ),
        pytest.param(
            [0] * 20,
            [1] + [0] * 19,
            BIG_GUARD,
            BIG_GUARD,
            {},
            False,
            "not improved (fails)",
            id="one item better: CI includes 0",
        ),
        pytest.param(
            [0] * 20,
            [1] + [0] * 19,
            BIG_GUARD,
            BIG_GUARD,
            {"keep_if": "delta"},
            True,
            "holds: delta rule",
            id="delta rule keeps any gain",
        ),
        pytest.param(
            [0] * 20,
            [1] + [0] * 19,
            BIG_GUARD,
            BIG_GUARD,
            {"keep_if": "delta", "min_delta": 0.1},
            False,
            "fails: delta rule",
            id="gain below min_delta",
        ),
        pytest.param(
            [0] * 20,
            [1] * 10 + [0] * 10,
            BIG_GUARD,
            [0] * 200,
            {},
            False,
            "not non-inferior",
            id="guard collapses: roll back",
        ),
        pytest.param(
            [0] * 20,
            [1] * 10 + [0] * 10,
            BIG_GUARD,
            BIG_GUARD_SLIP,
            {},
            True,
            "non-inferior at tolerance 0.05",
            id="small drop on a big guard: non-inferior",
        ),
        pytest.param(
            [0] * 20,
            [1] * 10 + [0] * 10,
            SMALL_GUARD,
            SMALL_GUARD_SLIP,
            {},
            False,
            "not non-inferior",
            id="same drop on 20 items cannot be bounded: rejected",
        ),
        pytest.param(
            [0] * 20,
            [1] * 10 + [0] * 10,
            SMALL_GUARD,
            SMALL_GUARD_SLIP,
            {"guard_rule": "lenient"},
            False,
            "within tolerance (point estimate)",
            id="lenient rule reads the point estimate only",
        ),
        pytest.param(
            [1] * 20, [1] * 20, BIG_GUARD, BIG_GUARD, {"keep_if": "delta"}, False, "fails", id="no change is not a gain"
        ),
    ],
)
def test_gates(tmp_path, before, after, guard_before, guard_after, options, kept, why):
    target, guard = _suite("t"), _suite("g", tolerance=0.05)
    base = _round(tmp_path, "base", before, guard_before)
    new = _round(tmp_path, "new", after, guard_after)
    t, g, target_ok, failing = judge_round(target, [guard], base, base, new, UntilOptions(**options))
    assert (target_ok and not failing) is kept
    assert why in t["describe"] + " " + g["g"]["describe"]
    assert t["vs_best"]["n_paired"] == 20
    # The record carries the numbers the decision used.
    assert g["g"]["vs_baseline"]["metric"] == "pass_rate" and g["g"]["tolerance"] == 0.05


def test_lenient_and_noninferior_disagree_on_a_small_guard(tmp_path):
    """The same 2-of-20 slip (-0.10 point estimate) at tolerance 0.1: lenient passes, non-inferiority cannot."""
    target, guard = _suite("t"), _suite("g", tolerance=0.1)
    base = _round(tmp_path, "base", [0] * 20, SMALL_GUARD)
    new = _round(tmp_path, "new", [1] * 20, SMALL_GUARD_SLIP)
    for rule, holds in (("lenient", True), ("noninferior", False)):
        _, g, _, failing = judge_round(target, [guard], base, base, new, UntilOptions(guard_rule=rule))
        assert g["g"]["holds"] is holds and (failing == []) is holds
        assert g["g"]["vs_baseline"]["delta"] == pytest.approx(-0.1)


def test_power_warning_matches_a_hand_computation(tmp_path):
    """40 guard items, 12 passing, tolerance 0.1, 95% confidence, 80% power."""
    target, guard = _suite("t"), _suite("g", tolerance=0.1)
    baseline = _round(tmp_path, "base", [0, 1] * 20, [1] * 12 + [0] * 28)
    [t, g] = check_power(target, [guard], baseline, UntilOptions())
    # By hand: the SD of 12 ones among 40 is sqrt(40/39 * 0.3 * 0.7) = 0.4641; the Agresti-Coull floor
    # is p~ = 14/44, sqrt(p~ (1 - p~)) = 0.4658, the larger one plans. z_0.975 + z_0.8 = 1.95996 + 0.84162.
    sd = math.sqrt(14 / 44 * 30 / 44)
    resolvable = (1.959964 + 0.841621) * sd / math.sqrt(40)
    assert g["sd_diff"] == pytest.approx(sd, abs=1e-6)
    assert g["resolvable"] == pytest.approx(resolvable, abs=1e-5) and round(resolvable, 3) == 0.206
    assert g["ok"] is False and g["role"] == "guard"
    assert g["items_needed"] == math.ceil(((1.959964 + 0.841621) * sd / 0.1) ** 2) == 171
    assert "171 items" in g["advice"] and "0.206" in g["advice"]
    assert t["role"] == "target" and t["ok"] is True and "can show a gain of" in t["advice"]


def test_power_check_refuses_before_training(tmp_path, tiny_model_path):
    guard = {
        "name": "small",
        "data": ROWS,
        "graders": [rft.StringCheck(name="is_x", reference="x", operation="ne")],
        "max_new_tokens": 2,
        "tolerance": 0.02,
    }
    target = {
        "name": "t",
        "data": ROWS,
        "graders": [rft.StringCheck(name="has_e", reference="e", operation="ilike")],
        "max_new_tokens": 2,
    }
    config = rft.TuneConfig(num_generations=2, per_device_train_batch_size=2, max_completion_length=2, preflight=False)
    with pytest.raises(rft.ConfigError, match="cannot resolve its tolerance") as err:
        tune_until(
            str(tiny_model_path),
            ROWS,
            target,
            [guard],
            config=config,
            power_check="refuse",
            output_dir=tmp_path / "run",
            progress=False,
        )
    assert "items" in str(err.value) and "raise the tolerance" in str(err.value)
    assert not (tmp_path / "run" / "rounds").exists()  # refused before any training
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert [p["ok"] for p in state["power"]] == [True, False]


def test_preflight_runs_first_and_stops_a_run_without_signal(tmp_path, tiny_model_path):
    never = rft.StringCheck(name="never", reference="IMPOSSIBLE", operation="like")
    target = {"name": "t", "data": ROWS, "graders": [never], "max_new_tokens": 2}
    config = rft.TuneConfig(num_generations=2, per_device_train_batch_size=2, max_completion_length=2)
    with pytest.raises(rft.NoSignalError):
        tune_until(str(tiny_model_path), ROWS, target, config=config, output_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "baseline" / "target").exists()  # nothing evaluated, nothing trained


def test_rollback_restores_the_best_model_lowers_the_lr_and_stops(tmp_path, tiny_model_path):
    import torch

    from rft.models import load_model

    never = {
        "name": "never",
        "data": ROWS,
        "graders": [rft.StringCheck(name="never", reference="IMPOSSIBLE", operation="like")],
        "max_new_tokens": 4,
    }
    guard = {
        "name": "guard",
        "data": ROWS,
        "graders": [rft.StringCheck(name="no_zzz", reference="zzz", operation="ne")],
        "max_new_tokens": 4,
        "tolerance": 0.0,
    }
    varied = rft.StringCheck(name="has_e", reference="e", operation="ilike")
    config = rft.TuneConfig(
        num_generations=2, per_device_train_batch_size=2, max_completion_length=4, learning_rate=0.05, preflight=False,
        audit=False,  # toy graders, gameable on purpose (see test_tune_audit)
    )
    result = tune_until(
        str(tiny_model_path),
        ROWS,
        never,
        [guard],
        graders=[varied],
        rounds=4,
        steps_per_round=1,
        config=config,
        keep_if="delta",
        on_reject="lower_lr",
        lr_factor=0.5,
        max_rejects=2,
        output_dir=tmp_path / "run",
        progress=False,
    )
    assert [r.kept for r in result.rounds] == [False, False]
    assert [r.lr for r in result.rounds] == [0.05, 0.025]
    assert result.best_round == 0 and "2 rejected rounds" in result.stopped
    assert "No round improved the target" in result.verdict
    best, _ = result.load_model()
    start, _ = load_model(tiny_model_path)
    assert all(torch.equal(a, b) for a, b in zip(best.state_dict().values(), start.state_dict().values()))
    for kind in ("json", "markdown", "html", "plot"):
        assert os.path.getsize(result.files[kind]) > 100
    saved = json.loads(open(result.files["json"]).read())
    assert saved["rounds"][0]["kept"] is False and saved["rounds"][0]["target"]["holds"] is False
    assert not (tmp_path / "run" / "rounds" / "round_001" / "model").exists()  # rejected weights deleted


def test_a_guard_regression_is_rejected_then_repaired_by_replay(tmp_path, tiny_model_path):
    """Training the tiny model away from digits lifts the target and breaks a guard that wants digits."""
    say = [{"id": i, "prompt": f"Say {i}"} for i in range(12)]
    tell = [{"id": i, "prompt": f"Tell {i}"} for i in range(12)]
    target = {
        "name": "words",
        "data": say,
        "max_new_tokens": 6,
        "graders": [rft.Regex(name="no_digit", pattern="[^0-9]*", mode="fullmatch")],
    }
    guard = {
        "name": "digits",
        "data": tell,
        "max_new_tokens": 6,
        "tolerance": 0.1,
        "graders": [rft.Regex(name="has_digit", pattern="[0-9]")],
    }
    config = rft.TuneConfig(
        num_generations=4, per_device_train_batch_size=8, max_completion_length=6, learning_rate=0.05, preflight=False,
        audit=False,  # toy graders, gameable on purpose (see test_tune_audit)
    )
    result = tune_until(
        str(tiny_model_path),
        say,
        target,
        [guard],
        rounds=2,
        steps_per_round=4,
        config=config,
        output_dir=tmp_path / "run",
        progress=False,
    )
    first, second = result.rounds
    # Round 1: the target is superior, the guard is not non-inferior: rejected.
    assert first.target["holds"] is True and first.target["vs_best"]["ci_low"] > 0
    assert first.guards["digits"]["holds"] is False and first.kept is False
    assert first.guards["digits"]["vs_baseline"]["ci_low"] < -0.1
    # The replay remedy is applied: round 2 trains on the guard's prompts, its grader rewarding them
    # (visible in TRL's logs under its own name), the target's grader only the target's rows.
    assert first.remedy == [] and second.remedy and second.remedy[0].startswith("replay digits")
    assert second.rewards["has_digit"] and second.rewards["no_digit"]
    assert "has_digit" not in first.rewards
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["remedies"][0]["kind"] == "replay" and state["remedies"][0]["guards"] == ["digits"]
    # The report shows the rejected attempt, the remedy and what it did.
    md = open(result.files["markdown"]).read()
    assert "rolled back" in md and "## Remedies tried" in md and "after round 1: replay digits" in md
    assert "not non-inferior at tolerance 0.1" in md
    report = json.loads(open(result.files["json"]).read())
    assert report["remedies"][0]["effect"][0]["guard"] == "digits"
    assert report["remedies"][0]["effect"][0]["after"] != "not tried (no round left)"
    assert "replay" in open(result.files["html"]).read()
    if not second.kept:  # the verdict names the guard, the remedy tried, and the one queued when the rounds ran out
        assert "guard digits changed" in result.verdict and "Remedies tried: replay in round 2" in result.verdict
        assert "anchor was next" in result.verdict


def test_the_verdict_repeats_the_interval_the_round_was_decided_on(tmp_path, tiny_model_path):
    """Four samples per item make per-item means between 0 and 1, so the interval is a bootstrap one:
    the verdict's and the round's must still be the same numbers, not two resamplings."""
    say = [{"id": i, "prompt": f"Say {i}"} for i in range(40)]
    target = {"name": "words", "data": say, "samples_per_item": 4,
              "generation": {"max_new_tokens": 6, "temperature": 1.0, "seed": 3},
              "graders": [rft.Regex(name="no_digit", pattern="[^0-9]*", mode="fullmatch")],
              "gate": {"metric": "mean"}}
    config = rft.TuneConfig(num_generations=4, per_device_train_batch_size=8, max_completion_length=6,
                            learning_rate=0.05, preflight=False, audit=False)
    result = tune_until(str(tiny_model_path), say, target, rounds=1, steps_per_round=4, config=config,
                        keep_if="delta", output_dir=tmp_path / "run", progress=False)
    (first,) = result.rounds
    assert first.kept, first.reason
    decided = first.target["vs_best"]
    assert decided["method"] == "bootstrap"
    print("DBG", decided, result.report["summary"]["target"]["delta_ci"])
    summary = result.report["summary"]["target"]
    assert summary["delta_ci"] == [decided["ci_low"], decided["ci_high"]]
    assert f"{decided['ci_low']:+.3f}..{decided['ci_high']:+.3f}" in result.verdict


_SAY = [{"id": i, "prompt": f"Say {i}"} for i in range(8)]
_SHOW = [{"id": i, "prompt": f"Show {i}"} for i in range(8)]
_WORDS = {"name": "words", "data": _SAY, "max_new_tokens": 4,
          "graders": [rft.Regex(name="no_digit", pattern="[^0-9]*", mode="fullmatch")]}
_SMALL = rft.TuneConfig(num_generations=2, per_device_train_batch_size=4, max_completion_length=4,
                        learning_rate=1e-3, preflight=False, audit=False)


def _rehearse(model, guard, out, **options):
    """One short round on the tiny model, the guard rehearsed from round 1."""
    return tune_until(model, _SAY, _WORDS, [guard], rounds=1, steps_per_round=2, config=_SMALL, output_dir=out,
                      progress=False, **{"replay_from_start": True, **options})


def test_replay_from_start_mixes_the_guards_replay_rows_into_round_1(tmp_path, tiny_model_path):
    tell = [{"id": i, "prompt": f"Tell {i}"} for i in range(8)]
    guard = {"name": "digits", "data": tell, "max_new_tokens": 4, "tolerance": 0.5, "replay_data": _SHOW,
             "graders": [rft.Regex(name="has_digit", pattern="[0-9]")]}
    result = _rehearse(str(tiny_model_path), guard, tmp_path / "run")
    (first,) = result.rounds
    # Round 1 already trains on the guard's replay rows, its grader rewarding them only; no remedy
    # was needed for that, so none is recorded as tried.
    assert first.remedy and first.remedy[0].startswith("replay digits (from round 1): ")
    assert "from its replay data" in first.remedy[0]
    assert first.rewards["has_digit"] and first.rewards["no_digit"]
    assert json.loads((tmp_path / "run" / "state.json").read_text())["remedies"] == []
    # Resuming the same run with another setting is refused rather than mixing two runs.
    with pytest.raises(rft.ConfigError, match="other suites or settings"):
        _rehearse(str(tiny_model_path), guard, tmp_path / "run", replay_from_start=False)


def test_lora_rounds_build_on_each_other_with_fresh_adapters(tmp_path, tiny_model_path):
    """A LoRA round's adapter is folded into the weights, and the next round adds its own to that model."""
    rows = [{"id": i, "prompt": f"Say {i}"} for i in range(8)]
    target = {"name": "t", "data": rows, "max_new_tokens": 4,
              "graders": [rft.StringCheck(name="has_e", reference="e", operation="ilike")]}
    config = rft.TuneConfig(num_generations=2, per_device_train_batch_size=4, max_completion_length=4,
                            learning_rate=1e-2, preflight=False, audit=False, lora_r=2,
                            lora_target_modules=["q_proj", "v_proj"])
    loop = TuneUntil(str(tiny_model_path), rows, target, [], graders=None, weights=None, config=config,
                     options=UntilOptions(steps_per_round=1, progress=False), output_dir=tmp_path, resume=False)
    loop.start()
    base = {n: p.detach().clone() for n, p in loop._best_pair()[0].named_parameters()}
    for r in (1, 2):
        loop.train(r)
        model = loop.trained[0]
        names = [n for n, _ in model.named_parameters()]
        assert names == list(base) and not hasattr(model, "peft_config")  # a plain model, adapters merged
        loop.current, loop.state.pending = loop.trained, None  # as a kept round leaves it
    changed = [n for n, p in model.named_parameters() if not torch.equal(p, base[n])]
    assert changed and all("q_proj" in n or "v_proj" in n for n in changed)
    saved, _ = rft.models.load_model(str(tmp_path / "rounds" / "round_002" / "model"))
    assert all(torch.equal(p, dict(model.named_parameters())[n]) for n, p in saved.named_parameters())


def test_a_guard_may_reward_its_replayed_rows_with_stricter_graders(tmp_path, tiny_model_path):
    """gate.replay_graders: the guard measures with has_digit but trains with strict_digit."""
    guard = {"name": "digits", "data": _SAY, "max_new_tokens": 4,
             "gate": {"tolerance": 0.5, "replay_data": _SHOW,
                      "replay_graders": [{"type": "regex", "name": "strict_digit", "pattern": "[0-9]+",
                                          "mode": "fullmatch"}]},
             "graders": [rft.Regex(name="has_digit", pattern="[0-9]")]}
    result = _rehearse(str(tiny_model_path), guard, tmp_path / "run")
    (first,) = result.rounds
    assert first.remedy[0].endswith("rewarded by strict_digit")
    assert first.rewards["strict_digit"] and "has_digit" not in first.rewards
    assert "has_digit" in first.guards["digits"]["describe"]  # the gate still reads the guard's own grader
    # The replay graders are part of what a resumed run must match.
    plain = as_tune_suite({**guard, "gate": {"tolerance": 0.5, "replay_data": _SHOW}}, "g")
    assert as_tune_suite(guard, "g").fingerprint() != plain.fingerprint()
    with pytest.raises(rft.ConfigError) as info:
        as_tune_suite({**guard, "gate": {"replay_graders": [{"type": "nope"}]}}, "g")
    assert info.value.path.startswith("digits.gate.replay_graders")


def test_replay_graders_in_a_suite_file_are_read_relative_to_it(tmp_path, monkeypatch):
    (tmp_path / "suites" / "graders").mkdir(parents=True)
    (tmp_path / "suites" / "graders" / "strict.yaml").write_text(
        "type: regex\nname: strict_digit\npattern: '[0-9]+'\nmode: fullmatch\n"
    )
    (tmp_path / "suites" / "rows.jsonl").write_text('{"id": 1, "prompt": "Tell 1"}\n')
    (tmp_path / "suites" / "digits.yaml").write_text(
        "name: digits\ndata: rows.jsonl\n"
        "graders: [{type: regex, name: has_digit, pattern: '[0-9]'}]\n"
        "gate: {tolerance: 0.1, replay_data: rows.jsonl, replay_graders: [graders/strict.yaml]}\n"
    )
    monkeypatch.chdir(tmp_path.parent)  # anywhere but the suite's folder
    suite = as_tune_suite(str(tmp_path / "suites" / "digits.yaml"), "guard1")
    assert [g.name for g in suite.rewards] == ["strict_digit"] and [g.name for g in suite.graders] == ["has_digit"]


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (True, "none of \\['digits'\\] has any"),
        (("nope",), "no guard is called 'nope'"),
        ("digits", "a list of guard names"),
    ],
)
def test_replay_from_start_names_what_it_cannot_rehearse(tmp_path, value, match):
    assert UntilOptions(replay_from_start=None).replay_from_start is False  # an empty YAML value: off
    assert UntilOptions(replay_from_start=["a", "b"]).replay_from_start == ("a", "b")
    guard = {"name": "digits", "data": ROWS, "graders": [rft.StringCheck(name="c", reference="x")]}
    target = {"name": "t", "data": ROWS, "graders": [rft.StringCheck(name="t", reference="x")]}
    with pytest.raises(rft.ConfigError, match=match) as info:
        tune_until("unused", ROWS, target, [guard], replay_from_start=value, output_dir=tmp_path, progress=False)
    assert info.value.path == "replay_from_start"


_SCRIPT = """
import sys, rft
from rft.tuning._until import tune_until
rows = [{"id": i, "prompt": f"Say {i}"} for i in range(4)]
target = {"name": "t", "data": rows, "graders": [rft.StringCheck(name="has_e", reference="e", operation="ilike")],
          "max_new_tokens": 4}
config = rft.TuneConfig(num_generations=2, per_device_train_batch_size=2, max_completion_length=4, learning_rate=0.05,
                        preflight=False)
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
    assert after["power"] == before["power"]  # the power check is not repeated either
    assert (baseline_results.stat().st_mtime_ns, baseline_results.stat().st_size) == stamp
    assert (out / "best" / "config.json").is_file() and (out / "report.md").is_file()


def test_an_eval_suite_or_a_suite_file_is_accepted(tmp_path):
    suite = rft.Suite.from_dict(
        {
            "name": "s",
            "data": ROWS,
            "graders": [{"type": "string_check", "name": "m", "reference": "x"}],
            "generation": {"max_new_tokens": 7, "temperature": 0},
            "limit": 3,
        }
    )
    gate = as_tune_suite(suite, "target")
    assert (gate.name, gate.grader, gate.generation()["max_new_tokens"], len(gate.rows())) == ("s", "m", 7, 3)
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (tmp_path / "guard.yaml").write_text(
        "name: g\ndata: rows.jsonl\nlimit: 2\n"
        "graders: [{type: string_check, name: m, reference: x}, {type: string_check, name: n, reference: y}]\n"
        "gate: {grader: n, metric: mean, tolerance: 0.1, replay_data: rows.jsonl}\n"
    )
    from_file = as_tune_suite(str(tmp_path / "guard.yaml"), "guard1")
    assert (from_file.name, len(from_file.rows()), from_file.grader, from_file.metric, from_file.tolerance) == (
        "g",
        2,
        "n",
        "mean",
        0.1,
    )
    assert from_file.replay_data == str(tmp_path / "rows.jsonl")  # relative to the suite file
    assert len(from_file.replay_rows()[0]) == 6 and from_file.replay_rows()[1] is False


def test_bad_gate_settings_name_the_suite():
    with pytest.raises(rft.ConfigError, match="grader 'nope' is not one of"):
        _suite("g", grader="nope")
    with pytest.raises(rft.ConfigError, match="unknown metric"):
        _suite("g", metric="median")
    with pytest.raises(rft.ConfigError, match="unknown guard_rule"):
        UntilOptions(guard_rule="optimistic")
