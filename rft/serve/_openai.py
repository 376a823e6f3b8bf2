"""OpenAI's graders API on the wire, built from rft's objects.

- :func:`served_sample`: ``model_sample`` becomes ``sample.output_text``, and ``sample.output_json``
  when the whole string is (strict) JSON, as OpenAI documents it. rft's in-process default also
  looks inside a last fenced code block; a served sample does not.
- :func:`run_response`: a :class:`~rft.Grade` as OpenAI's ``GraderRunResponse``.
- :func:`error_flags`: ``metadata.errors``, every flag the SDK declares, set from the unscored
  reasons (``Grade.details["error"]``) of the grade and of its sub-grades:

  ==============================  =======================================================================
  flag                            set when
  ==============================  =======================================================================
  formula_parse_error             a ``multi`` formula is undefined for this sample (division by zero, ...)
  invalid_variable_error          a template names an ``item`` field the row lacks (``missing_field``)
  model_grader_parse_error        the judge's reply holds no verdict on the scale (``unparseable``,
                                  ``empty``, ``off_scale``, ``invalid_label``)
  model_grader_refusal_error      the judge refused (``refusal``)
  model_grader_server_error       the judge backend failed (timeout, HTTP error, model failed to load);
                                  ``model_grader_server_error_details`` has the reason
  python_grader_runtime_error     the python grader raised, crashed or returned a non-number;
                                  ``python_grader_runtime_error_details`` has the reason
  python_grader_server_error      the sandbox could not start a worker (``python_grader_server_error_type``)
  sample_parse_error              the grader reads ``sample.output_json`` but the sample is not JSON
  truncated_observation_error     the sample was longer than ``max_output_chars``: scored 0 unread
  unresponsive_reward_error       the python grader ran past its ``timeout``
  other_error                     any other unscored reason
  ==============================  =======================================================================

Unlike OpenAI, an unscored sample has ``reward: null`` (never a 0 that looks like a verdict); the
flags say why, and the extension field ``grade`` carries rft's full :class:`~rft.Grade`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from rft._grade import Grade
from rft._json import StrictJSONError, loads_strict
from rft.graders._base import Grader
from rft.judge import LocalBackend
from rft.models import DEFAULT_MODEL, is_default_model_name

__all__ = [
    "ERROR_FLAGS",
    "error_body",
    "error_flags",
    "reads_output_json",
    "run_response",
    "served_sample",
    "token_usage",
]

#: The boolean flags of ``metadata.errors`` (openai ``MetadataErrors``), in the SDK's order.
ERROR_FLAGS = (
    "formula_parse_error",
    "invalid_variable_error",
    "model_grader_parse_error",
    "model_grader_refusal_error",
    "model_grader_server_error",
    "other_error",
    "python_grader_runtime_error",
    "python_grader_server_error",
    "sample_parse_error",
    "truncated_observation_error",
    "unresponsive_reward_error",
)
_DETAIL_FIELDS = ("model_grader_server_error_details", "python_grader_runtime_error_details",
                  "python_grader_server_error_type")

_JUDGE_PARSE = frozenset({"unparseable", "empty", "off_scale", "invalid_label"})
_SANDBOX_START = ("cannot start a sandbox worker", "the sandbox worker could not start")
_OUTPUT_JSON = re.compile(r"\{\{\s*sample\.output_json\b")


def served_sample(model_sample: str) -> dict[str, Any]:
    """The sample a served grader sees for ``model_sample``.

    >>> served_sample('{"name": "Ada"}')["output_json"]
    {'name': 'Ada'}
    >>> served_sample('Sure: ```json\\n{"name": "Ada"}\\n```')["output_json"] is None
    True
    """
    try:
        parsed = loads_strict(model_sample)
    except StrictJSONError:
        parsed = None
    return {"output_text": model_sample, "output_json": parsed}


def reads_output_json(config: Any) -> bool:
    """True when a template anywhere in ``config`` reads ``{{sample.output_json...}}``.

    A scan of the config's strings, not of compiled templates: it only decides whether a sample
    that is not JSON raises the ``sample_parse_error`` flag, and text outside templates cannot
    hold that placeholder.

    >>> reads_output_json({"graders": {"e": {"input": "{{ sample.output_json.email }}"}}})
    True
    """
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if _OUTPUT_JSON.search(node):
                return True
        elif isinstance(node, Mapping):
            stack.extend(node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
    return False


def _walk(grader: Grader | None, grade: Grade) -> Iterator[tuple[Grader | None, Grade]]:
    """``(grader, grade)`` for the grade and every sub-grade below it."""
    yield grader, grade
    subs = grade.details.get("sub_grades")
    if isinstance(subs, Mapping):
        children = grader.children() if grader is not None else {}
        for key, sub in subs.items():
            if isinstance(sub, Grade):
                yield from _walk(children.get(key), sub)


def _is_judge(grader: Grader | None) -> bool:
    return grader is not None and getattr(grader, "judge_backend", None) is not None


def judge_model_name(grader: Grader) -> str:
    """The model that answered for a judge grader: the local model it ran on, else its ``model``."""
    # Only judges (see _is_judge) come here: they carry judge_backend and model, which Grader does not declare.
    backend = grader.judge_backend  # type: ignore[attr-defined]
    if isinstance(backend, LocalBackend):
        return DEFAULT_MODEL if is_default_model_name(backend.model) else backend.model
    return str(grader.model)  # type: ignore[attr-defined]


def error_flags(grader: Grader, grade: Grade, *, sample_parse_error: bool = False) -> dict[str, Any]:
    """``metadata.errors`` for ``grade`` (see the module docstring for the mapping).

    >>> from rft import StringCheck
    >>> g = StringCheck(input="{{item.x}}", reference="y", operation="eq")
    >>> flags = error_flags(g, g.grade("out", {}))
    >>> flags["invalid_variable_error"], flags["other_error"]
    (True, False)
    """
    flags: dict[str, Any] = dict.fromkeys(ERROR_FLAGS, False)
    flags.update(dict.fromkeys(_DETAIL_FIELDS))
    flags["sample_parse_error"] = sample_parse_error
    for node, g in _walk(grader, grade):
        kind = g.details.get("error")
        if g.score is not None:
            if kind == "output_too_long":
                flags["truncated_observation_error"] = True
            continue
        if "sub_grader" in g.details:
            continue  # a composite unscored because of a sub-grade: the sub-grade says why
        if _is_judge(node):
            if kind in _JUDGE_PARSE:
                flags["model_grader_parse_error"] = True
            elif kind == "refusal":
                flags["model_grader_refusal_error"] = True
            elif kind == "missing_field":
                flags["invalid_variable_error"] = True
            else:
                flags["model_grader_server_error"] = True
                flags["model_grader_server_error_details"] = flags["model_grader_server_error_details"] or g.reason
        elif node is not None and node.type == "python" and kind in ("crash", "invalid_result", "timeout"):
            if kind == "timeout":
                flags["unresponsive_reward_error"] = True
            elif g.reason.startswith(_SANDBOX_START):
                flags["python_grader_server_error"] = True
                flags["python_grader_server_error_type"] = "sandbox_start"
            else:
                flags["python_grader_runtime_error"] = True
                flags["python_grader_runtime_error_details"] = flags["python_grader_runtime_error_details"] or g.reason
        elif kind == "missing_field":
            flags["invalid_variable_error"] = True
        elif kind == "formula_error":
            flags["formula_parse_error"] = True
        elif kind == "timeout":
            flags["unresponsive_reward_error"] = True
        else:
            flags["other_error"] = True
    return flags


def token_usage(grader: Grader, grade: Grade) -> dict[str, dict[str, int]]:
    """``model_grader_token_usage_per_model``: the judges' tokens by model; replies served from
    rft's judge cache count as ``cached_tokens`` (their prompt tokens)."""
    usage: dict[str, dict[str, int]] = {}
    for node, g in _walk(grader, grade):
        if not _is_judge(node) or "cache_hit" not in g.details:
            continue
        assert node is not None
        entry = usage.setdefault(judge_model_name(node), dict.fromkeys(
            ("prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens"), 0))
        prompt = int(g.details.get("prompt_tokens") or 0)
        completion = int(g.details.get("completion_tokens") or 0)
        entry["prompt_tokens"] += prompt
        entry["completion_tokens"] += completion
        entry["total_tokens"] += prompt + completion
        if g.details.get("cache_hit"):
            entry["cached_tokens"] += prompt
    return usage


