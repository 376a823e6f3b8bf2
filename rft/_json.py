"""Strict JSON for hostile model output.

Python's ``json`` accepts ``NaN``/``Infinity``, keeps the last of duplicate keys and will parse
integers with thousands of digits; none of that is JSON a grader should reward. :func:`loads_strict`
rejects all three and bounds nesting depth. :func:`find_json` picks *one* candidate deterministically:
the whole output, else the last fenced code block.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

__all__ = ["MAX_DEPTH", "MAX_INT_DIGITS", "StrictJSONError", "find_json", "loads_strict"]

#: Deepest nesting of arrays/objects accepted.
MAX_DEPTH = 64
#: Longest integer literal (in digits) accepted.
MAX_INT_DIGITS = 64
#: Longest float literal accepted.
_MAX_FLOAT_CHARS = 128


class StrictJSONError(ValueError):
    """The text is not strict JSON; the message says why."""


def _reject_constant(name: str) -> Any:
    raise StrictJSONError(f"{name} is not valid JSON")


def _parse_int(text: str) -> int:
    digits = len(text) - (text[0] == "-")
    if digits > MAX_INT_DIGITS:
        raise StrictJSONError(f"integer with {digits} digits exceeds the {MAX_INT_DIGITS}-digit limit")
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > _MAX_FLOAT_CHARS:
        raise StrictJSONError(f"number literal of {len(text)} characters is too long")
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise StrictJSONError(f"number {text[:20]} overflows a float")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise StrictJSONError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _check_depth(value: Any) -> None:
    # Iterative walk: the decoder already stops at the interpreter's recursion limit, this
    # enforces the documented, much smaller MAX_DEPTH.
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > MAX_DEPTH:
            raise StrictJSONError(f"nesting deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def loads_strict(text: str) -> Any:
    """Parse ``text`` as strict JSON or raise :class:`StrictJSONError`.

    >>> loads_strict('{"a": [1, 2.5, null]}')
    {'a': [1, 2.5, None]}
    >>> loads_strict('{"a": 1, "a": 2}')
    Traceback (most recent call last):
    ...
    rft._json.StrictJSONError: duplicate key 'a'
    """
    try:
        value = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_int=_parse_int,
            parse_float=_parse_float,
            object_pairs_hook=_no_duplicates,
        )
    except StrictJSONError:
        raise
    except RecursionError:
        raise StrictJSONError(f"nesting deeper than {MAX_DEPTH} levels") from None
    except (ValueError, TypeError) as exc:
        raise StrictJSONError(str(exc)) from None
    _check_depth(value)
    return value


def _last_fenced_block(text: str) -> str | None:
    # A hand-written scan rather than a regex: it finds the last ``` pair in one pass from the
    # end and cannot backtrack, whatever the model wrote.
    end = text.rfind("```")
    if end <= 0:
        return None
    start = text.rfind("```", 0, end)
    if start < 0:
        return None
    body = text[start + 3 : end]
    newline = body.find("\n")
    if newline >= 0 and body[:newline].strip().isidentifier():
        body = body[newline + 1 :]  # drop a language tag such as ```json
    elif newline >= 0 and not body[:newline].strip():
        body = body[newline + 1 :]
    return body


def find_json(text: str) -> tuple[Any, str]:
    """Parse one JSON value out of a model output.

    Tries the whole output (outer whitespace ignored); if that is not strict JSON, the last
    fenced code block. Returns ``(value, where)`` with ``where`` in ``{"whole", "fenced"}``;
    raises :class:`StrictJSONError` naming why the whole output failed otherwise.

    >>> find_json('Sure!\\n```json\\n{"x": 1}\\n```')
    ({'x': 1}, 'fenced')
    """
    try:
        return loads_strict(text.strip()), "whole"
    except StrictJSONError as whole_error:
        block = _last_fenced_block(text)
        if block is None:
            raise
        try:
            return loads_strict(block.strip()), "fenced"
        except StrictJSONError as block_error:
            raise StrictJSONError(f"last fenced block: {block_error}") from whole_error
