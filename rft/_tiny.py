"""The builder of rft's tiny causal LM: a few-token BPE tokenizer and a 2-layer Qwen2 with random,
seeded weights, made locally (no hub access). :mod:`rft.models` resolves the ``"tiny"`` alias with
it; :mod:`rft.testing` re-exports it for tests and quick notebook runs. Plumbing only: it does not
know any task."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["TINY_CHAT_TEMPLATE", "TINY_VERSION", "build_tiny_model"]

#: Bumped whenever the tokenizer corpus or the config changes (names the cache folder).
TINY_VERSION = "1"

TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Text the tokenizer is trained on: enough to give the words our data and graders use their own tokens.
_CORPUS = [
    "What is 12 + 7? <answer>19</answer>",
    "<think>add the numbers</think> <answer>42</answer> #### 42 \\boxed{3}",
    '{"name": "Ada Lovelace", "email": "ada@example.com", "age": 36}',
    "The quick brown fox jumps over the lazy dog. yes no maybe true false",
    "0123456789 + - * / = ( ) [ ] { } < > , . : ; ! ? ' \" \n",
    "system user assistant You are a helpful assistant. Answer in tags.",
]


def build_tiny_model(target: str | os.PathLike[str]) -> Path:
    """Build (once) the tiny model and its tokenizer in ``target`` and return it.

    The tokenizer is a byte-level BPE trained here on a few lines, with a ChatML chat template;
    weights are random but seeded, so every build is identical (~60k parameters). Safe with
    several processes: the folder appears atomically and the first finished build wins.
    """
    target = Path(target)
    if (target / "config.json").is_file():
        return target
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    core.train_from_iterator(_CORPUS * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        padding_side="left",
    )
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen2ForCausalLM(config).to(torch.float32)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process won the race: keep theirs
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target

