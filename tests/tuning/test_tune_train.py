"""rft.tune and rft.preflight on the real TRL trainer with the tiny model."""

from __future__ import annotations

import pytest

pytest.importorskip("trl")

import rft
from rft.tuning import NoSignalError, TooManyUnscoredError, TuneConfig, preflight, tune

ROWS = [{"prompt": f"What is {i} + 1?", "answer": str(i + 1)} for i in range(8)]


def _config(tmp_path, **kw):
    base = {"output_dir": str(tmp_path), "max_steps": 2, "num_generations": 4, "per_device_train_batch_size": 4,
            "max_completion_length": 8, "learning_rate": 5e-2, "preflight": False, "seed": 1,
            # The toy graders here (an "e" anywhere) are gameable on purpose; test_tune_audit covers the warning.
            "audit": False}
    return TuneConfig(**{**base, **kw})


def _varied():
    return rft.StringCheck(name="has_e", reference="e", operation="ilike")


def test_tune_logs_each_grader_under_its_own_name_and_trains(tmp_path):
    import torch

    from rft.models import load_model
    from rft.testing import tiny_model_dir

    model, tok = load_model(tiny_model_dir())
    before = [p.detach().clone() for p in model.parameters()]
    same_name = rft.StringCheck(name="has_e", reference="a", operation="ilike")
    result = tune((model, tok), ROWS, [_varied(), same_name], _config(tmp_path), weights={"has_e_2": 0.5})
    assert result.steps == 2 and result.reward_names == ["has_e", "has_e_2"]
    for name in result.reward_names:
        assert len(result.curve(f"rewards/{name}/mean")) == 2
        assert [v for _, v in result.curve(f"rft/{name}/unscored_frac")] == [0.0, 0.0]
    # TRL's logged reward is the weighted sum of the per-grader means.
    for entry in [e for e in result.log_history if "reward" in e]:
        expected = entry["rewards/has_e/mean"] + 0.5 * entry["rewards/has_e_2/mean"]
        assert entry["reward"] == pytest.approx(expected, abs=1e-5)
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, model.parameters()))


def test_tune_with_lora_trains_only_adapters(tmp_path, tiny_model_path):
    pytest.importorskip("peft")
    config = _config(tmp_path, lora_r=2, lora_target_modules=["q_proj", "v_proj"])
    result = tune(str(tiny_model_path), ROWS, [_varied()], config)
    trainable = [n for n, p in result.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    saved = result.save(tmp_path / "merged")
    assert (saved / "config.json").is_file()


def test_unscored_batches_stop_training_with_a_clear_error(tmp_path, tiny_model_path):
    needs_column = rft.StringCheck(name="needs_ref", reference="{{item.reference}}")  # the rows have no 'reference'
    with pytest.raises(TooManyUnscoredError, match=r"'needs_ref' could not score 4 of 4 .*at step 0"):
        tune(str(tiny_model_path), ROWS, [needs_column, _varied()], _config(tmp_path))


@pytest.mark.parametrize(
    "graders, ok, advice",
    [
        pytest.param(lambda: [_varied()], True, None, id="random text sometimes has an e: signal"),
        pytest.param(lambda: [rft.StringCheck(name="never", reference="IMPOSSIBLE TEXT", operation="like")],
                     False, "few-shot", id="nothing ever passes: advise a few-shot prompt or partial credit"),
        pytest.param(lambda: [rft.StringCheck(name="always", reference="IMPOSSIBLE TEXT", operation="ne")],
                     False, "already earns full reward", id="everything passes: nothing to learn"),
    ],
)
def test_preflight_measures_signal(tiny, graders, ok, advice):
    config = TuneConfig(max_completion_length=8, num_generations=4, seed=3, audit=False)
    report = preflight(tiny, ROWS, graders(), config, n=6)
    assert report.n_prompts == 6 and report.k == 4 and report.ok is ok
    grader = report.graders[0]
    assert 0.0 <= grader.zero_variance_share <= 1.0 and grader.unscored_frac == 0.0
    if ok:
        assert grader.pass_at_k >= grader.pass_rate > 0 and report.varied_share > 0
    else:
        assert report.varied_share == 0.0 and any(advice in a for a in report.advice)
        with pytest.raises(NoSignalError, match="no reward signal"):
            report.raise_if_no_signal()


def test_tune_runs_preflight_first_and_refuses_to_train_on_no_signal(tmp_path, tiny_model_path):
    never = rft.StringCheck(name="never", reference="IMPOSSIBLE TEXT", operation="like")
    with pytest.raises(NoSignalError) as info:
        tune(str(tiny_model_path), ROWS, [never], _config(tmp_path, preflight=True, preflight_prompts=4))
    assert info.value.report.graders[0].name == "never"
    assert not any((tmp_path).glob("checkpoint-*"))


def test_bad_rows_are_named(tmp_path, tiny_model_path):
    with pytest.raises(rft.DataError, match="row 1: needs a 'prompt'"):
        tune(str(tiny_model_path), [{"prompt": "a"}, {"question": "b"}], [_varied()], _config(tmp_path))


def test_tune_keeps_the_model_in_output_dir_unless_asked_not_to(tmp_path, tiny_model_path):
    from rft.models import load_model

    result = tune(str(tiny_model_path), ROWS, [_varied()], _config(tmp_path / "run", max_steps=1))
    assert result.output_dir == str(tmp_path / "run")
    model, tok = load_model(result.output_dir)  # a plain model folder: weights and tokenizer
    assert model.config.hidden_size == result.model.config.hidden_size and tok.chat_template
    modes = {f.name: f.stat().st_mode & 0o777 for f in (tmp_path / "run").iterdir()}
    assert modes["model.safetensors"] == modes["config.json"]  # the umask decides, not the library
    kept = tune(str(tiny_model_path), ROWS, [_varied()], _config(tmp_path / "no", max_steps=1, save_model=False))
    assert not (tmp_path / "no" / "config.json").exists()
    assert (kept.save(tmp_path / "saved") / "config.json").is_file()  # result.save() still works


@pytest.mark.parametrize(
    "kwargs, grpo, shown",
    [
        pytest.param({}, {}, True, id="progress is on by default"),
        pytest.param({"progress": False}, {}, False, id="progress=False is quiet"),
        pytest.param({}, {"disable_tqdm": True}, False, id="the user's disable_tqdm is respected"),
    ],
)
def test_tune_shows_progress_by_default(tmp_path, tiny_model_path, capfd, kwargs, grpo, shown):
    tune(str(tiny_model_path), ROWS, [_varied()], _config(tmp_path, max_steps=2, save_model=False, grpo=grpo), **kwargs)
    captured = capfd.readouterr()
    assert ("2/2 [" in captured.err) is shown  # TRL's own tqdm bar (tqdm.auto: a widget in notebooks)
    assert ("step 2/2" in captured.out + captured.err) is shown  # one readable line per logged step
    assert "'rewards/has_e/mean'" not in captured.out + captured.err  # never raw log dicts
