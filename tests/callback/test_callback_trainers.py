"""rft.EvalCallback on real TRL trainers (GRPO, SFT, DPO) with the tiny model, fp32 on CPU."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("trl")

import rft
from rft.eval._callback import LOGGED

_TRAIN = dict(use_cpu=True, bf16=False, report_to="none", logging_steps=1, seed=1, disable_tqdm=True)


def _grpo(pair, out, callbacks, **kw):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    def has_e(completions, **_):
        return [1.0 if "e" in c else 0.0 for c in completions]

    settings = dict(output_dir=str(out), max_steps=4, num_generations=4, per_device_train_batch_size=4,
                    max_completion_length=8, learning_rate=5e-2, save_strategy="no", **_TRAIN)
    settings.update(kw)
    rows = [{"prompt": f"What is {i} + 1?"} for i in range(8)]
    model, tok = pair
    return GRPOTrainer(model=model, processing_class=tok, reward_funcs=[has_e], args=GRPOConfig(**settings),
                       train_dataset=Dataset.from_list(rows), callbacks=callbacks)


def _sft(pair, out, callbacks, completion=" yes yes yes yes", eval_rows=None, **kw):
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    settings = dict(output_dir=str(out), max_steps=4, per_device_train_batch_size=4, learning_rate=5e-2,
                    save_strategy="no", max_length=32, **_TRAIN)
    settings.update(kw)
    rows = [{"prompt": f"What is {i} + 1?", "completion": completion} for i in range(16)]
    model, tok = pair
    return SFTTrainer(model=model, processing_class=tok, args=SFTConfig(**settings),
                      train_dataset=Dataset.from_list(rows), callbacks=callbacks,
                      eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None)


def _recorder():
    """Another callback, standing in for a reporting integration (TensorBoard, W&B, ...): it keeps
    every ``on_log`` it receives."""
    from transformers import TrainerCallback

    class Recorder(TrainerCallback):
        def __init__(self):
            self.logs = []

        def on_log(self, args, state, control, logs=None, **kwargs):
            self.logs.append((state.global_step, dict(logs or {})))

    return Recorder()


def _rft_entries(log_history):
    return {e["step"]: e for e in log_history if any(k.startswith("rft/") for k in e)}


def _check_against_checkpoints(trainer, cb, suite, out, steps, tiny_model_path):
    """Each logged value equals a separate rft.evaluate of the checkpoint saved at that step (the
    tiny model itself for step 0), and so do the saved per-item outputs."""
    from rft.models import load_model

    entries = _rft_entries(trainer.state.log_history)
    assert sorted(entries) == steps
    s = rft.Suite.from_dict(suite)
    for step in steps:
        pair = load_model(tiny_model_path if step == 0 else out / f"checkpoint-{step}")
        separate = rft.evaluate(pair, s.data, s.graders, samples_per_item=s.samples_per_item, progress=False,
                                **s.generation)
        saved = rft.load_report(out / "rft-eval" / suite["name"] / f"step-{step}")
        assert [i.outputs for i in saved.items] == [i.outputs for i in separate.items], step
        for grader in separate.graders:
            stats = separate[grader]
            key = f"rft/{suite['name']}/{grader}"
            assert entries[step][f"{key}/mean"] == pytest.approx(stats.mean), (step, grader)
            assert entries[step][f"{key}/pass_rate"] == pytest.approx(stats.pass_rate), (step, grader)
            assert entries[step][f"{key}/unscored_frac"] == stats.unscored_count / stats.n
        assert entries[step]["rft/eval_seconds"] >= entries[step][f"rft/{suite['name']}/eval_seconds"] > 0
    return entries


def test_grpo_logs_suite_metrics_at_the_right_steps_equal_to_evaluating_each_checkpoint(tmp_path, fresh_tiny, probe,
                                                                                        tiny_model_path):
    recorder = _recorder()
    cb = rft.EvalCallback(probe, every_n_steps=2)
    trainer = _grpo(fresh_tiny, tmp_path, [recorder, cb], save_strategy="steps", save_steps=2)
    trainer.train()
    entries = _check_against_checkpoints(trainer, cb, probe, tmp_path, [0, 2, 4], tiny_model_path)
    # The values move with training (so equality above is not 0 == 0), and TRL's rewards are still logged.
    values = [tuple(entries[s][f"rft/probe/{g}/mean"] for g in ("has_e", "has_q")) for s in (0, 2, 4)]
    assert len(set(values)) > 1, values
    assert sum("rewards/has_e/mean" in e for e in trainer.state.log_history) == 4
    # Other callbacks (the reporting integrations) received the same metrics at the same steps.
    seen = {step: logs for step, logs in recorder.logs if "rft/eval_seconds" in logs}
    assert sorted(seen) == [0, 2, 4]
    for step, logs in seen.items():
        assert {k: v for k, v in logs.items() if k.startswith("rft/")} == {
            k: v for k, v in entries[step].items() if k.startswith("rft/")}
    # rft.compare works between any two saved evaluations.
    folder = tmp_path / "rft-eval" / "probe"
    comparison = rft.compare(folder / "step-0", folder / "step-4")
    assert comparison["has_q"].n_paired == 6
    lines = [json.loads(line) for line in (tmp_path / "rft-eval" / "evaluations.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [0, 2, 4] and lines[1]["metrics"] == cb.evaluations[1]["metrics"]


def test_sft_logs_suite_metrics_equal_to_evaluating_each_checkpoint(tmp_path, fresh_tiny, probe, says_yes,
                                                                    tiny_model_path):
    cb = rft.EvalCallback([probe, says_yes], every_n_steps=2)
    trainer = _sft(fresh_tiny, tmp_path, [cb], save_strategy="steps", save_steps=2)
    trainer.train()
    entries = _check_against_checkpoints(trainer, cb, says_yes, tmp_path, [0, 2, 4], tiny_model_path)
    _check_against_checkpoints(trainer, cb, probe, tmp_path, [0, 2, 4], tiny_model_path)
    assert entries[0]["rft/yes/says_yes/pass_rate"] == 0.0 and entries[4]["rft/yes/says_yes/pass_rate"] == 1.0
    assert set(cb.metric_names()) <= set(entries[4])


def test_dpo_logs_suite_metrics(tmp_path, fresh_tiny, says_yes):
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    rows = [{"prompt": f"What is {i} + 1?", "chosen": " yes", "rejected": " no"} for i in range(8)]
    cb = rft.EvalCallback(says_yes, every_n_steps=1, limit=4)
    model, tok = fresh_tiny
    trainer = DPOTrainer(model=model, processing_class=tok, train_dataset=Dataset.from_list(rows), callbacks=[cb],
                         args=DPOConfig(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=4,
                                        learning_rate=5e-2, save_strategy="no", **_TRAIN))
    trainer.train()
    entries = _rft_entries(trainer.state.log_history)
    assert sorted(entries) == [0, 1, 2]
    assert all(f"rft/yes/says_yes/{m}" in entries[2] for m in LOGGED)
    assert len(rft.load_report(tmp_path / "rft-eval" / "yes" / "step-2").items) == 4  # limit=4


def _final_weights(trainer):
    return [p.detach().clone() for p in trainer.model.parameters()]


def test_the_training_trajectory_is_the_same_with_and_without_the_callback(tmp_path, tiny_model_path, probe):
    """The evaluation samples at temperature 1 with seed 0 after every step; GRPO samples its
    completions from the same torch generator. Without restoring the RNG the runs would part."""
    import torch

    from rft.models import load_model

    runs = []
    for with_cb in (False, True):
        callbacks = [rft.EvalCallback(probe, every_n_steps=1)] if with_cb else []
        trainer = _grpo(load_model(tiny_model_path), tmp_path / str(with_cb), callbacks, max_steps=3)
        trainer.train()
        rewards = [e["rewards/has_e/mean"] for e in trainer.state.log_history if "rewards/has_e/mean" in e]
        runs.append((rewards, _final_weights(trainer)))
    (r0, w0), (r1, w1) = runs
    assert r0 == r1
    assert all(torch.equal(a, b) for a, b in zip(w0, w1))
    assert any(not torch.equal(a, b) for a, b in zip(w0, load_model(tiny_model_path)[0].parameters()))  # it trained


@pytest.mark.parametrize(
    "completion, tolerance, stops_at",
    [
        pytest.param(" yes yes yes yes", 0.1, 2, id="training on 'yes' destroys the '?' answers: the guard stops it"),
        pytest.param(" ? ? ? ?", 0.3, None, id="training on '?' keeps them: the guard holds, training runs to the end"),
    ],
)
def test_a_guard_regression_stops_training(tmp_path, fresh_tiny, asks, says_yes, completion, tolerance, stops_at):
    cb = rft.EvalCallback([says_yes, asks], every_n_steps=2, guards={"asks": tolerance})
    trainer = _sft(fresh_tiny, tmp_path, [cb], completion=completion, max_steps=6)
    trainer.train()
    entries = _rft_entries(trainer.state.log_history)
    if stops_at is None:
        assert trainer.state.global_step == 6 and cb.stopped is None
        assert [entries[s]["rft/asks/has_q/holds"] for s in (2, 4, 6)] == [1.0, 1.0, 1.0]
    else:
        assert trainer.state.global_step == stops_at and sorted(entries) == [0, stops_at]
        assert entries[stops_at]["rft/asks/has_q/holds"] == 0.0
        assert entries[stops_at]["rft/asks/has_q/delta_ci_high"] < -tolerance  # a real regression, not noise
        assert cb.stopped.startswith("guard asks: has_q pass rate 1.000 -> 0.000") and "not non-inferior" in cb.stopped
        assert "rft/yes/says_yes/delta" not in entries[stops_at]  # only deciding suites get deltas


def test_early_stop_at_stops_when_the_target_is_reached_and_significantly_better(tmp_path, fresh_tiny, says_yes):
    cb = rft.EvalCallback(says_yes, every_n_steps=1, early_stop_at=0.9)
    trainer = _sft(fresh_tiny, tmp_path, [cb], max_steps=8)
    trainer.train()
    entries = _rft_entries(trainer.state.log_history)
    last = max(entries)
    assert trainer.state.global_step == last < 8
    assert entries[last]["rft/yes/says_yes/pass_rate"] >= 0.9 and entries[last]["rft/yes/says_yes/holds"] == 1.0
    assert entries[last]["rft/yes/says_yes/delta_ci_low"] > 0
    assert all(entries[s]["rft/yes/says_yes/holds"] == 0.0 for s in entries if 0 < s < last)
    assert "target reached" in cb.stopped


@pytest.mark.parametrize("how", ["metric_for_best_model", "best_metric"])
def test_the_best_checkpoint_is_marked_and_loaded_at_the_end(tmp_path, fresh_tiny, says_yes, how):
    """The pass rate reaches 1.0 at step 2 and stays there: step 2 is the best (later ties are not
    better), so load_best_model_at_end loads checkpoint-2, not the last weights."""
    import torch

    from rft.models import load_model

    metric = "rft/yes/says_yes/pass_rate"
    if how == "metric_for_best_model":
        cb = rft.EvalCallback(says_yes, every_n_steps=2)
        extra = dict(save_strategy="best", metric_for_best_model=metric, load_best_model_at_end=True)
    else:
        cb = rft.EvalCallback(says_yes, every_n_steps=2, best_metric="yes/says_yes/pass_rate")
        extra = dict(load_best_model_at_end=True)
    trainer = _sft(fresh_tiny, tmp_path, [cb], max_steps=6, **extra)
    trainer.train()
    entries = _rft_entries(trainer.state.log_history)
    assert [entries[s][metric] for s in (0, 2, 4, 6)] == [0.0, 1.0, 1.0, 1.0]
    assert cb.best == {"step": 2, "value": 1.0, "checkpoint": "checkpoint-2"}
    assert trainer.state.best_global_step == 2 and trainer.state.best_metric == 1.0
    assert trainer.state.best_model_checkpoint == str(tmp_path / "checkpoint-2")
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-2"]  # saved at the new best only
    best = load_model(tmp_path / "checkpoint-2")[0]
    assert all(torch.equal(a, b) for a, b in zip(trainer.model.parameters(), best.parameters()))


def test_metric_for_best_model_with_the_trainers_own_evaluation_is_refused(tmp_path, fresh_tiny, says_yes):
    cb = rft.EvalCallback(says_yes, every_n_steps=2)
    trainer = _sft(fresh_tiny, tmp_path, [cb], eval_strategy="steps", eval_steps=2,
                   eval_rows=[{"prompt": "a", "completion": "b"}], metric_for_best_model="rft/yes/says_yes/pass_rate")
    with pytest.raises(rft.ConfigError, match="eval_strategy='no'"):
        trainer.train()


def test_epoch_ends_and_step_intervals_evaluate_each_step_once(tmp_path, fresh_tiny, says_yes):
    """16 rows in batches of 4: 4 steps per epoch, 2 epochs. every_n_steps=4 and on_epoch_end fall
    on the same steps (4 and 8): one evaluation each."""
    cb = rft.EvalCallback(says_yes, every_n_steps=4, on_epoch_end=True, limit=2)
    trainer = _sft(fresh_tiny, tmp_path, [cb], max_steps=-1, num_train_epochs=2)
    trainer.train()
    assert [e["step"] for e in trainer.state.log_history if "rft/eval_seconds" in e] == [0, 4, 8]
    assert [round(e["epoch"]) for e in cb.evaluations] == [0, 1, 2]


def test_a_resumed_run_decides_against_the_start_of_the_first(tmp_path, tiny_model_path, asks):
    """Resuming from checkpoint-2, the guard compares against the step-0 report saved by the first
    run, not against the resumed model."""
    from rft.models import load_model

    first = rft.EvalCallback(asks, every_n_steps=2, guards={"asks": 0.5})
    _sft(load_model(tiny_model_path), tmp_path, [first], completion=" ? ? ? ?", max_steps=2, save_strategy="steps",
         save_steps=2).train()
    step0 = (tmp_path / "rft-eval" / "asks" / "step-0" / "report.json").read_text()
    second = rft.EvalCallback(asks, every_n_steps=2, guards={"asks": 0.5})
    trainer = _sft(load_model(tiny_model_path), tmp_path, [second], completion=" ? ? ? ?", max_steps=4,
                   save_strategy="steps", save_steps=2)
    trainer.train(resume_from_checkpoint=str(tmp_path / "checkpoint-2"))
    assert [e["step"] for e in second.evaluations] == [2, 4]
    assert all(len(e["decisions"]) == 1 for e in second.evaluations)  # both judged against step 0
    assert (tmp_path / "rft-eval" / "asks" / "step-0" / "report.json").read_text() == step0  # kept, not redone
