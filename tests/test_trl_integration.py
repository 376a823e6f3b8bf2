"""rft graders are TRL reward functions: the real GRPOTrainer trains a tiny model with three of them.

No mocks: TRL's own trainer calls the graders with its own keyword arguments (dataset columns,
``trainer_state``, ``log_metric``...), for plain-text and for conversational prompts.
"""

from __future__ import annotations

import pickle

import pytest

pytest.importorskip("trl")

import rft
from rft.testing import tiny_model

N_ROWS = 8


def _graders() -> list[rft.Grader]:
    # Three grader types a user mixes: a format check (regex), a reference check that reads a
    # dataset column through a template (exact_match), and one likely to vary within a group of
    # random outputs (string_check), so the advantage is non-zero and the weights must move.
    return [
        rft.load_grader({"type": "regex", "name": "has_tag", "pattern": "<answer>"}),
        rft.load_grader(
            {
                "type": "exact_match", "name": "correct", "reference": "{{item.answer}}", "extract": "last_number",
                "numeric": True,
            }
        ),
        rft.StringCheck(name="has_letter_e", reference="e", operation="ilike"),
    ]


def _rows(conversational: bool) -> list[dict]:
    rows = []
    for i in range(N_ROWS):
        question = f"What is {i} + 1? Answer in <answer> tags."
        prompt = [{"role": "user", "content": question}] if conversational else question
        rows.append({"prompt": prompt, "answer": str(i + 1)})
    return rows


@pytest.mark.parametrize(
    "conversational",
    [
        pytest.param(False, id="plain-prompts: completions arrive as strings"),
        pytest.param(True, id="chat-prompts: completions arrive as message lists"),
    ],
)
def test_grpo_trainer_trains_with_three_rft_graders(tmp_path, conversational):
    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    model, tokenizer = tiny_model()
    graders = _graders()
    for g in graders:  # TRL may ship reward functions to another process
        assert pickle.loads(pickle.dumps(g)).__name__ == g.__name__
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    args = GRPOConfig(
        output_dir=str(tmp_path),
        use_cpu=True,
        bf16=False,
        report_to="none",
        max_steps=3,
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=12,
        learning_rate=5e-2,
        logging_steps=1,
        save_strategy="no",
        gradient_checkpointing=False,
        disable_tqdm=True,
        seed=1,
    )
    trainer = GRPOTrainer(
        model=model,
        processing_class=tokenizer,
        reward_funcs=graders,
        args=args,
        train_dataset=Dataset.from_list(_rows(conversational)),
    )
    trainer.train()

    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logs) == 3
    for g in graders:
        key = f"rewards/{g.name}/mean"
        values = [entry[key] for entry in logs]
        assert all(0.0 <= v <= 1.0 for v in values), (key, values)
        # The graders' own unscored-rate metric travels through TRL's log_metric.
        assert all(entry[f"rft/{g.name}/unscored_frac"] == 0.0 for entry in logs)
    # The reward TRL trained on is the sum of the three (default weights 1).
    for entry in logs:
        total = sum(entry[f"rewards/{g.name}/mean"] for g in graders)
        assert entry["reward"] == pytest.approx(total, abs=1e-5)
    changed = [name for name, p in model.named_parameters() if not torch.equal(p.detach(), before[name])]
    assert changed, "no parameter changed: the rewards gave GRPO no signal"
