"""TuneConfig: CPU defaults, validation that names the field, GRPOConfig pass-through."""

from __future__ import annotations

import dataclasses

import pytest

pytest.importorskip("trl")

from rft import ConfigError
from rft.tuning import TuneConfig


def test_every_field_has_help():
    missing = [f.name for f in dataclasses.fields(TuneConfig) if not f.metadata.get("help")]
    assert missing == []


@pytest.mark.parametrize(
    "values, field",
    [
        pytest.param({"num_generations": 1}, "num_generations", id="a group of one has no advantage"),
        pytest.param(
            {"per_device_train_batch_size": 6, "num_generations": 4},
            "per_device_train_batch_size",
            id="batch not a multiple of the group",
        ),
        pytest.param({"max_steps": 0}, "max_steps", id="zero steps"),
        pytest.param({"learning_rate": float("nan")}, "learning_rate", id="NaN learning rate"),
        pytest.param({"top_p": 0}, "top_p", id="top_p 0 samples nothing"),
        pytest.param({"max_unscored_frac": 1.5}, "max_unscored_frac", id="share above 1"),
        pytest.param({"grpo": {"no_such_field": 1}}, "grpo.no_such_field", id="unknown GRPOConfig field"),
        pytest.param({"grpo": {"max_steps": 3}}, "grpo.max_steps", id="owned field through grpo is ambiguous"),
        pytest.param({"lora_r": -1}, "lora_r", id="negative LoRA rank"),
        pytest.param({"preflight_k": 1}, "preflight_k", id="pre-flight needs k >= 2"),
    ],
)
def test_bad_settings_name_the_field(values, field):
    with pytest.raises(ConfigError) as info:
        TuneConfig(**values)
    assert info.value.path == field


def test_from_dict_routes_grpo_fields_and_rejects_unknown_keys():
    cfg = TuneConfig.from_dict({"max_steps": 4, "epsilon": 0.3, "grpo": {"epsilon_high": 0.28}})
    assert cfg.max_steps == 4 and cfg.grpo == {"epsilon": 0.3, "epsilon_high": 0.28}
    assert TuneConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown tuning setting 'stepz'"):
        TuneConfig.from_dict({"stepz": 3})


def test_grpo_config_is_cpu_fp32_and_passes_fields_through(tmp_path):
    args = TuneConfig(output_dir=str(tmp_path), grpo={"epsilon": 0.3}).grpo_config(reward_weights=[1.0, 0.5])
    assert args.use_cpu is True and args.bf16 is False  # this machine has no CUDA
    assert args.report_to in ("none", [], ["none"]) or not args.report_to
    assert args.epsilon == 0.3 and args.reward_weights == [1.0, 0.5]
    assert args.gradient_checkpointing is False and args.num_generations == 4


def test_lora_config_only_when_asked():
    assert TuneConfig().peft_config() is None
    lora = TuneConfig(lora_r=4).peft_config()
    assert lora.r == 4
