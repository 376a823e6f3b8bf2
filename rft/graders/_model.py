"""LLM-as-judge graders: ``score_model`` and ``label_model`` (OpenAI's config format), and
:func:`rubric_judge`, a Python spelling of a ``score_model`` built from criteria text.

A judge grader renders its ``input`` messages per sample (the candidate inside a nonce-delimited,
length-capped block), asks its backend (the embedded local model by default, or any
OpenAI-compatible server), and reads the verdict with :mod:`rft.judge._parsing`:

- **An unforgeable verdict.** The last message asks the judge to end with ``VERDICT-<nonce>:
  <value>``, where the nonce is the one marking the candidate block (a hash of the candidate, so
  the candidate cannot write it). Not when the input ends with an assistant message: that prefill
  leads the judge into its answer (what small local models need) and is the answer format. On
  OpenAI-compatible servers the request also carries a
  ``response_format`` JSON schema (``{"steps", "result"}``); a server that refuses it is asked again
  without, and not asked with it again. A judge that drops the nonce (small models do) is read by a
  stricter fallback: verdicts that also appear in the text being judged are quotes and dropped,
  and the rest must agree on one value, else the grade is unscored (``ambiguous``).
- **Unscored, never 0.** Anything it cannot read as a verdict on the declared scale is unscored
  with the reason and the raw reply in ``Grade.details``: never 0, never clipped.
- **What is cached.** A reply is written to the judge cache only when it parsed into a verdict
  on the declared scale (a score in range, a declared label). Empty replies, refusals, garbage,
  off-scale or ambiguous verdicts and every failed call are not cached: the next grade asks again.
  Requests sampled at ``temperature > 0`` are neither cached nor de-duplicated within a batch
  (each grade is a fresh draw), unless ``sampling_params`` sets a ``seed``, which opts into
  caching them like greedy ones.
- **Sampling parameters.** Every ``sampling_params`` key of OpenAI's ``score_model`` is accepted
  (``temperature``, ``top_p``, ``seed``, ``max_completions_tokens``, ``reasoning_effort``) plus
  ``max_tokens``, ``max_completion_tokens`` and ``response_format``. OpenAI-compatible and
  callable backends receive them all; the local backend honours ``temperature``, ``top_p``,
  ``seed`` and the token limits and ignores the rest, named once in a log warning and in every
  grade's ``details["ignored_sampling_params"]``.

Judges are async graders: TRL runs them concurrently with its other async rewards.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from rft._errors import ConfigError, UntrustedCodeError
from rft._grade import Grade
from rft._template import Batch, Template
from rft.graders._async import AsyncCall
from rft.graders._base import Grader, Result
from rft.graders._registry import register_grader
from rft.judge._backends import SAMPLING_KEYS, JudgeRequest, backend_from_config
from rft.judge._cache import default_cache_path, open_cache
from rft.judge._engine import ask
from rft.judge._parsing import _label_key, parse_label, parse_score, verdict_line
from rft.judge._prompts import candidate_block, load_prompt, nonce_for, truncate

__all__ = ["LabelModel", "ScoreModel", "rubric_judge"]

_ROLES = ("system", "developer", "user", "assistant")
_log = logging.getLogger("rft.judge")
_WARNED: set[tuple[str, tuple[str, ...]]] = set()


@dataclasses.dataclass(frozen=True)
class _Row:
    """What reading one row's reply needs: the messages sent, the request's nonce, and the
    untrusted text the judge was shown (the candidate and the item fields)."""

    messages: tuple[tuple[str, str], ...]
    nonce: str
    untrusted: str


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
class _Judge(AsyncCall, Grader):  # type: ignore[misc]  # AsyncCall's async __call__ replaces Grader's on purpose
    """Machinery shared by the judge graders (not registered itself)."""

    #: Changes whenever prompts or parsing change, so cached replies of older versions are not reused.
    version: ClassVar[str] = "2"

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
        metadata=_help("OpenAI's score_model keys: temperature, top_p, seed, max_completions_tokens, reasoning_effort; "
                       "also max_tokens, max_completion_tokens, response_format. A backend that cannot honour one "
                       "ignores it with a note in details['ignored_sampling_params']."),
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
    verdict_line: bool = dataclasses.field(
        default=True,
        metadata=_help("Append to the last message an instruction to end with 'VERDICT-<nonce>: <value>', the "
                       "request's nonce, which the candidate cannot forge (not when the input ends with an "
                       "assistant prefill, which is then the answer format). Off: your prompt says how to answer."),
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.model, str) or not self.model:
            raise ConfigError(f"expected a model name, got {self.model!r}", "model")
        if not isinstance(self.input, list) or not self.input:
            raise ConfigError("a judge needs input: a non-empty list of {'role', 'content'} messages", "input")
        self._templates = []
        for i, message in enumerate(self.input):
            role, content = _message_content(message, f"input.{i}")
            self._templates.append((role, Template(content, field=f"input.{i}.content")))
        # A judge may label an item field rather than the output ("Statement: {{item.response}}"), as
        # OpenAI's format allows; every value shown from the data counts as untrusted text.
        fields = dict.fromkeys(f for _, t in self._templates for f in t.fields)
        self._field_templates = [Template("{{" + f + "}}", field="input") for f in fields]
        self._shows_text = "sample.output_text" in fields
        # A final assistant message is a prefill that leads the judge into its answer: it is the
        # answer format, and an instruction before it only distracts a small model.
        self._prefilled = len(self._templates) > 1 and self._templates[-1][0] == "assistant"
        _check_sampling_params(self.sampling_params)
        limit = self.max_candidate_chars
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ConfigError(f"expected a positive integer, got {self.max_candidate_chars!r}", "max_candidate_chars")
        if not isinstance(self.cache, (bool, str)):
            raise ConfigError(f"expected true, false or a file path, got {self.cache!r}", "cache")
        for name in ("delimit_candidate", "verdict_line"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"expected true or false, got {getattr(self, name)!r}", name)
        self._backend = backend_from_config(self.backend, self.model, trust_code=True)
        self._ignored = tuple(sorted(self._backend.ignored_params(self.sampling_params)))
        if self._ignored:
            key = (self._backend.identity(), self._ignored)
            if key not in _WARNED:
                _WARNED.add(key)
                _log.warning("judge backend %s cannot honour sampling_params %s; they are ignored "
                             "(noted in each grade's details['ignored_sampling_params'])",
                             self._backend.identity(), ", ".join(self._ignored))
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
            self._cache_obj = open_cache(default_cache_path() if self.cache is True else self.cache)
        return self._cache_obj

    @property
    def sampled(self) -> bool:
        """True when each request is a fresh draw (``temperature > 0`` and no ``seed``): such
        replies are neither cached nor shared between identical rows."""
        p = self.sampling_params
        return float(p.get("temperature") or 0.0) > 0.0 and p.get("seed") is None

    def _prepare(self, batch: Batch) -> list[_Row | None]:
        limit = self.max_candidate_chars
        texts = batch.texts
        samples = [batch.sample(i) for i in range(batch.n)]
        cut = [truncate(t, limit) for t in texts] if self._shows_text else texts
        if self._shows_text and self.delimit_candidate:
            shown = [candidate_block(t, limit) for t in texts]
        else:
            shown = cut
        view = Batch(shown, samples=samples, rows=batch.rows, columns=batch.columns)
        rendered = [(role, t.render(view, text=True)) for role, t in self._templates]
        plain = Batch(cut, samples=samples, rows=batch.rows, columns=batch.columns)
        values = [t.render(plain, text=True) for t in self._field_templates]
        for i, g in view.unscored.items():
            batch.mark_unscored(i, g)
        out: list[_Row | None] = []
        for i in range(batch.n):
            if i in batch.unscored or i in batch.fixed:
                out.append(None)
                continue
            messages = tuple((role, col[i]) for role, col in rendered)
            # The candidate block's nonce; without a candidate, a hash of what the judge is shown.
            nonce = nonce_for(texts[i]) if self._shows_text else nonce_for(repr(messages))
            if self.verdict_line and not self._prefilled:
                messages = (*messages[:-1], (messages[-1][0], f"{messages[-1][1]}\n\n{self._instruction(nonce)}"))
            out.append(_Row(messages, nonce, "\n".join(col[i] for col in values)))
        return out

    async def _aevaluate(self, batch: Batch, rich: bool) -> Sequence[Result]:
        rows = self._prepare(batch)
        params = tuple(sorted(self.sampling_params.items()))
        todo = [i for i, r in enumerate(rows) if r is not None]
        schema = json.dumps(self._schema(), sort_keys=True)
        requests = [JudgeRequest(rows[i].messages, self.model, params, schema) for i in todo]  # type: ignore[union-attr]

        def keep(j: int, text: str) -> bool:  # cache only replies that are a verdict on the scale
            return self._verdict_grade(text, rows[todo[j]], {}).score is not None  # type: ignore[arg-type]

        start = time.perf_counter()
        replies = await ask(self._backend, requests, cache=self._cache(), keep=keep, fresh=self.sampled,
                            version=f"{self.type}/{self.version}/{self._parse_version()}")
        results: list[Result] = [None] * batch.n
        for i, reply in zip(todo, replies):
            results[i] = self._grade_reply(reply, rows[i])  # type: ignore[arg-type]
        hits = sum(1 for r in replies if r.cache_hit)
        self._last_stats = {
            "cache_hit_frac": hits / len(replies) if replies else 0.0,
            "backend_calls": len(replies) - hits,
            "judge_seconds": time.perf_counter() - start,
            "completion_tokens": float(sum(r.completion_tokens or 0 for r in replies)),
        }
        return results

    def _grade_reply(self, reply: Any, row: _Row) -> Grade:
        details: dict[str, Any] = {
            "cache_hit": reply.cache_hit,
            "latency_s": round(reply.latency_s, 6),
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "attempts": reply.attempts,
        }
        if self._ignored:
            details["ignored_sampling_params"] = list(self._ignored)
        if reply.error is not None:
            why = f"judge {self.name!r} got no reply: {reply.reason}"
            return Grade.unscored_because(why, error=reply.error, **details)
        details["raw_reply"] = reply.text if len(reply.text) <= 4000 else reply.text[-4000:]
        return self._verdict_grade(reply.text, row, details)

    def _verdict_grade(self, text: str, row: _Row, details: dict[str, Any]) -> Grade:
        raise NotImplementedError

    def _instruction(self, nonce: str) -> str:
        """The verdict-line instruction appended to the last message."""
        raise NotImplementedError

    def _schema(self) -> dict[str, Any]:
        """The JSON schema of a structured verdict (sent as ``response_format`` where supported)."""
        raise NotImplementedError

    def _parse_version(self) -> str:
        return "p2"

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
    (``{"steps": ..., "result": 7}``) or in text, ending with ``VERDICT-<nonce>: N`` (see the
    module docstring for how a reply without the nonce is read).

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

    def _instruction(self, nonce: str) -> str:
        lo, hi = self.range
        return load_prompt("verdict_score").format(line=verdict_line(nonce, "N"), lo=f"{lo:g}", hi=f"{hi:g}")

    def _schema(self) -> dict[str, Any]:
        return _verdict_schema({"type": "number"})

    def _verdict_grade(self, text: str, row: _Row, details: dict[str, Any]) -> Grade:
        lo, hi = self.range
        verdict = parse_score(text, lo, hi, nonce=row.nonce, untrusted=row.untrusted)
        if verdict.error is not None:  # not verdict.ok
            why = f"judge {self.name!r}: {verdict.reason}"
            return Grade.unscored_because(why, error=verdict.error, **details)
        details["raw_score"] = verdict.value
        details["range"] = [lo, hi]
        details["verdict_from"] = verdict.source
        return Grade((verdict.value - lo) / (hi - lo), reason=f"judge {self.name!r}: {verdict.reason}", details=details)


@register_grader("label_model")
@dataclasses.dataclass(kw_only=True, eq=True, repr=False)
class LabelModel(_Judge):
    """A judge model picks one of ``labels`` for each output; it passes (score 1) when the label
    is in ``passing_labels``, else scores 0. Labels are matched exactly and longest first
    (``correct but incomplete`` is never read as ``correct``); a reply naming a label outside
    ``labels``, or two labels at once, is unscored — never a pass.

    >>> from rft.judge import ScriptedBackend
    >>> judge = LabelModel(name="tone", labels=["polite", "rude"], passing_labels=["polite"], cache=False,
    ...                    backend=ScriptedBackend(["Label: rude"]),
    ...                    input=[{"role": "user", "content": "Polite or rude? {{sample.output_text}}"}])
    >>> g = judge.grade("Go away.")
    >>> g.score, g.details["label"]
    (0.0, 'rude')
    """

    labels: list[str] = dataclasses.field(
        default_factory=list, metadata=_help("The labels the judge may answer.", always=True)
    )
    passing_labels: list[str] = dataclasses.field(
        default_factory=list, metadata=_help("Labels that pass (score 1); the others score 0.", always=True)
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        labels = self.labels
        if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x.strip() for x in labels):
            raise ConfigError(f"expected a non-empty list of label strings, got {self.labels!r}", "labels")
        keys = [_label_key(x) for x in self.labels]
        if len(set(keys)) != len(keys):
            raise ConfigError(f"labels must differ (ignoring case): {self.labels!r}", "labels")
        if not isinstance(self.passing_labels, list) or not self.passing_labels:
            raise ConfigError("expected a non-empty list of passing labels", "passing_labels")
        extra = [x for x in self.passing_labels if x not in self.labels]
        if extra:
            raise ConfigError(f"passing labels {extra!r} are not in labels {self.labels!r}", "passing_labels")

    def _instruction(self, nonce: str) -> str:
        labels = ", ".join(json.dumps(label, ensure_ascii=False) for label in self.labels)
        return load_prompt("verdict_label").format(line=verdict_line(nonce, "LABEL"), labels=labels)

    def _schema(self) -> dict[str, Any]:
        return _verdict_schema({"type": "string", "enum": list(self.labels)})

    def _verdict_grade(self, text: str, row: _Row, details: dict[str, Any]) -> Grade:
        verdict = parse_label(text, self.labels, nonce=row.nonce, untrusted=row.untrusted)
        if verdict.error is not None:  # not verdict.ok
            why = f"judge {self.name!r}: {verdict.reason}"
            return Grade.unscored_because(why, error=verdict.error, **details)
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
    if not isinstance(criteria, str) or not criteria.strip():
        raise ConfigError(f"expected criteria text, got {criteria!r}", "criteria")
    lo, hi = scale
    ref_block = load_prompt("rubric_reference").format(reference=reference) if reference else ""
    user = load_prompt("rubric_user").format(criteria=criteria.strip(), reference_block=ref_block, lo=lo, hi=hi)
    if options.get("verdict_line", True) is False:  # no appended verdict line: say how to answer here
        user += f'\nEnd your reply with one line of the form "Score: N", where N is a whole number from {lo} to {hi}.'
    messages = [{"role": "system", "content": load_prompt("rubric_system")}, {"role": "user", "content": user}]
    return ScoreModel(name=name, model=model, input=messages, range=[lo, hi], backend=backend,
                      pass_threshold=pass_threshold, **options)


def _verdict_schema(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"steps": {"type": "string"}, "result": result},
        "required": ["steps", "result"],
        "additionalProperties": False,
    }


_TOKEN_KEYS = ("max_tokens", "max_completion_tokens", "max_completions_tokens")


def _check_sampling_params(params: Any) -> None:
    """Known keys with values of the right kind (None means "the backend's default")."""
    if not isinstance(params, Mapping):
        raise ConfigError(f"expected a dict, got {params!r}", "sampling_params")
    unknown = set(params) - SAMPLING_KEYS
    if unknown:
        raise ConfigError(f"unknown sampling parameter(s) {sorted(unknown)}; known: {', '.join(sorted(SAMPLING_KEYS))}",
                          "sampling_params")
    for key, value in params.items():
        where = f"sampling_params.{key}"
        if value is None:
            continue
        number = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
        if key == "temperature" and not (number and value >= 0):
            raise ConfigError(f"expected a number >= 0, got {value!r}", where)
        if key == "top_p" and not (number and 0 < value <= 1):
            raise ConfigError(f"expected a number in (0, 1], got {value!r}", where)
        if key == "seed" and not (isinstance(value, int) and not isinstance(value, bool)):
            raise ConfigError(f"expected an integer, got {value!r}", where)
        if key in _TOKEN_KEYS and not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
            raise ConfigError(f"expected a positive integer, got {value!r}", where)
        if key == "reasoning_effort" and not (isinstance(value, str) and value):
            raise ConfigError(f"expected an effort such as 'low', 'medium' or 'high', got {value!r}", where)
        if key == "response_format" and not isinstance(value, Mapping):
            raise ConfigError(f"expected a dict such as {{'type': 'json_object'}}, got {value!r}", where)
