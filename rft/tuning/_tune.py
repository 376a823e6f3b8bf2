"""`rft.tune`: GRPO with rft graders as the rewards, on TRL's ``GRPOTrainer``.

One reward function per grader (unique names, so TRL logs ``rewards/<name>/mean`` for each),
weights through ``reward_weights``, judges as async rewards, the unscored policy of
:mod:`rft.tuning._rewards`, an optional pre-flight signal check, optional LoRA. Runs unchanged under
``torchrun`` / ``accelerate launch``: TRL splits the batch over ranks and gathers the rewards.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rft._data import load_rows
from rft.auditing import audit_rewards
from rft.eval._checks import check_rows
from rft.eval._store import _umask_modes
from rft.models import load_model
from rft.tuning._config import TuneConfig
from rft.tuning._preflight import preflight as run_preflight
from rft.tuning._rewards import reward_functions, reward_weights
from rft.tuning._routing import rows_for

__all__ = ["TuneResult", "tune"]


@dataclasses.dataclass
class TuneResult:
    """What :func:`rft.tune` returns: the tuned model and what happened on the way."""

    model: Any = dataclasses.field(repr=False)
    tokenizer: Any = dataclasses.field(repr=False)
    reward_names: list[str]
    steps: int
    log_history: list[dict[str, Any]] = dataclasses.field(repr=False)
    preflight: Any = dataclasses.field(default=None, repr=False)
    output_dir: str = ""
    seconds: float = 0.0
    unscored: dict[str, int] = dataclasses.field(default_factory=dict)

    def curve(self, key: str) -> list[tuple[int, float]]:
        """``(step, value)`` pairs of a logged metric, e.g. ``"reward"`` or ``"rewards/fmt/mean"``."""
        return [
            (int(e["step"]), float(e[key]))
            for e in self.log_history
            if key in e and e[key] is not None and "step" in e
        ]

    def reward_curves(self) -> dict[str, list[tuple[int, float]]]:
        """The mean reward per step of every grader, plus the weighted total under ``"reward"``."""
        out = {name: self.curve(f"rewards/{name}/mean") for name in self.reward_names}
        out["reward"] = self.curve("reward")
        return out

    def save(self, path: str | Path) -> Path:
        """Save the tuned model and tokenizer (LoRA adapters merged) as a plain model folder."""
        path = Path(path)
        model = self.model
        if hasattr(model, "merge_and_unload"):
            model = model.merge_and_unload()
        model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        return path

    def summary(self) -> str:
        curves = self.reward_curves()
        parts = []
        for name, pts in curves.items():
            if pts:
                parts.append(f"{name} {pts[0][1]:.3f} -> {pts[-1][1]:.3f}")
        return f"tuned {self.steps} steps in {self.seconds:.0f}s: " + ", ".join(parts)


def _check_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """rft.evaluate's row checker (one prompt rule), plus training's rule: one kind of prompt."""
    check_rows(rows, prompt_field="prompt", one_prompt_kind=True)
    return [dict(r) for r in rows]


def _load(model: Any, tokenizer: Any) -> tuple[Any, Any]:
    if tokenizer is not None:
        return load_model((model, tokenizer))
    if isinstance(model, tuple):
        return load_model(model)
    return load_model(model)


class _Progress:
    """TRL's own progress bar (transformers' ``ProgressCallback``: ``tqdm.auto``, so a widget in
    notebooks and a text bar in terminals) that writes one readable line per logged step (total
    reward and each grader's mean) instead of the raw log dict. Built lazily: transformers is heavy."""

    @staticmethod
    def make(names: list[str]) -> Any:
        from transformers.trainer_callback import ProgressCallback

        class Progress(ProgressCallback):
            def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
                if not state.is_world_process_zero or self.training_bar is None or not logs or "reward" not in logs:
                    return
                reward = logs["reward"]  # None (or NaN) when every reward abstained on the whole batch
                shown = "-" if reward is None or reward != reward else f"{reward:.3f}"
                parts = [f"step {state.global_step}/{state.max_steps}", f"reward {shown}"]
                for n in names:
                    v = logs.get(f"rewards/{n}/mean")
                    if v is not None and v == v:
                        parts.append(f"{n} {v:.3f}")
                self.training_bar.write("  " + "  ".join(parts))

        return Progress()


def tune(
    model: Any,
    data: Any,
    graders: Any,
    config: Any = None,
    *,
    weights: Any = None,
    tokenizer: Any = None,
    callbacks: Sequence[Any] = (),
    resume_from_checkpoint: str | bool | None = None,
    progress: bool = True,
    **overrides: Any,
) -> TuneResult:
    """Tune ``model`` with GRPO on ``data``, rewarding completions with ``graders``; keep the tuned
    model in ``config.output_dir``.

    - ``model``: a model object (with ``tokenizer=``), a ``(model, tokenizer)`` pair, a local
      folder, or ``"default"`` for the embedded SmolLM2-135M-Instruct.
    - ``data``: rows with a ``prompt`` (text or chat messages) and whatever fields the graders'
      templates read (a JSONL path, list of dicts or ``datasets.Dataset``).
    - ``graders``: grader objects, config dicts, catalogue names, or plain TRL reward functions.
    - ``weights``: a list, or ``{grader_name: weight}`` (missing names weigh 1).
    - ``config``: a :class:`~rft.TuneConfig` (or a dict); keyword ``overrides`` replace its fields.
    - ``progress``: TRL's progress bar (a widget in notebooks) with one line per logged step, and
      the pre-flight table; ``False``, or ``grpo={"disable_tqdm": True}`` in the config, is quiet.

    When training ends the model and tokenizer are saved to ``config.output_dir`` (a folder
    :func:`rft.models.load_model` and ``from_pretrained`` read; with LoRA, the adapter) unless
    ``save_model=False``; :meth:`TuneResult.save` writes a merged copy anywhere else.

    Raises :class:`~rft.NoSignalError` when the pre-flight check finds no signal and
    :class:`~rft.TooManyUnscoredError` when graders cannot score a batch.

    >>> import rft
    >>> from rft.testing import tiny_model
    >>> rows = [{"prompt": f"Say {i}", "answer": str(i)} for i in range(4)]
    >>> fmt = rft.StringCheck(name="has_e", reference="e", operation="ilike")
    >>> out = __import__("tempfile").mkdtemp()
    >>> result = rft.tune(tiny_model(), rows, [fmt], max_steps=1, num_generations=2,
    ...                   per_device_train_batch_size=2, max_completion_length=4, preflight=False,
    ...                   audit=False,  # a toy grader that is gameable on purpose
    ...                   output_dir=out, progress=False)
    >>> result.steps, result.reward_names, result.output_dir == out
    (1, ['has_e'], True)
    >>> import os; os.path.isfile(os.path.join(out, "config.json"))  # the tuned model, ready to load
    True
    """
    from datasets import Dataset
    from trl import GRPOTrainer

    if config is None:
        config = TuneConfig()
    elif isinstance(config, Mapping):
        config = TuneConfig.from_dict(config)
    if overrides:
        config = config.replace(**overrides)
    model, tokenizer = _load(model, tokenizer)
    rows = _check_rows(load_rows(data))
    rewards = reward_functions(graders, max_unscored_frac=config.max_unscored_frac, log_reasons=config.log_completions)
    ws = reward_weights(rewards, weights)

    report = None
    if config.preflight:
        report = run_preflight((model, tokenizer), rows, [r.grader for r in rewards], config, weights=ws)
        if progress:
            print(report, flush=True)
        report.raise_if_no_signal()
    else:  # the pre-flight audits the reward graders; without it, audit them here
        for reward in rewards:  # each grader on the rows it judges (a replayed guard's only on its own)
            audit_rewards([reward.grader], rows_for(reward, rows), mode=config.audit)

    show = progress and not config.grpo.get("disable_tqdm", False)
    args = config.grpo_config(disable_tqdm=not show, **({"reward_weights": ws} if ws is not None else {}))
    trainer = GRPOTrainer(
        model=model,
        processing_class=tokenizer,
        reward_funcs=rewards,
        args=args,
        train_dataset=Dataset.from_list(rows),
        peft_config=config.peft_config(),
        callbacks=list(callbacks) or None,
    )
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    # Either callback writes raw log dicts: quiet prints nothing, progress a bar with readable lines.
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    if show:
        trainer.add_callback(_Progress.make([r.name for r in rewards]))
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume_from_checkpoint)
    seconds = time.perf_counter() - start
    if config.save_model:
        trainer.save_model(args.output_dir)  # weights, config and tokenizer; only the main process writes
        if trainer.is_world_process_zero():
            _umask_modes(Path(args.output_dir))  # transformers writes the weights owner-only
    return TuneResult(
        model=trainer.model,
        tokenizer=tokenizer,
        reward_names=[r.name for r in rewards],
        steps=int(trainer.state.global_step),
        log_history=list(trainer.state.log_history),
        preflight=report,
        output_dir=str(args.output_dir),
        seconds=seconds,
        unscored={r.name: r.unscored for r in rewards},
    )
