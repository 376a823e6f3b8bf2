"""What gets evaluated: adapters that turn prompts into outputs.

:func:`as_target` accepts

- a Hugging Face model object, a ``(model, tokenizer)`` pair, a local model folder, or a short
  name of the embedded model (``"default"``, ``"smollm2"``) -> :class:`HFTarget`;
- ``"openai:MODEL@BASE_URL"`` or an :class:`OpenAITarget` -> an OpenAI-compatible endpoint;
- any callable ``prompts -> outputs`` (one string per prompt) -> :class:`CallableTarget`;
- :class:`Outputs` -> precomputed outputs, from a column of the data or a JSONL file.

Every target reports ``describe()``, a JSON-ready dict recorded in the report.

>>> t = as_target(lambda prompts: [p.upper() for p in prompts])
>>> t.generate(["hi", "yo"], n=2, params=GenerationParams())
[['HI', 'HI'], ['YO', 'YO']]
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rft._data import pair_outputs, read_jsonl_values
from rft._errors import ConfigError, DataError
from rft._sample import as_text
from rft.models import generate_counted, is_default_model_name, load_model, prompt_text

__all__ = [
    "CallableTarget",
    "GenerationParams",
    "HFTarget",
    "OpenAITarget",
    "Outputs",
    "Target",
    "as_target",
]


@dataclasses.dataclass
class GenerationParams:
    """Sampling settings, recorded in every report."""

    max_new_tokens: int = dataclasses.field(default=128, metadata={"help": "Tokens generated at most per sample."})
    temperature: float = dataclasses.field(default=0.0, metadata={"help": "0 = greedy decoding."})
    top_p: float = dataclasses.field(default=1.0, metadata={"help": "Nucleus sampling mass."})
    seed: int | None = dataclasses.field(default=0, metadata={"help": "Random seed (None = unseeded)."})
    batch_size: int = dataclasses.field(
        default=64,
        metadata={"help": "Prompts per generation batch (64 was fastest for the 135M model on 2 CPU cores)."},
    )

    def __post_init__(self) -> None:
        for name in ("max_new_tokens", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"expected an integer >= 1, got {value!r}", name)
        if not isinstance(self.temperature, (int, float)) or self.temperature < 0:
            raise ConfigError(f"expected a number >= 0, got {self.temperature!r}", "temperature")
        if not isinstance(self.top_p, (int, float)) or not 0 < self.top_p <= 1:
            raise ConfigError(f"expected a number in (0, 1], got {self.top_p!r}", "top_p")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Target:
    """Base class of targets: ``generate(prompts, n, params) -> one list of n outputs per prompt``."""

    #: Precomputed targets read outputs by row instead of generating them.
    precomputed = False

    def generate(self, prompts: Sequence[Any], *, n: int, params: GenerationParams) -> list[list[str]]:
        raise NotImplementedError

    def prompt_lengths(self, prompts: Sequence[Any]) -> list[int]:
        """A length per prompt used to batch similar lengths together (characters by default)."""
        return [len(p) if isinstance(p, str) else sum(len(str(m.get("content", ""))) for m in p) for p in prompts]

    def generate_counted(
        self, prompts: Sequence[Any], *, n: int, params: GenerationParams
    ) -> tuple[list[list[str]], list[list[int]] | None]:
        """:meth:`generate` plus tokens generated per output, where the target knows them (else None)."""
        return self.generate(prompts, n=n, params=params), None

    def describe(self) -> dict[str, Any]:
        return {"type": type(self).__name__}


class HFTarget(Target):
    """A local Hugging Face causal LM, generated with :func:`rft.models.generate` (batched, left
    padding, longest first; chat-format prompts go through the tokenizer's chat template)."""

    def __init__(self, spec: Any, *, dtype: str = "float32", device: str = "cpu"):
        self.spec = spec
        self.dtype = dtype
        self.device = device
        self._loaded: tuple[Any, Any] | None = None
        if isinstance(spec, tuple) and len(spec) == 2:
            self._loaded = spec
            spec = spec[0]
        if isinstance(spec, (str, os.PathLike)):
            self.name = "default" if is_default_model_name(spec) else os.fspath(spec)
        else:
            self.name = str(getattr(spec, "name_or_path", "") or type(spec).__name__)

    def _ensure(self) -> tuple[Any, Any]:
        # Loaded on first use, so that row checks fail fast before a model is read from disk.
        if self._loaded is None:
            self._loaded = load_model(self.spec, dtype=self.dtype, device=self.device)
        return self._loaded

    @property
    def model(self) -> Any:
        return self._ensure()[0]

    @property
    def tokenizer(self) -> Any:
        return self._ensure()[1]

    def generate(self, prompts: Sequence[Any], *, n: int, params: GenerationParams) -> list[list[str]]:
        return self.generate_counted(prompts, n=n, params=params)[0]

    def generate_counted(
        self, prompts: Sequence[Any], *, n: int, params: GenerationParams
    ) -> tuple[list[list[str]], list[list[int]] | None]:
        return generate_counted(
            self.model,
            self.tokenizer,
            list(prompts),
            max_new_tokens=params.max_new_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            n=n,
            batch_size=params.batch_size,
            seed=params.seed,
        )

    def prompt_lengths(self, prompts: Sequence[Any]) -> list[int]:
        texts = [prompt_text(self.tokenizer, p) for p in prompts]
        return [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "hf", "model": self.name}
        if self._loaded is not None:
            out["parameters"] = int(sum(p.numel() for p in self._loaded[0].parameters()))
        return out


class OpenAITarget(Target):
    """An OpenAI-compatible chat endpoint (vLLM, llama.cpp server, OpenAI, ...) via the openai SDK.

    A string prompt is sent as one user message. Requests run concurrently (``concurrency``
    threads); ``n`` samples are requested with the API's ``n`` parameter. The API key comes from
    ``api_key``, else ``$OPENAI_API_KEY``, else a placeholder (local servers ignore it).
    """

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        concurrency: int = 8,
        timeout: float = 120.0,
        max_retries: int = 2,
    ):
        self.model = model
        self.base_url = base_url
        self.api_key = api_key
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self._client: Any = None

    @classmethod
    def from_spec(cls, spec: str) -> OpenAITarget:
        """``"openai:MODEL"`` or ``"openai:MODEL@http://host:port/v1"``."""
        body = spec.split(":", 1)[1]
        model, _, url = body.partition("@")
        if not model:
            raise ConfigError(f"target {spec!r} names no model; write openai:MODEL@http://host:port/v1", "target")
        return cls(model, url or None)

    def _get_client(self) -> Any:
        if self._client is None:
            import openai

            self._client = openai.OpenAI(
                base_url=self.base_url,
                api_key=self.api_key or os.environ.get("OPENAI_API_KEY") or "not-needed",
                timeout=self.timeout,
                max_retries=self.max_retries,
            )
        return self._client

    def _one(self, prompt: Any, n: int, params: GenerationParams) -> list[str]:
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "n": n,
        }
        if params.seed is not None:
            kwargs["seed"] = params.seed
        response = self._get_client().chat.completions.create(**kwargs)
        outs = [c.message.content or "" for c in sorted(response.choices, key=lambda c: c.index)]
        if len(outs) < n:  # some servers ignore n: ask again for the rest
            outs += self._one(prompt, n - len(outs), params) if outs else [""] * (n - len(outs))
        return outs[:n]

    def generate(self, prompts: Sequence[Any], *, n: int, params: GenerationParams) -> list[list[str]]:
        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            return list(pool.map(lambda p: self._one(p, n, params), prompts))

    def describe(self) -> dict[str, Any]:
        return {"type": "openai", "model": self.model, "base_url": self.base_url}


