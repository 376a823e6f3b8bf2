"""`Sample`: a model output in the shape graders read (``output_text``, ``output_json``, ...)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from rft._json import StrictJSONError, find_json

__all__ = ["Sample", "as_text", "to_sample"]

_UNSET: Any = object()


class Sample:
    """One model output.

    ``output_text`` is the text; ``output_json`` is that text parsed as strict JSON (the whole
    output, else its last fenced code block), or ``None`` when it is not JSON; ``json_error``
    says why. ``output_tools`` and ``choices`` are passed through when the caller has them.

    >>> Sample('{"name": "Ada"}').output_json
    {'name': 'Ada'}
    >>> Sample("no json here").output_json is None
    True
    """

    __slots__ = ("_json", "choices", "json_error", "output_text", "output_tools")

    def __init__(
        self,
        output_text: str = "",
        *,
        output_json: Any = _UNSET,
        output_tools: Any = None,
        choices: Any = None,
    ):
        self.output_text = output_text
        self._json = output_json
        self.json_error: str | None = None
        self.output_tools = output_tools
        self.choices = choices

    @property
    def output_json(self) -> Any:
        if self._json is _UNSET:
            try:
                self._json, _ = find_json(self.output_text)
            except StrictJSONError as exc:
                self._json, self.json_error = None, str(exc)
        return self._json

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"output_text": self.output_text}
        if self._json is not _UNSET:
            out["output_json"] = self._json
        if self.output_tools is not None:
            out["output_tools"] = self.output_tools
        if self.choices is not None:
            out["choices"] = self.choices
        return out

    def __repr__(self) -> str:
        text = self.output_text if len(self.output_text) <= 60 else self.output_text[:57] + "..."
        return f"Sample({text!r})"


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):  # OpenAI-style content parts
        return "".join(
            part.get("text", "") if isinstance(part, Mapping) and isinstance(part.get("text", ""), str) else ""
            for part in content
        )
    return "" if content is None else str(content)


def _last_message_text(messages: Sequence[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role", "assistant") == "assistant":
            return _content_text(message.get("content"))
    return ""


def as_text(completion: Any) -> str:
    """The text of one completion in any shape TRL or a user may hand us; never raises.

    A string is itself; a chat message list gives its last assistant message; a message dict its
    content; a dict with ``output_text`` that; ``None`` is the empty output.

    >>> as_text([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "42"}])
    '42'
    """
    if type(completion) is str:
        return completion
    if completion is None:
        return ""
    if isinstance(completion, str):
        return str(completion)
    if isinstance(completion, Sample):
        return completion.output_text
    if isinstance(completion, Mapping):
        if "output_text" in completion:
            return _content_text(completion["output_text"])
        return _content_text(completion.get("content"))
    if isinstance(completion, Sequence) and not isinstance(completion, (bytes, bytearray)):
        return _last_message_text(completion)
    if isinstance(completion, (bytes, bytearray)):
        return bytes(completion).decode("utf-8", "replace")
    return str(completion)


def to_sample(value: Any) -> Sample:
    """Turn a completion string, chat message list or sample dict into a :class:`Sample`."""
    if isinstance(value, Sample):
        return value
    if isinstance(value, Mapping) and ("output_text" in value or "output_json" in value):
        kwargs: dict[str, Any] = {
            "output_tools": value.get("output_tools"),
            "choices": value.get("choices"),
        }
        if "output_json" in value:
            kwargs["output_json"] = value["output_json"]
        text = value.get("output_text")
        if text is None and "output_json" in value:
            text = json.dumps(value["output_json"], ensure_ascii=False)
        return Sample(as_text(text), **kwargs)
    return Sample(as_text(value))