def _first_judge(grader: Grader) -> Grader | None:
    stack = [grader]
    while stack:
        node = stack.pop(0)
        if _is_judge(node):
            return node
        stack.extend(node.children().values())
    return None


def run_response(grader: Grader, grade: Grade, *, seconds: float, sample_parse_error: bool = False) -> dict[str, Any]:
    """OpenAI's ``GraderRunResponse`` for one graded sample, plus rft's ``grade``.

    >>> from rft import StringCheck
    >>> g = StringCheck(name="yes", input="{{sample.output_text}}", reference="yes", operation="eq")
    >>> r = run_response(g, g.grade("yes"), seconds=0.001)
    >>> r["reward"], r["metadata"]["type"], r["metadata"]["errors"]["other_error"]
    (1.0, 'string_check', False)
    """
    usage = token_usage(grader, grade)
    judge = _first_judge(grader)
    sub_rewards = grade.details.get("sub_rewards")
    sub_rewards = dict(sub_rewards) if isinstance(sub_rewards, Mapping) else {}
    return {
        "reward": grade.score,
        "sub_rewards": sub_rewards,
        "metadata": {
            "name": grader.name,
            "type": grader.type,
            "errors": error_flags(grader, grade, sample_parse_error=sample_parse_error),
            "execution_time": seconds,
            "scores": dict(sub_rewards),
            "token_usage": sum(u["total_tokens"] for u in usage.values()) if usage else None,
            "sampled_model_name": judge_model_name(judge) if judge is not None else None,
        },
        "model_grader_token_usage_per_model": usage,
        "grade": grade.to_dict(),
    }


def error_body(message: str, *, kind: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    """OpenAI's error body: ``{"error": {"message", "type", "param", "code"}}``.

    >>> error_body("bad", param="grader.operation")["error"]["param"]
    'grader.operation'
    """
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}