class CallableTarget(Target):
    """A Python callable ``prompts -> outputs``: given a list of prompts, it returns one output
    string per prompt. For ``n`` samples per prompt it receives each prompt ``n`` times in a row."""

    def __init__(self, fn: Callable[[list[Any]], Sequence[Any]], name: str | None = None):
        self.fn = fn
        self.name = name or getattr(fn, "__qualname__", None) or type(fn).__name__

    def generate(self, prompts: Sequence[Any], *, n: int, params: GenerationParams) -> list[list[str]]:
        flat = [p for p in prompts for _ in range(n)]
        outs = list(self.fn(flat))
        if len(outs) != len(flat):
            raise ConfigError(
                f"target {self.name!r} returned {len(outs)} outputs for {len(flat)} prompts; return one per prompt",
                "target",
            )
        texts = [o if isinstance(o, str) else as_text(o) for o in outs]
        return [texts[i * n : (i + 1) * n] for i in range(len(prompts))]

    def describe(self) -> dict[str, Any]:
        return {"type": "callable", "name": self.name}


class Outputs(Target):
    """Precomputed outputs: a ``column`` of the data rows, or a JSONL ``path``.

    A column value may be a string (one sample) or a list of strings (several samples). A JSONL
    file pairs with the rows by ``id_field`` when its lines carry one (several lines may share an
    id: several samples; lines whose id no evaluated row has are skipped, so one file may serve
    several splits), else line by line; see :func:`rft._data.pair_outputs`. Outputs that are chat
    message lists or sample dicts (``{"output_text", "output_json", "output_tools", ...}``) are
    graded as they are; the report shows their text.
    """

    precomputed = True

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        column: str | None = None,
        field: str = "output",
        id_field: str = "id",
    ):
        if (path is None) == (column is None):
            raise ConfigError("Outputs needs exactly one of path= (a JSONL file) or column= (a data column)", "target")
        self.path = Path(path) if path is not None else None
        self.column = column
        self.field = field
        self.id_field = id_field
        self._by_row: list[list[Any]] | None = None
        self._origin: list[list[int]] | None = None
        #: Outputs in the file whose id no evaluated row has (not graded), after :meth:`bind`.
        self.skipped = 0

    def bind(self, rows: Sequence[Mapping[str, Any]], *, rows_source: str = "rows") -> None:
        """Attach outputs to ``rows`` (called once by :func:`rft.evaluate`)."""
        by_row: list[list[Any]] = [[] for _ in rows]
        origin: list[list[int]] = [[] for _ in rows]
        if self.column is not None:
            for i, row in enumerate(rows):
                if self.column not in row:
                    raise DataError(f"row {i}: no output column {self.column!r} (fields: {', '.join(row) or 'none'})")
                value = row[self.column]
                values = value if isinstance(value, list) and all(isinstance(v, str) for v in value) else [value]
                by_row[i] = list(values)
                origin[i] = [i] * len(values)
        else:
            assert self.path is not None
            values = read_jsonl_values(self.path)
            pairs = pair_outputs(
                rows, values, field=self.field, id_field=self.id_field,
                source=str(self.path), rows_source=rows_source, unknown_ids="ignore",
            )
            self.skipped = len(values) - len(pairs)
            for k, r, sample in pairs:
                by_row[r].append(sample)
                origin[r].append(k)
        for i, outs in enumerate(by_row):
            if not outs:
                where = self.describe().get("path", self.column)
                raise DataError(f"row {i} (id {rows[i].get(self.id_field)!r}) has no output in {where}")
        self._by_row = by_row
        self._origin = origin

    def samples_for(self, row: int) -> list[Any]:
        """The outputs of ``row`` as given (text, chat messages or sample dicts): what is graded."""
        if self._by_row is None:
            raise ConfigError("Outputs.bind(rows) was not called")
        return self._by_row[row]

    def outputs_for(self, row: int) -> list[str]:
        """The outputs of ``row`` as text (what the report shows)."""
        return [o if isinstance(o, str) else as_text(o) for o in self.samples_for(row)]

    def origin(self, row: int) -> list[int]:
        """Where each output of ``row`` came from: its index among the file's outputs (or the row)."""
        if self._origin is None:
            raise ConfigError("Outputs.bind(rows) was not called")
        return self._origin[row]

    def describe(self) -> dict[str, Any]:
        if self.column is not None:
            return {"type": "outputs", "column": self.column}
        return {"type": "outputs", "path": str(self.path)}


