"""Step time of rft.tune against raw GRPOTrainer with equivalent hand-written reward functions.

Same model, data, seed and settings; prints the ratio (goal <= 1.03x) and where time goes per step
(generation, reward, backward), from TRL's own profiling of its step phases.

    python bench/tune_overhead.py [--model tiny|default] [--steps 6]
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time

import rft
import rft.testing
from rft.tuning import TuneConfig


def _format(completions, **kwargs):
    return [1.0 if re.search(r"<answer>\s*\S[\s\S]*?</answer>", c if isinstance(c, str) else c[-1]["content"]) else 0.0
            for c in completions]


def _has_e(completions, **kwargs):
    return [1.0 if "e" in (c if isinstance(c, str) else c[-1]["content"]).lower() else 0.0 for c in completions]


def _rows(n: int = 32):
    return [
        {"prompt": f"What is {i} + {i + 1}? Put the answer in <answer></answer> tags.", "answer": str(2 * i + 1)}
        for i in range(n)
    ]


class _Timer:
    """A TrainerCallback timing each optimizer step."""

    @staticmethod
    def make(times: list[float]):
        from transformers import TrainerCallback

        class T(TrainerCallback):
            def on_step_begin(self, args, state, control, **kw):
                self.t = time.perf_counter()

            def on_step_end(self, args, state, control, **kw):
                times.append(time.perf_counter() - self.t)

        return T()


def _instrument() -> dict[str, float]:
    """Time GRPOTrainer's phases by wrapping its methods (class-level, for this bench only)."""
    from trl import GRPOTrainer

    phases: dict[str, float] = {"generation": 0.0, "reward": 0.0, "step total": 0.0}
    names = {"_generate": "generation", "_calculate_rewards": "reward", "training_step": "step total"}
    for method, label in names.items():
        original = getattr(GRPOTrainer, method).__dict__.get("__rft_original__", getattr(GRPOTrainer, method))

        def wrapped(self, *a, __f=original, __label=label, **kw):
            t = time.perf_counter()
            try:
                return __f(self, *a, **kw)
            finally:
                phases[__label] += time.perf_counter() - t

        wrapped.__rft_original__ = original
        setattr(GRPOTrainer, method, wrapped)
    return phases


def run(model_spec: str, steps: int, rft_path: bool) -> tuple[list[float], dict[str, float]]:
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import GRPOTrainer

    from rft.models import load_model

    phases = _instrument()
    model, tok = load_model(model_spec)
    cfg = TuneConfig(output_dir=tempfile.mkdtemp(), max_steps=steps, num_generations=4, per_device_train_batch_size=8,
                     max_completion_length=24, seed=0, preflight=False, save_model=False)
    times: list[float] = []
    graders = [rft.load_grader("answer_in_tags"), rft.StringCheck(name="has_e", reference="e", operation="ilike")]
    if rft_path:
        rft.tune((model, tok), _rows(), graders, cfg, callbacks=[_Timer.make(times)], progress=False)
    else:
        trainer = GRPOTrainer(model=model, processing_class=tok, reward_funcs=[_format, _has_e], args=cfg.grpo_config(),
                              train_dataset=Dataset.from_list(_rows()), callbacks=[_Timer.make(times)])
        trainer.remove_callback(PrinterCallback)
        trainer.train()
    return times, phases


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="tiny", help="tiny (rft.testing) or default (embedded SmolLM2-135M)")
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    spec = str(rft.testing.tiny_model_dir()) if args.model == "tiny" else "default"
    raw, raw_phases = run(spec, args.steps, rft_path=False)
    ours, our_phases = run(spec, args.steps, rft_path=True)
    # The first step warms caches; compare the median of the rest.
    r, o = statistics.median(raw[1:] or raw), statistics.median(ours[1:] or ours)
    print(
        f"model={args.model} steps={args.steps}: raw GRPOTrainer {r:.3f}s/step, rft.tune {o:.3f}s/step, "
        f"ratio {o / r:.3f}x"
    )
    for name, ph in (("raw", raw_phases), ("rft", our_phases)):
        other = ph["step total"] - ph["generation"] - ph["reward"]
        print(
            f"  {name}: per step generation {ph['generation'] / args.steps:.3f}s, "
            f"reward {ph['reward'] / args.steps:.4f}s, loss+backward+rest {other / args.steps:.3f}s"
        )


if __name__ == "__main__":
    main()
