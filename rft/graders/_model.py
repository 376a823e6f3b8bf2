"""LLM-as-judge graders: ``score_model`` and ``label_model`` (OpenAI's config format), and
:func:`rubric_judge`, a Python spelling of a ``score_model`` built from criteria text.

A judge grader renders its ``input`` messages per sample (the candidate inside a nonce-delimited,
length-capped block), asks its backend (the embedded local model by default, or any
OpenAI-compatible server), and parses the **last** verdict of the reply. Anything it cannot read
as a verdict on the declared scale is *unscored* with the reason and the raw reply in
``Grade.details`` — never 0, never clipped. Judges are async graders: TRL runs them concurrently
with its other async rewards.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from rft._errors import ConfigError, UntrustedCodeError
from rft._grade import Grade
from rft._template import Batch, Template
from rft.graders._base import Grader, Result, _AsyncCall
from rft.graders._registry import register_grader

__all__ = ["LabelModel", "ScoreModel", "rubric_judge"]

_ROLES = ("system", "developer", "user", "assistant")


def _help(text: str, **extra: Any) -> dict[str, Any]:
    return {"help": text, **extra}


def _message_content(message: Any, where: str) -> tuple[str, str]:
    if not isinstance(message, Mapping):
        raise ConfigError(f"expected a message {{'role': ..., 'content': ...}}, got {message!r}", where)
    role = message.get("role")
    if role not in _ROLES:
        raise ConfigError(f"role {role!r} is not one of {', '.join(_ROLES)}", f"{where}.role")
    content = message.get("content")
    if isinstance(content, Mapping):
        content = [content]
    if isinstance(content, list):  # OpenAI content parts: [{"type": "input_text", "text": ...}]
        texts = []
        for j, part in enumerate(content):
            if not isinstance(part, Mapping) or not isinstance(part.get("text"), str):
                raise ConfigError(f"only text content parts are supported, got {part!r}", f"{where}.content.{j}")
            texts.append(part["text"])
        content = "".join(texts)
    if not isinstance(content, str):
        raise ConfigError(f"expected message content text, got {content!r}", f"{where}.content")
    return role, content


@dataclasses.dataclass(kw_only=True, eq=True, repr=False)
class _Judge(_AsyncCall, Grader):
    """Machinery shared by the judge graders (not registered itself)."""

    #: Changes whenever prompts or parsing change, so cached replies of older versions are not reused.
    version: ClassVar[str] = "1"

    model: str = dataclasses.field(
        default="default",
        metadata=_help("Judge model: 'default' (the embedded SmolLM2-135M-Instruct), a local model folder, "
                       "or the model name a server knows.", always=True),
    )
    input: list[dict[str, Any]] = dataclasses.field(
        default_factory=list,
        metadata=_help("Chat messages [{'role', 'content'}] with {{item.*}} / {{sample.*}} templates.", always=True),
    )
    sampling_params: dict[str, Any] = dataclasses.field(
        default_factory=dict,
        metadata=_help("temperature, top_p, seed, max_completions_tokens (or max_tokens), response_format."),
    )
    backend: Any = dataclasses.field(
        default=None,
        metadata=_help("Where the judge runs: None (local for 'default'/folders, else $OPENAI_BASE_URL), "
                       "{'type': 'openai', 'base_url': ..., 'api_key_env': ...}, {'type': 'local'}, or a Backend."),
    )
    cache: bool | str = dataclasses.field(
        default=True,
        metadata=_help("Reuse replies from the on-disk cache: True (default file under RFT_CACHE), False, or a path."),
    )
    max_candidate_chars: int = dataclasses.field(
        default=4000, metadata=_help("Candidate text shown to the judge is cut here, with a visible marker.")
    )
    delimit_candidate: bool = dataclasses.field(
        default=True,
        metadata=_help("Put {{sample.output_text}} inside nonce-marked delimiters the candidate cannot forge."),
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        from rft.judge._backends import SAMPLING_KEYS, backend_from_config

        if not isinstance(self.model, str) or not self.model:
            raise ConfigError(f"expected a model name, got {self.model!r}", "model")
        if not isinstance(self.input, list) or not self.input:
            raise ConfigError("a judge needs input: a non-empty list of {'role', 'content'} messages", "input")
        self._templates = []
        for i, message in enumerate(self.input):
            role, content = _message_content(message, f"input.{i}")
            self._templates.append((role, Template(content, field=f"input.{i}.content")))
        if not any(f.startswith("sample.") for _, t in self._templates for f in t.fields):
            raise ConfigError("no message shows the judge the output; put {{sample.output_text}} in one", "input")
        self._shows_text = any("sample.output_text" in t.fields for _, t in self._templates)
        if not isinstance(self.sampling_params, Mapping):
            raise ConfigError(f"expected a dict, got {self.sampling_params!r}", "sampling_params")
        unknown = set(self.sampling_params) - SAMPLING_KEYS
        if unknown:
            raise ConfigError(f"unknown sampling parameter(s) {sorted(unknown)}; known: {', '.join(sorted(SAMPLING_KEYS))}",
                              "sampling_params")
        if not isinstance(self.max_candidate_chars, int) or isinstance(self.max_candidate_chars, bool) or self.max_candidate_chars < 1:
            raise ConfigError(f"expected a positive integer, got {self.max_candidate_chars!r}", "max_candidate_chars")
        if not isinstance(self.cache, (bool, str)):
            raise ConfigError(f"expected true, false or a file path, got {self.cache!r}", "cache")
        self._backend = backend_from_config(self.backend, self.model, trust_code=True)
        self._cache_obj: Any = None
        self._last_stats: dict[str, Any] | None = None

    @classmethod
    def _config_values(cls, values: dict[str, Any], *, trust_code: bool) -> dict[str, Any]:
        backend = values.get("backend")
        if isinstance(backend, Mapping) and backend.get("type") == "callable" and not trust_code:
            raise UntrustedCodeError("a callable backend imports and runs code; load with trust_code=True",
                                     "backend.function")
        return values

    def to_config(self) -> dict[str, Any]:
        config = super().to_config()
        if self.backend is not None and not isinstance(self.backend, Mapping):
            config["backend"] = self.backend.to_config()
        return config

    # ------------------------------------------------------------------------------------------

    @property
    def judge_backend(self) -> Any:
        """The :class:`~rft.judge.Backend` this grader asks."""
        return self._backend

    def _cache(self) -> Any:
        if self.cache is False:
            return None
        if self._cache_obj is None:
            from rft.judge._cache import default_cache_path, open_cache

            self._cache_obj = open_cache(default_cache_path() if self.cache is True else self.cache)
        return self._cache_obj

    def render_messages(self, batch: Batch) -> list[tuple[tuple[str, str], ...] | None]:
        """The judge messages for every row (None for rows that cannot be judged)."""
        from rft.judge._prompts import candidate_block, truncate

        limit = self.max_candidate_chars
        texts = batch.texts
        if self._shows_text:
            shown = [candidate_block(t, limit) if self.delimit_candidate else truncate(t, limit) for t in texts]
        else:
            shown = texts
        view = Batch(shown, samples=[batch.sample(i) for i in range(batch.n)], rows=batch.rows, columns=batch.columns)
        rendered = [(role, t.render(view, text=True)) for role, t in self._templates]
        for i, g in view.unscored.items():
            batch.mark_unscored(i, g)
        out: list[tuple[tuple[str, str], ...] | None] = []
        for i in range(batch.n):
            if i in batch.unscored or i in batch.fixed:
                out.append(None)
            else:
                out.append(tuple((role, col[i]) for role, col in rendered))
        return out

    async def _aevaluate(self, batch: Batch, rich: bool) -> Sequence[Result]:
        from rft.judge._backends import JudgeRequest
        from rft.judge._engine import ask

        messages = self.render_messages(batch)
        params = tuple(sorted(self.sampling_params.items()))
        todo = [i for i, m in enumerate(messages) if m is not None]
        requests = [JudgeRequest(messages[i], self.model, params) for i in todo]  # type: ignore[arg-type]
        start = time.perf_counter()
        replies = await ask(self._backend, requests, cache=self._cache(),
                            version=f"{self.type}/{self.version}/{self._parse_version()}")
        results: list[Result] = [None] * batch.n
        for i, reply in zip(todo, replies):
            results[i] = self._grade_reply(reply)
        hits = sum(1 for r in replies if r.cache_hit)
        self._last_stats = {
            "cache_hit_frac": hits / len(replies) if replies else 0.0,
            "backend_calls": len(replies) - hits,
            "judge_seconds": time.perf_counter() - start,
            "completion_tokens": float(sum(r.completion_tokens or 0 for r in replies)),
        }
        return results

    def _grade_reply(self, reply: Any) -> Grade:
        details: dict[str, Any] = {
            "cache_hit": reply.cache_hit,
            "latency_s": round(reply.latency_s, 6),
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "attempts": reply.attempts,
        }
        if reply.error is not None:
            return Grade.unscored_because(f"judge {self.name!r} got no reply: {reply.reason}", error=reply.error, **details)
        details["raw_reply"] = reply.text if len(reply.text) <= 4000 else reply.text[-4000:]
        return self._verdict_grade(reply.text, details)

    def _verdict_grade(self, text: str, details: dict[str, Any]) -> Grade:
        raise NotImplementedError

    def _parse_version(self) -> str:
        return "p1"

    def _log(self, log_metric: Callable[[str, float], None] | None, scores: list[float | None]) -> None:
        super()._log(log_metric, scores)
        stats = self._last_stats
        if log_metric is not None and stats:
            for key, value in stats.items():
                log_metric(f"rft/{self.name}/{key}", float(value))


@register_grader("score_model")
@dataclasses.dataclass(kw_only=True, eq=True, repr=False)
class ScoreModel(_Judge):
    """A judge model rates each output with a number in ``range``; the reward is that number
    normalised to [0, 1] (the raw verdict stays in ``details["raw_score"]``).

    ``pass_threshold`` is on the ``range`` scale, as in OpenAI's format (default: the midpoint).
    A verdict outside ``range`` is unscored, not clipped. The judge may answer in structured form
    (``{"steps": ..., "result": 7}``) or in text, where the last ``Score: N`` counts.

    >>> from rft.judge import ScriptedBackend
    >>> judge = ScoreModel(name="helpful", range=[1, 5], backend=ScriptedBackend(["Thinking... Score: 4"]),
    ...                    input=[{"role": "user", "content": "Rate 1-5: {{sample.output_text}}"}], cache=False)
    >>> g = judge.grade("Paris is the capital of France.")
    >>> g.score, g.details["raw_score"], g.passed
    (0.75, 4.0, True)
    """

    range: list[float] = dataclasses.field(
        default_factory=lambda: [0.0, 1.0], metadata=_help("[low, high] of the judge's scale.", always=True)
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        r = self.range
        if (not isinstance(r, (list, tuple)) or len(r) != 2
                or any(isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) for x in r)
                or not r[0] < r[1]):
            raise ConfigError(f"expected [low, high] with low < high, got {r!r}", "range")
        self.range = [float(r[0]), float(r[1])]
        if self.pass_threshold is not None and not (r[0] <= self.pass_threshold <= r[1]):
            raise ConfigError(f"pass_threshold {self.pass_threshold:g} is outside range {self.range}", "pass_threshold")

    @property
    def threshold(self) -> float:
        lo, hi = self.range
        if self.pass_threshold is None:
            return 0.5
        return (self.pass_threshold - lo) / (hi - lo)

    def _verdict_grade(self, text: str, details: dict[str, Any]) -> Grade:
        from rft.judge._parsing import parse_score

        lo, hi = self.range
        verdict = parse_score(text, lo, hi)
        if not verdict.ok:
            return Grade.unscored_because(f"judge {self.name!r}: {verdict.reason}", error=verdict.error, **details)
        details["raw_score"] = verdict.value
        details["range"] = [lo, hi]
        details["verdict_from"] = verdict.source
        return Grade((verdict.value - lo) / (hi - lo), reason=f"judge {self.name!r}: {verdict.reason}", details=details)


@register_grader("label_model")
@dataclasses.dataclass(kw_only=True, eq=True, repr=False)
class LabelModel(_Judge):
    """A judge model picks one of ``labels`` for each output; it passes (score 1) when the label
    is in ``passing_labels``, else scores 0. A label outside ``labels`` is unscored.

    >>> from rft.judge import ScriptedBackend
    >>> judge = LabelModel(name="tone", labels=["polite", "rude"], passing_labels=["polite"], cache=False,
    ...                    backend=ScriptedBackend(["Label: rude"]),
    ...                    input=[{"role": "user", "content": "Polite or rude? {{sample.output_text}}"}])
    >>> g = judge.grade("Go away.")
    >>> g.score, g.details["label"]
    (0.0, 'rude')
    """

    labels: list[str] = dataclasses.field(default_factory=list, metadata=_help("The labels the judge may answer.", always=True))
    passing_labels: list[str] = dataclasses.field(
        default_factory=list, metadata=_help("Labels that pass (score 1); the others score 0.", always=True)
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.labels, list) or not self.labels or not all(isinstance(x, str) and x.strip() for x in self.labels):
            raise ConfigError(f"expected a non-empty list of label strings, got {self.labels!r}", "labels")
        from rft.judge._parsing import _label_key

        keys = [_label_key(x) for x in self.labels]
        if len(set(keys)) != len(keys):
            raise ConfigError(f"labels must differ (ignoring case): {self.labels!r}", "labels")
        if not isinstance(self.passing_labels, list) or not self.passing_labels:
            raise ConfigError("expected a non-empty list of passing labels", "passing_labels")
        extra = [x for x in self.passing_labels if x not in self.labels]
        if extra:
            raise ConfigError(f"passing labels {extra!r} are not in labels {self.labels!r}", "passing_labels")

    def _verdict_grade(self, text: str, details: dict[str, Any]) -> Grade:
        from rft.judge._parsing import parse_label

        verdict = parse_label(text, self.labels)
        if not verdict.ok:
            return Grade.unscored_because(f"judge {self.name!r}: {verdict.reason}", error=verdict.error, **details)
        details["label"] = verdict.value
        details["verdict_from"] = verdict.source
        ok = verdict.value in self.passing_labels
        return Grade(1.0 if ok else 0.0, reason=f"judge {self.name!r}: {verdict.reason}", details=details)


def rubric_judge(
    criteria: str,
    *,
    reference: str | None = None,
    scale: tuple[int, int] = (1, 5),
    name: str = "rubric",
    model: str = "default",
    backend: Any = None,
    pass_threshold: float | None = None,
    **options: Any,
) -> ScoreModel:
    """A ``score_model`` judge that rates outputs against ``criteria`` (and a ``reference``
    answer, which may be a template such as ``"{{item.answer}}"``) on an integer ``scale``.

    The prompt comes from template files beside :mod:`rft.judge`; the result is an ordinary
    ``score_model`` grader, so ``to_config()`` writes it in OpenAI's format.

    >>> from rft.judge import ScriptedBackend
    >>> judge = rubric_judge("The answer names the capital of France.", reference="{{item.answer}}",
    ...                      backend=ScriptedBackend(["Score: 5"]), cache=False)
    >>> judge.grade("Paris", {"answer": "Paris"}).score
    1.0
    >>> judge.to_config()["type"]
    'score_model'
    """
    from rft.judge._prompts import load_prompt

    if not isinstance(criteria, str) or not criteria.strip():
        raise ConfigError(f"expected criteria text, got {criteria!r}", "criteria")
    lo, hi = scale
    ref_block = load_prompt("rubric_reference").format(reference=reference) if reference else ""
    user = load_prompt("rubric_user").format(criteria=criteria.strip(), reference_block=ref_block, lo=lo, hi=hi)
    messages = [{"role": "system", "content": load_prompt("rubric_system")}, {"role": "user", "content": user}]
    return ScoreModel(name=name, model=model, input=messages, range=[lo, hi], backend=backend,
                      pass_threshold=pass_threshold, **options)