def as_target(target: Any) -> Target:
    """Turn any accepted target spelling into a :class:`Target` (see the module docstring)."""
    if isinstance(target, Target):
        return target
    if isinstance(target, Mapping):
        return _target_from_config(target)
    if isinstance(target, str) and target.startswith("openai:"):
        return OpenAITarget.from_spec(target)
    if isinstance(target, (str, os.PathLike)) and os.fspath(target).endswith(".jsonl"):
        return Outputs(target)
    if isinstance(target, (str, os.PathLike, tuple)) or (hasattr(target, "generate") and hasattr(target, "config")):
        return HFTarget(target)
    if callable(target):
        return CallableTarget(target)
    raise ConfigError(
        f"cannot evaluate a {type(target).__name__}: pass a model, a model folder, 'default', "
        "'openai:MODEL@URL', a callable prompts -> outputs, or rft.eval.Outputs(...)",
        "target",
    )


def _target_from_config(config: Mapping[str, Any]) -> Target:
    """Targets written as data (suite files): ``{model: PATH|default}``, ``{openai: {model, base_url}}``,
    ``{outputs: FILE}`` or ``{outputs_column: COLUMN}``."""
    keys = set(config)
    if keys <= {"model", "dtype", "device"} and "model" in keys:
        return HFTarget(config["model"], dtype=config.get("dtype", "float32"), device=config.get("device", "cpu"))
    if keys == {"openai"} and isinstance(config["openai"], Mapping):
        spec = dict(config["openai"])
        if "model" not in spec:
            raise ConfigError("missing 'model'", "target.openai.model")
        try:
            return OpenAITarget(**spec)
        except TypeError as exc:
            raise ConfigError(f"bad endpoint settings: {exc}", "target.openai") from None
    if keys <= {"outputs", "field", "id_field"} and "outputs" in keys:
        return Outputs(config["outputs"], field=config.get("field", "output"), id_field=config.get("id_field", "id"))
    if keys == {"outputs_column"}:
        return Outputs(column=config["outputs_column"])
    raise ConfigError(
        f"unknown target {dict(config)!r}; write {{model: default|PATH}}, {{openai: {{model: M, base_url: URL}}}}, "
        "{outputs: FILE.jsonl} or {outputs_column: COLUMN}",
        "target",
    )
