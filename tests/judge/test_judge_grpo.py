"""A GRPO run on the tiny model with a judge grader (async reward) beside a deterministic grader."""

import pytest

from rft.graders._model import ScoreModel
from rft.graders._string import StringCheck
from rft.judge import CallableBackend


class LengthJudge:
    """A picklable judge function: prefers short answers (deterministic, so the test can check it)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, messages, **params):
        self.calls += 1
        text = messages[-1]["content"]
        return f"Reasoning...\nScore: {10 if len(text) < 400 else 3}"


def test_grpo_with_judge_and_deterministic_grader(tmp_path):
    datasets = pytest.importorskip("datasets")
    from trl import GRPOConfig, GRPOTrainer

    from rft.testing import tiny_model

    judge_fn = LengthJudge()
    judge = ScoreModel(name="judge", range=[0, 10], cache=str(tmp_path / "cache.sqlite"),
                       backend=CallableBackend(judge_fn),
                       input=[{"role": "user",
                               "content": "Q: {{item.question}}\nA: {{sample.output_text}}\nScore 0-10."}])
    exact = StringCheck(name="says_42", reference="42", operation="like")
    model, tokenizer = tiny_model()
    data = datasets.Dataset.from_list(
        [
            {"prompt": [{"role": "user", "content": f"What is {i} + {42 - i}?"}], "question": f"{i}+{42 - i}"}
            for i in range(4)
        ]
    )
    args = GRPOConfig(output_dir=str(tmp_path / "out"), use_cpu=True, bf16=False, max_steps=2,
                      per_device_train_batch_size=4, num_generations=4, max_completion_length=8,
                      logging_steps=1, report_to="none", save_strategy="no")
    trainer = GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=[judge, exact],
                          train_dataset=data, args=args)
    assert trainer._has_async_funcs  # TRL saw the judge as an async reward
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "rewards/judge/mean" in entry]
    assert logs and all("rewards/says_42/mean" in entry for entry in logs)
    assert all(entry["rewards/judge/mean"] == pytest.approx(1.0) for entry in logs)  # short answers: 10/10
    assert judge_fn.calls > 0


def test_grpo_with_the_tiny_local_model_as_judge(tmp_path):
    """The local backend (a real model behind a batching worker thread) inside TRL's async reward
    loop. The tiny judge's replies are random text, so its grades are unscored: TRL gets None for
    it (an abstention, never 0) and trains on the deterministic grader."""
    datasets = pytest.importorskip("datasets")
    from trl import GRPOConfig, GRPOTrainer

    from rft.judge import LocalBackend
    from rft.testing import tiny_model

    backend = LocalBackend("tiny", batch_size=8, max_new_tokens=4)
    judge = ScoreModel(name="tiny_judge", range=[0, 10], cache=False, backend=backend,
                       input=[{"role": "user", "content": "A: {{sample.output_text}}\nScore 0-10."},
                              {"role": "assistant", "content": "Score:"}])
    exact = StringCheck(name="says_42", reference="42", operation="like")
    seen: list[list[float | None]] = []

    class Spy:
        """Records what the judge returned to TRL (a picklable callable class, as TRL wants)."""

        __name__ = "spy"

        async def __call__(self, **kwargs):
            scores = await judge(**kwargs)
            seen.append(scores)
            return scores

    model, tokenizer = tiny_model()
    data = datasets.Dataset.from_list(
        [{"prompt": [{"role": "user", "content": f"What is {i} + 1?"}]} for i in range(4)]
    )
    args = GRPOConfig(output_dir=str(tmp_path / "out"), use_cpu=True, bf16=False, max_steps=2,
                      per_device_train_batch_size=4, num_generations=4, max_completion_length=8,
                      logging_steps=1, report_to="none", save_strategy="no")
    trainer = GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=[Spy(), exact],
                          train_dataset=data, args=args)
    trainer.train()
    assert backend.batches_run >= 1  # the real model judged, in batches
    assert seen and all(len(s) == 4 for s in seen)
    # Greedy decoding of the fixed random model never produces "Score: N": unscored, not 0.
    assert all(s is None for batch in seen for s in batch)
    assert any("rewards/says_42/mean" in entry for entry in trainer.state.log_history)
