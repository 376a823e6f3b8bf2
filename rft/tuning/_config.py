"""`TuneConfig`: the settings of one tuning run, with CPU-friendly defaults.

The fields rft cares about are spelled out here with help text; any other ``GRPOConfig`` field
(loss type variants, vLLM options, DeepSpeed, ...) passes through ``grpo={...}``, and
:meth:`TuneConfig.from_dict` routes unknown keys that are ``GRPOConfig`` fields there too, so a
YAML file can name them at top level.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from rft._errors import ConfigError

__all__ = ["TuneConfig"]


def _f(default: Any, help: str, **kw: Any) -> Any:
    if isinstance(default, (dict, list)):
        def copy() -> Any:  # a fresh container per instance, as a mutable default needs
            return type(default)(default)

        return dataclasses.field(default_factory=copy, metadata={"help": help}, **kw)
    return dataclasses.field(default=default, metadata={"help": help}, **kw)


# GRPOConfig fields that TuneConfig owns itself (set through TuneConfig, not through ``grpo``).
_OWNED = (
    "output_dir",
    "max_steps",
    "learning_rate",
    "num_generations",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "max_completion_length",
    "temperature",
    "top_p",
    "beta",
    "loss_type",
    "scale_rewards",
    "multi_objective_aggregation",
    "seed",
    "logging_steps",
    "log_completions",
    "gradient_checkpointing",
    "lr_scheduler_type",
    "warmup_steps",
)


@dataclasses.dataclass
class TuneConfig:
    """Settings of :func:`rft.tune`. Defaults run on a CPU in fp32 with short generations.

    >>> cfg = TuneConfig(max_steps=2, num_generations=2, grpo={"epsilon": 0.3})
    >>> cfg.max_steps, cfg.grpo["epsilon"]
    (2, 0.3)
    >>> TuneConfig.from_dict({"max_steps": 3, "epsilon_high": 0.28}).grpo
    {'epsilon_high': 0.28}
    """

    output_dir: str = _f("rft-tune", "Folder for checkpoints, logs and the tuned model.")
    save_model: bool = _f(
        True, "Save the tuned model and tokenizer to output_dir when training ends (with LoRA: the adapter)."
    )
    max_steps: int = _f(20, "Optimizer steps to train.")
    learning_rate: float = _f(1e-5, "Peak learning rate (AdamW).")
    lr_scheduler_type: str = _f("constant", "Learning-rate schedule (any transformers scheduler name).")
    warmup_steps: int = _f(0, "Linear warm-up steps.")
    num_generations: int = _f(4, "Completions sampled per prompt (the GRPO group size).")
    per_device_train_batch_size: int = _f(
        8, "Completions per device per step; must be a multiple of num_generations (prompts = this / num_generations)."
    )
    gradient_accumulation_steps: int = _f(1, "Micro-batches accumulated per optimizer step.")
    max_completion_length: int = _f(48, "Maximum tokens generated per completion.")
    temperature: float = _f(1.0, "Sampling temperature during training (and pre-flight).")
    top_p: float = _f(1.0, "Nucleus sampling during training (and pre-flight).")
    beta: float = _f(0.0, "KL penalty towards the reference model (0 = none, no reference model kept).")
    loss_type: str = _f("dapo", "GRPO loss: dapo, grpo, dr_grpo, bnpo, ... (see TRL's GRPOConfig).")
    scale_rewards: str = _f("group", "Reward scaling: group, batch or none.")
    multi_objective_aggregation: str = _f(
        "sum_then_normalize", "How several graders combine: sum_then_normalize or normalize_then_sum."
    )
    seed: int = _f(0, "Random seed for sampling, shuffling and initialisation.")
    logging_steps: int = _f(1, "Log metrics every this many steps.")
    log_completions: bool = _f(
        False, "Log completions with their rewards and each grader's reason (log_extra) to output_dir/completions."
    )
    gradient_checkpointing: bool = _f(False, "Recompute activations to save memory (slower; useful on GPUs).")
    max_unscored_frac: float = _f(
        0.5,
        "Stop with an error when a grader leaves more than this share of a batch unscored "
        "(judge down, missing fields) instead of training on noise.",
    )
    preflight: bool = _f(True, "Check there is reward signal (rft.preflight) before training.")
    preflight_prompts: int = _f(8, "Prompts sampled by the pre-flight check.")
    preflight_k: int | None = _f(None, "Completions per pre-flight prompt (default num_generations).")
    preflight_min_varied: float = _f(
        0.1, "Pre-flight fails when fewer than this share of prompt groups have rewards that differ."
    )
    audit: Any = _f(
        "warn",
        "Quick audit of the reward graders before training (rft.audit): 'warn' warns with the table of the "
        "probes that scored, 'strict' refuses to train on a grader the policy can game, False skips it.",
    )
    lora_r: int = _f(0, "LoRA rank; 0 trains all weights. Needs peft.")
    lora_alpha: int = _f(32, "LoRA scaling alpha.")
    lora_dropout: float = _f(0.0, "LoRA dropout.")
    lora_target_modules: Any = _f("all-linear", "Modules LoRA adapts (a list of names or 'all-linear').")
    use_cpu: bool | None = _f(None, "Train on the CPU; default: when no CUDA device is present.")
    bf16: bool | None = _f(None, "bf16 mixed precision; default: on with CUDA, off on CPU (bf16 is very slow on CPUs).")
    grpo: dict[str, Any] = _f({}, "Any other GRPOConfig field, passed through unchanged (e.g. use_vllm, epsilon).")

    def __post_init__(self) -> None:
        for name in ("max_steps", "num_generations", "per_device_train_batch_size", "gradient_accumulation_steps",
                     "max_completion_length", "logging_steps", "preflight_prompts"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"expected a positive integer, got {value!r}", name)
        if self.num_generations < 2:
            raise ConfigError("GRPO compares completions within a group: use num_generations >= 2", "num_generations")
        if self.per_device_train_batch_size % self.num_generations:
            raise ConfigError(
                f"per_device_train_batch_size={self.per_device_train_batch_size} is not a multiple of "
                f"num_generations={self.num_generations}; set it to "
                f"{self.num_generations * max(1, round(self.per_device_train_batch_size / self.num_generations))}",
                "per_device_train_batch_size",
            )
        for name in ("learning_rate", "temperature", "beta", "lora_dropout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"expected a finite number >= 0, got {value!r}", name)
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"expected 0 < top_p <= 1, got {self.top_p!r}", "top_p")
        for name in ("max_unscored_frac", "preflight_min_varied"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ConfigError(f"expected a share between 0 and 1, got {value!r}", name)
        if self.preflight_k is not None and (not isinstance(self.preflight_k, int) or self.preflight_k < 2):
            raise ConfigError(
                f"pre-flight needs k >= 2 completions per prompt, got {self.preflight_k!r}", "preflight_k"
            )
        if self.audit not in (False, True, "warn", "strict"):
            raise ConfigError(f"expected audit=False, 'warn' or 'strict', got {self.audit!r}", "audit")
        if not isinstance(self.lora_r, int) or self.lora_r < 0:
            raise ConfigError(f"expected a rank >= 0 (0 = no LoRA), got {self.lora_r!r}", "lora_r")
        if not isinstance(self.grpo, Mapping):
            raise ConfigError(f"expected a mapping of GRPOConfig fields, got {type(self.grpo).__name__}", "grpo")
        self.grpo = dict(self.grpo)
        for key in self.grpo:
            if key in _OWNED:
                raise ConfigError(f"{key!r} is a TuneConfig field: set it directly, not through grpo", f"grpo.{key}")
        if self.grpo:
            known = _grpo_fields()
            if known is not None:
                for key in self.grpo:
                    if key not in known:
                        raise ConfigError(f"{key!r} is not a GRPOConfig field (TRL {_trl_version()})", f"grpo.{key}")

    @property
    def k(self) -> int:
        """Completions per prompt in the pre-flight check."""
        return self.preflight_k or self.num_generations

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> TuneConfig:
        """Build from a plain dict (a YAML ``config:`` section): GRPOConfig fields may sit at top level."""
        values = dict(values or {})
        own = {f.name for f in dataclasses.fields(cls)}
        grpo = dict(values.pop("grpo", None) or {})
        known = _grpo_fields()
        for key in list(values):
            if key in own:
                continue
            if known is not None and key in known:
                grpo[key] = values.pop(key)
            else:
                raise ConfigError(
                    f"unknown tuning setting {key!r}; TuneConfig fields: {', '.join(sorted(own))} "
                    "(or any GRPOConfig field)",
                    key,
                )
        return cls(**values, grpo=grpo)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict that :meth:`from_dict` turns back into an equal config."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TuneConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def grpo_config(self, **overrides: Any) -> Any:
        """The ``trl.GRPOConfig`` this config stands for (``overrides`` win)."""
        import torch
        from trl import GRPOConfig

        cuda = torch.cuda.is_available()
        use_cpu = (not cuda) if self.use_cpu is None else self.use_cpu
        bf16 = (not use_cpu and cuda and torch.cuda.is_bf16_supported()) if self.bf16 is None else self.bf16
        values: dict[str, Any] = {name: getattr(self, name) for name in _OWNED}
        values.update(
            use_cpu=use_cpu,
            bf16=bf16,
            report_to="none",
            save_strategy="no",
            # rft.tune turns TRL's progress bar on unless the user's grpo or progress=False says not to
            disable_tqdm=True,
        )
        values.update(self.grpo)
        values.update(overrides)
        try:
            return GRPOConfig(**values)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"TRL rejected the training settings: {exc}") from None

    def peft_config(self) -> Any:
        """A ``peft.LoraConfig`` when ``lora_r > 0``, else None."""
        if not self.lora_r:
            return None
        try:
            from peft import LoraConfig
        except ImportError:
            raise ConfigError("lora_r > 0 needs peft: pip install peft", "lora_r") from None
        return LoraConfig(
            r=self.lora_r,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            target_modules=self.lora_target_modules,
            task_type="CAUSAL_LM",
        )


def _grpo_fields() -> set[str] | None:
    try:
        from trl import GRPOConfig
    except ImportError:  # training extra not installed: cannot check, TRL will when training starts
        return None
    return {f.name for f in dataclasses.fields(GRPOConfig)}


def _trl_version() -> str:
    try:
        import trl

        return trl.__version__
    except ImportError:  # pragma: no cover
        return "not installed"
