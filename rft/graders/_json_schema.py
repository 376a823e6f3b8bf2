"""``json_schema``: the output must be strict JSON valid under a JSON Schema, and may have to
carry the row's values in named fields.

Validation is `jsonschema`'s, with three keywords re-implemented because the library's own
versions are not safe on hostile output:

- ``pattern``, ``patternProperties`` and ``additionalProperties`` run regular expressions, which
  `jsonschema` hands to Python's backtracking ``re`` (``^(a|aa)+$`` on ``"a" * 40 + "!"`` runs for
  hours). Here they run on RE2 (``google-re2``), which is linear in the input. A pattern RE2 cannot
  compile (lookaround, backreference) is a config error, and the ``regex`` format is "compiles
  under RE2", so schemas and outputs are judged by one engine.
- ``uniqueItems`` falls back to comparing every pair of items in `jsonschema` when they do not
  sort (objects, mixed types): 30 000 small objects take minutes. Here items are hashed.

``unevaluatedProperties`` also matches ``patternProperties`` with ``re`` inside the library, and
re-implementing its evaluation rules is not worth it: a schema that uses both is rejected.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import re2

from rft._errors import ConfigError
from rft._grade import Grade
from rft._json import StrictJSONError, find_json, loads_strict
from rft._template import MISSING, Batch, Template
from rft._text import normalize_text
from rft.graders._base import Grader, Result
from rft.graders._registry import register_grader

__all__ = ["JsonSchema"]

_Path = tuple[str | int, ...]

#: Validation errors kept in a Grade's details.
MAX_REPORTED_ERRORS = 5
#: Distinct per-row schemas whose compiled validators are kept.
VALIDATOR_CACHE_SIZE = 256
_MAX_SHOWN = 200  # characters of any value or message copied into a Grade


@register_grader("json_schema")
@dataclasses.dataclass(kw_only=True, eq=True, repr=False)
class JsonSchema(Grader):
    """Score 1 when the output is strict JSON that validates against ``schema`` (and, when
    ``fields`` are given, carries the expected values); otherwise 0, or partial credit.

    **Parsing.** The rendered ``input`` is parsed as strict JSON: the whole output, else its last
    fenced code block (nothing else; text around bare JSON fails). ``NaN``/``Infinity``, duplicate
    keys, nesting deeper than ``rft._json.MAX_DEPTH`` and integers longer than
    ``rft._json.MAX_INT_DIGITS`` digits are rejected: score 0 with the reason.

    **Schema.** An inline dict (or ``true``/``false``, or JSON text) is checked when the grader is
    built: an invalid schema, or a ``pattern`` RE2 cannot compile, raises :class:`~rft.ConfigError`.
    A template such as ``"{{item.schema}}"`` reads a schema per row (a dict, or JSON text; prefer
    JSON text in ``datasets``, which turns dict columns into structs and fills absent keys with
    ``None``); a row whose schema is invalid is unscored (``error="invalid_schema"``). Compiled
    validators are cached per distinct schema. The draft follows ``$schema`` (default 2020-12).
    ``format`` is checked with the draft's ``FormatChecker`` (``date-time`` needs
    ``rfc3339-validator``; formats whose checker library is not installed pass unchecked).

    **Fields.** ``fields`` maps a path in the output to the expected value: ``{"name":
    "{{item.name}}", "address.city": "{{item.city}}", "tags.0": "urgent", "version": 2}``. Paths
    are dot-separated keys, with non-negative integers indexing arrays. Expected values are
    templates (a lone placeholder keeps the row's value as is, so ``{{item.age}}`` stays ``42``)
    or JSON literals. Values compare as JSON (``1 == 1.0``, ``true != 1``, key order ignored,
    strings after :func:`rft._text.normalize_text`); when exactly one side is a string (a
    dataset column stored as text), that string is read as JSON first, so ``"42"`` matches ``42``.
    A missing path fails the field; a row missing an item field is unscored.

    **Score.** Without ``partial_credit``: 1 if the output is valid and every field matches, else
    0. With it, validity is a gate (invalid output scores 0) and the score is the share of checks
    passed, counting the schema as one check: a valid output with 1 of 2 fields right scores 2/3.

    >>> from rft import JsonSchema
    >>> g = JsonSchema(schema={"type": "object", "required": ["name"], "additionalProperties": False,
    ...                        "properties": {"name": {"type": "string"}}},
    ...                fields={"name": "{{item.name}}"})
    >>> g.grade('{"name": "Ada"}', {"name": "Ada"}).score
    1.0
    >>> g.grade('```json\\n{"name": "Ada", "age": 36}\\n```', {"name": "Ada"}).reason
    "invalid: additional properties not allowed: 'age' (at $); 1/1 fields match"
    >>> g(completions=['{"name": "Bob"}', "{'name': 'Ada'}"], name=["Ada", "Ada"])
    [0.0, 0.0]
    """

    input: str = dataclasses.field(
        default="{{sample.output_text}}",
        metadata={"help": "Template of the text parsed as JSON.", "always": True},
    )
    schema: Any = dataclasses.field(
        default=None,
        metadata={
            "help": "JSON Schema: an inline dict (or JSON text), or a template like {{item.schema}} read per row.",
            "always": True,
        },
    )
    fields: dict[str, Any] = dataclasses.field(
        default_factory=dict,
        metadata={"help": "Output path -> expected value (template or JSON literal), e.g. {'name': '{{item.name}}'}."},
    )
    partial_credit: bool = dataclasses.field(
        default=False,
        metadata={"help": "Score the share of checks passed (schema gate, then fields) instead of all-or-nothing."},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self._input = Template(self.input, field="input")
        if not isinstance(self.partial_credit, bool):
            raise ConfigError(f"expected true or false, got {self.partial_credit!r}", "partial_credit")
        self._schema_template: Template | None = None
        self._validator: Any = None
        schema = self.schema
        if schema is None:
            raise ConfigError(
                "missing required field 'schema': give a JSON Schema dict or a template like {{item.schema}}",
                "schema",
            )
        if isinstance(schema, str):
            template = Template(schema, field="schema")
            if template.is_constant:
                try:
                    schema = loads_strict(schema)
                except StrictJSONError as exc:
                    raise ConfigError(
                        f"a string schema must be JSON text or a template like {{{{item.schema}}}}; "
                        f"{_short(schema)} is neither ({exc})",
                        "schema",
                    ) from None
            else:
                self._schema_template = template
        if self._schema_template is None:
            try:
                self._validator = _compile(schema)
            except _SchemaProblem as exc:
                raise ConfigError(f"{exc}; fix the schema", "schema") from None
        self._cache: dict[Any, Any] = {}
        if not isinstance(self.fields, Mapping):
            raise ConfigError(f"expected a mapping of output path -> expected value, got {self.fields!r}", "fields")
        self._fields: list[tuple[str, _Path, Any]] = []
        for key, expected in self.fields.items():
            where = f"fields.{key}"
            path = _parse_path(key, where)
            if isinstance(expected, str):
                expected = Template(expected, field=where)
            elif not _is_json(expected):
                raise ConfigError(f"expected a template string or a JSON value, got {expected!r}", where)
            self._fields.append((key, path, expected))

    # ----------------------------------------------------------------------------------------

    def _evaluate(self, batch: Batch, rich: bool) -> Sequence[Result]:
        texts = self._input.render(batch, text=True)
        n = batch.n
        if self._schema_template is None:
            validators: list[Any] = [self._validator] * n
        else:
            raw = self._schema_template.render(batch)
            validators = [None if v is MISSING else self._row_validator(v) for v in raw]
        expected = [
            (key, path, exp.render(batch) if isinstance(exp, Template) else [exp] * n)
            for key, path, exp in self._fields
        ]
        skip = batch.unscored
        out: list[Result] = []
        for i in range(n):
            if i in skip:  # a missing item field: the base reports it
                out.append(None)
                continue
            validator = validators[i]
            if isinstance(validator, str):  # the row's schema is invalid: cannot judge
                out.append(Grade.unscored_because(f"row schema is invalid: {validator}", error="invalid_schema"))
                continue
            want = [(key, path, col[i]) for key, path, col in expected]
            out.append(self._score(texts[i], validator, want, rich))
        return out

    def _score(self, text: str, validator: Any, want: list[tuple[str, _Path, Any]], rich: bool) -> Result:
        try:
            value, where = find_json(text)
        except StrictJSONError as exc:
            if not rich:
                return 0.0
            return Grade(0.0, reason=f"not strict JSON: {_clip(str(exc))}", details={"parsed": False})
        outcome = _validate(validator, value, rich)
        if isinstance(outcome, Grade):  # the schema, not the output, stopped validation
            return outcome
        valid, errors = outcome
        total = 1 + len(want)
        if not valid and not rich:
            return 0.0
        matched: dict[str, bool] = {}
        field_details: dict[str, Any] = {}
        for key, path, exp in want:
            got = _lookup(value, path)
            ok = got is not MISSING and _same(got, exp)
            matched[key] = ok
            if rich:
                field_details[key] = {
                    "passed": ok,
                    "expected": _shown(exp),
                    "got": "<missing>" if got is MISSING else _shown(got),
                }
        passed = (1 if valid else 0) + sum(matched.values())
        if not valid:
            score = 0.0
        elif self.partial_credit:
            score = passed / total
        else:
            score = 1.0 if passed == total else 0.0
        if not rich:
            return score
        if not valid:
            first = errors[0]
            reason = f"invalid: {first['message']} (at {first['path']})"
        else:
            reason = "valid"
        if want:
            wrong = [k for k, ok in matched.items() if not ok]
            reason += f"; {len(want) - len(wrong)}/{len(want)} fields match"
            if wrong:
                reason += f" (wrong: {', '.join(wrong[:5])})"
        details: dict[str, Any] = {
            "parsed": True,
            "where": where,
            "valid": valid,
            "errors": errors,
            "checks_passed": passed,
            "checks_total": total,
        }
        if want:
            details["fields"] = field_details
        return Grade(score, reason=reason, details=details)

    def _row_validator(self, raw: Any) -> Any:
        """The compiled validator for a per-row schema, or the reason (a str) it is invalid."""
        if isinstance(raw, str):
            key: Any = raw
        else:
            try:
                key = json.dumps(raw, sort_keys=True, ensure_ascii=False, allow_nan=False)
            except (TypeError, ValueError) as exc:
                return f"not a JSON value ({exc})"
        cache = self._cache
        hit = cache.get(key)
        if hit is None:
            try:
                schema = loads_strict(raw) if isinstance(raw, str) else raw
                hit = _compile(schema)
            except StrictJSONError as exc:
                hit = f"schema text is not strict JSON ({exc})"
            except _SchemaProblem as exc:
                hit = str(exc)
                if _has_none(raw):
                    hit += (
                        " (the schema holds null values: a datasets dict column fills absent keys with None; "
                        "store per-row schemas as JSON strings)"
                    )
            if len(cache) >= VALIDATOR_CACHE_SIZE:
                del cache[next(iter(cache))]
            cache[key] = hit
        return hit


# --------------------------------------------------------------------------------------------
# Output paths and value comparison


def _parse_path(key: Any, where: str) -> _Path:
    if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
        raise ConfigError(
            f"a field path must be dot-separated keys such as 'name' or 'address.city', got {key!r}", where
        )
    return tuple(int(p) if p.isdigit() else p for p in key.split("."))


def _lookup(value: Any, path: _Path) -> Any:
    for part in path:
        if isinstance(value, dict):
            value = value.get(str(part), MISSING)
        elif isinstance(value, list) and isinstance(part, int):
            value = value[part] if part < len(value) else MISSING
        else:
            return MISSING
        if value is MISSING:
            return MISSING
    return value


def _same(got: Any, expected: Any) -> bool:
    if isinstance(got, str) != isinstance(expected, str):
        text, other = (got, expected) if isinstance(got, str) else (expected, got)
        try:
            parsed = loads_strict(text.strip())
        except StrictJSONError:
            return False
        return not isinstance(parsed, str) and _json_equal(parsed, other)
    return _json_equal(got, expected)


def _json_equal(a: Any, b: Any) -> bool:
    # JSON equality: bools are not numbers, 1 == 1.0, object key order ignored.
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and normalize_text(a) == normalize_text(b)
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    return False


def _is_json(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_is_json(v) for v in value)
    return False


def _has_none(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, Mapping):
        return any(_has_none(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_none(v) for v in value)
    return False


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _short(value: Any) -> str:
    return _clip(repr(value))


def _shown(value: Any) -> Any:
    """A JSON value small enough to keep in a Grade."""
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False)
        return value if len(text) <= _MAX_SHOWN else _clip(text)
    if isinstance(value, str):
        return _clip(value)
    return value


# --------------------------------------------------------------------------------------------
# Schema compilation and validation (jsonschema + RE2), imported on first use


class _SchemaProblem(Exception):
    """A schema cannot be used; the message says where and why."""


@functools.lru_cache(maxsize=4096)
def _re2(pattern: str) -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would print every rejected pattern to stderr
    return re2.compile(pattern, options)


def _re2_error(pattern: str) -> str | None:
    try:
        _re2(pattern)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        return str(detail)
    return None


# Keywords whose values are JSON data, not subschemas: a "pattern" key inside them is not a pattern.
_LITERAL_KEYWORDS = frozenset({"const", "enum", "default", "examples"})


def _walk_patterns(schema: Any, path: str = "$") -> None:
    """Compile every ``pattern`` and ``patternProperties`` key with RE2; flag unsafe keyword mixes."""
    stack = [(schema, path)]
    has_pattern_properties = has_unevaluated = False
    while stack:
        node, where = stack.pop()
        if isinstance(node, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(node))
            continue
        if not isinstance(node, dict):
            continue
        for key, value in node.items():
            if key in _LITERAL_KEYWORDS:
                continue
            here = f"{where}.{key}"
            patterns: list[tuple[str, str]] = []
            if key == "pattern" and isinstance(value, str):
                patterns.append((value, here))
            elif key == "patternProperties" and isinstance(value, dict):
                has_pattern_properties = True
                patterns.extend((p, f"{here}[{p!r}]") for p in value if isinstance(p, str))
            elif key == "unevaluatedProperties":
                has_unevaluated = True
            for pattern, at in patterns:
                problem = _re2_error(pattern)
                if problem is not None:
                    raise _SchemaProblem(
                        f"pattern {pattern!r} at {at} does not compile under RE2 ({problem}); rft matches schema "
                        "patterns with RE2 to keep them linear-time, which has no lookaround or backreferences"
                    )
            stack.append((value, here))
    if has_pattern_properties and has_unevaluated:
        raise _SchemaProblem(
            "unevaluatedProperties together with patternProperties is not supported: jsonschema matches the "
            "patterns with Python's backtracking re there, which hostile keys can stall; use additionalProperties"
        )


@functools.lru_cache(maxsize=None)
def _extended(base: Any) -> tuple[Any, Any]:
    """``base`` (a jsonschema validator class) with RE2 patterns and linear ``uniqueItems``."""
    from jsonschema import FormatChecker, validators
    from jsonschema.exceptions import ValidationError

    def pattern(validator: Any, patrn: str, instance: Any, schema: Any) -> Any:
        if validator.is_type(instance, "string") and _re2(patrn).search(instance) is None:
            yield ValidationError(f"{_short(instance)} does not match pattern {patrn!r}")

    def pattern_properties(validator: Any, patterns: dict[str, Any], instance: Any, schema: Any) -> Any:
        if not validator.is_type(instance, "object"):
            return
        for patrn, subschema in patterns.items():
            regex = _re2(patrn)
            for key, value in instance.items():
                if regex.search(key) is not None:
                    yield from validator.descend(value, subschema, path=key, schema_path=patrn)

    def additional_properties(validator: Any, allowed: Any, instance: Any, schema: Any) -> Any:
        if not validator.is_type(instance, "object"):
            return
        declared = schema.get("properties", {})
        regexes = [_re2(p) for p in schema.get("patternProperties", {})]
        extras = [k for k in instance if k not in declared and not any(r.search(k) is not None for r in regexes)]
        if validator.is_type(allowed, "object"):
            for key in extras:
                yield from validator.descend(instance[key], allowed, path=key)
        elif allowed is False and extras:
            listed = ", ".join(repr(k) for k in sorted(extras)[:10]) + (", ..." if len(extras) > 10 else "")
            yield ValidationError(f"additional properties not allowed: {listed}")

    def unique_items(validator: Any, unique: Any, instance: Any, schema: Any) -> Any:
        if not unique or not validator.is_type(instance, "array"):
            return
        seen: set[Any] = set()
        for index, item in enumerate(instance):
            key = _canonical(item)
            if key in seen:
                yield ValidationError(f"array items are not unique: item {index} repeats an earlier item")
                return
            seen.add(key)

    replacements = {
        "pattern": pattern,
        "patternProperties": pattern_properties,
        "additionalProperties": additional_properties,
        "uniqueItems": unique_items,
    }
    cls = validators.extend(base, {k: v for k, v in replacements.items() if k in base.VALIDATORS})
    # The draft's format checks, with "regex" meaning "RE2 compiles it" (for schemas and outputs).
    checker = FormatChecker(formats=())
    checker.checkers = dict(base.FORMAT_CHECKER.checkers)
    checker.checks("regex", raises=re2.error)(_compiles_under_re2)
    return cls, checker


def _compiles_under_re2(instance: Any) -> bool:
    if not isinstance(instance, str):
        return True
    options = re2.Options()
    options.log_errors = False
    re2.compile(instance, options)  # not cached: instances are model output
    return True


def _canonical(value: Any) -> Any:
    # A hashable key under which equal JSON values (1 and 1.0, reordered objects) coincide and
    # unequal ones (true and 1) do not.
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, dict):
        return ("object", frozenset((k, _canonical(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("array", tuple(_canonical(v) for v in value))
    return value


def _compile(schema: Any) -> Any:
    """A ready validator for ``schema``; raises :class:`_SchemaProblem` saying what is wrong."""
    if not isinstance(schema, (dict, bool)):
        raise _SchemaProblem(f"a JSON Schema is an object or a boolean, got {type(schema).__name__} {_short(schema)}")
    from jsonschema import Draft202012Validator, validators
    from jsonschema.exceptions import SchemaError

    _walk_patterns(schema)
    cls, checker = _extended(validators.validator_for(schema, default=Draft202012Validator))
    try:
        cls.check_schema(schema, format_checker=checker)
    except SchemaError as exc:
        raise _SchemaProblem(f"invalid JSON Schema at {exc.json_path}: {_clip(exc.message)}") from None
    return cls(schema, format_checker=checker)


def _validate(validator: Any, value: Any, rich: bool) -> tuple[bool, list[dict[str, str]]] | Grade:
    """``(valid, errors)``, or an unscored Grade when the schema itself stops validation."""
    import referencing.exceptions

    try:
        if not rich:
            return validator.is_valid(value), []
        errors = []
        for error in validator.iter_errors(value):
            errors.append({"path": error.json_path, "message": _clip(error.message)})
            if len(errors) >= MAX_REPORTED_ERRORS:
                break
        return not errors, errors
    except referencing.exceptions.Unresolvable as exc:
        return Grade.unscored_because(
            f"the schema has a $ref that cannot be resolved: {_clip(str(exc))}", error="invalid_schema"
        )
    except RecursionError:
        return False, [{"path": "$", "message": "value too deeply nested to validate"}]
