"""``json_schema``: strict parsing, jsonschema validation with RE2 patterns, fields, partial credit."""

from __future__ import annotations

import json
import pickle

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rft
from rft import ConfigError, JsonSchema

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "age": {"type": "integer", "minimum": 0},
        "email": {"type": "string", "format": "email"},
        "born": {"type": "string", "format": "date-time"},
        "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
    },
    "required": ["name"],
    "additionalProperties": False,
}

DEEP_200K = "[" * 200_000 + "]" * 200_000
FENCE = "```"

# (output, expected score, why) against PERSON with no fields.
PARSE_AND_VALIDATE = [
    ('{"name": "Ada", "age": 36}', 1.0, "whole output is valid JSON under the schema"),
    ('  \n{"name": "Ada"}\n ', 1.0, "outer whitespace is ignored"),
    (
        f'Here it is:\n{FENCE}json\n{{"name": "Ada"}}\n{FENCE}\nDone.',
        1.0,
        "last fenced block when the whole is not JSON",
    ),
    ('Sure: {"name": "Ada"}', 0.0, "bare JSON inside prose is not looked for"),
    ('{"name": "Ada", "age": NaN}', 0.0, "NaN is not JSON"),
    ('{"name": "Ada", "age": Infinity}', 0.0, "Infinity is not JSON"),
    ('{"name": "Ada", "age": -Infinity}', 0.0, "-Infinity is not JSON"),
    ('{"name": "Ada", "name": "Bob"}', 0.0, "duplicate keys are rejected, not last-wins"),
    ('{"name": "Ada", "age": %s}' % ("9" * 6000), 0.0, "a 6000-digit integer is rejected"),
    ('{"name": "Ada", "age": %s}' % ("9" * 65), 0.0, "65 digits is past MAX_INT_DIGITS"),
    ('{"name": "Ada", "age": %s}' % ("9" * 64), 1.0, "64 digits is the limit and allowed"),
    ('{"name": "Ada", "tags": %s"x"%s}' % ("[" * 70, "]" * 70), 0.0, "nesting past MAX_DEPTH"),
    (DEEP_200K, 0.0, "200k-deep nesting: over max_output_chars, 0 before parsing"),
    ('{"name": "Ada", "born": "2020-02-30T10:00:00Z"}', 0.0, "format date-time is checked (no Feb 30)"),
    ('{"name": "Ada", "born": "yesterday"}', 0.0, "format date-time is checked"),
    ('{"name": "Ada", "born": "2020-02-28T10:00:00+01:00"}', 1.0, "a real RFC 3339 date-time passes"),
    ('{"name": "Ada", "email": "ada.example.org"}', 0.0, "format email is checked"),
    ('{"name": "Ada", "nickname": "A"}', 0.0, "additionalProperties false is honoured"),
    ('{"name": "Ada", "age": "36"}', 0.0, "wrong type"),
    ('{"name": "Ada", "age": true}', 0.0, "a boolean is not an integer"),
    ('{"age": 36}', 0.0, "required field missing"),
    ('{"name": ""}', 0.0, "minLength"),
    ('{"name": "Ada", "tags": ["x", "x"]}', 0.0, "uniqueItems"),
    ("null", 0.0, "valid JSON of the wrong type"),
    ("", 0.0, "empty output"),
    ("{'name': 'Ada'}", 0.0, "Python dict syntax is not JSON"),
    (
        f'{FENCE}json\n{{"name": "Ada"}}\n{FENCE}\nor\n{FENCE}json\n{{"name": 5}}\n{FENCE}',
        0.0,
        "several blocks: only the last counts, and it is invalid",
    ),
    (
        f'{FENCE}json\n{{"name": 5}}\n{FENCE}\nfixed:\n{FENCE}json\n{{"name": "Ada"}}\n{FENCE}',
        1.0,
        "several blocks: only the last counts, and it is valid",
    ),
]


@pytest.mark.parametrize(("output", "expected", "why"), PARSE_AND_VALIDATE, ids=[c[2] for c in PARSE_AND_VALIDATE])
def test_parse_and_validate(output: str, expected: float, why: str) -> None:
    grader = JsonSchema(schema=PERSON)
    assert grader.grade(output).score == expected, why
    assert grader(completions=[output]) == [expected], "the TRL path gives the same score"


def test_deep_nesting_is_rejected_by_the_parser_without_crashing() -> None:
    # With the length guard lifted, the 200k-deep input reaches the parser: 0 with a reason.
    grader = JsonSchema(schema=True, max_output_chars=1_000_000)
    grade = grader.grade(DEEP_200K)
    assert grade.score == 0.0
    assert "not strict JSON" in grade.reason
    fenced = grader.grade(f"{FENCE}\n{DEEP_200K}\n{FENCE}")
    assert fenced.score == 0.0


# Catastrophic for Python's backtracking `re`; RE2 answers in linear time. If these ever ran on
# `re` the test would hang for hours instead of finishing in milliseconds.
EVIL = "a" * 40 + "!"
CATASTROPHIC = [
    ({"type": "string", "pattern": "^(a|aa)+$"}, json.dumps(EVIL), 0.0, "pattern"),
    ({"type": "string", "pattern": "^(a|aa)+$"}, json.dumps("a" * 40), 1.0, "pattern, matching input"),
    (
        {"type": "object", "patternProperties": {"^(a|aa)+$": {"type": "integer"}}},
        json.dumps({EVIL: "x", "a" * 30: "y"}),
        0.0,
        "patternProperties: the evil key is skipped, the matching key is checked",
    ),
    (
        {"type": "object", "patternProperties": {"^(a|aa)+$": {}}, "additionalProperties": False},
        json.dumps({EVIL: 1}),
        0.0,
        "additionalProperties consults patternProperties",
    ),
    (
        {"type": "object", "propertyNames": {"pattern": "^(a|aa)+$"}},
        json.dumps({EVIL: 1}),
        0.0,
        "propertyNames uses pattern",
    ),
    ({"type": "string", "format": "regex"}, json.dumps("(?=x)"), 0.0, "format regex means: RE2 compiles it"),
    ({"type": "string", "format": "regex"}, json.dumps("^(a|aa)+$"), 1.0, "format regex: a plain pattern"),
]


@pytest.mark.parametrize(("schema", "output", "expected", "why"), CATASTROPHIC, ids=[c[3] for c in CATASTROPHIC])
def test_schema_patterns_are_bounded(schema: dict, output: str, expected: float, why: str) -> None:
    assert JsonSchema(schema=schema).grade(output).score == expected, why


UNIQUE = [
    ("[1, 1.0]", 0.0, "1 and 1.0 are the same JSON number"),
    ("[true, 1]", 1.0, "true and 1 are different"),
    ('[{"a": 1, "b": 2}, {"b": 2, "a": 1}]', 0.0, "objects are equal whatever the key order"),
    ('[[1, 2], [2, 1]]', 1.0, "arrays are ordered"),
    (
        "[" + ",".join('{"a": %d}' % i for i in range(30_000)) + "]",
        1.0,
        "30k distinct objects: hashed, not compared pairwise",
    ),
]


@pytest.mark.parametrize(("output", "expected", "why"), UNIQUE, ids=[c[2] for c in UNIQUE])
def test_unique_items(output: str, expected: float, why: str) -> None:
    grader = JsonSchema(schema={"type": "array", "uniqueItems": True}, max_output_chars=1_000_000)
    assert grader.grade(output).score == expected, why


# ------------------------------------------------------------------------------------------------
# Config errors at build time

BAD_CONFIGS = [
    ({"schema": {"type": "integr"}}, "schema", "is not valid under any of the given schemas", "unknown type name"),
    ({"schema": {"type": "object", "required": "name"}}, "schema", "is not of type 'array'", "required must be a list"),
    ({"schema": {"pattern": "(?=a)"}}, "schema", "RE2", "lookahead cannot compile under RE2"),
    ({"schema": {"patternProperties": {"(a)\\1": {}}}}, "schema", "RE2", "backreference in patternProperties"),
    ({"schema": {"properties": {"x": {"pattern": "a{2000}"}}}}, "schema", "RE2", "nested pattern too large for RE2"),
    (
        {"schema": {"patternProperties": {"^a": {}}, "unevaluatedProperties": False}},
        "schema",
        "unevaluatedProperties",
        "unevaluatedProperties with patternProperties would use stdlib re",
    ),
    ({"schema": 5}, "schema", "object or a boolean", "a number is not a schema"),
    ({"schema": "not json"}, "schema", "JSON text or a template", "a string that is neither JSON nor a template"),
    ({}, "schema", "missing required field 'schema'", "no schema at all"),
    ({"schema": {}, "fields": ["name"]}, "fields", "mapping", "fields must map path -> expected"),
    ({"schema": {}, "fields": {"a..b": "x"}}, "fields.a..b", "dot-separated", "empty path segment"),
    ({"schema": {}, "fields": {"a": {1, 2}}}, "fields.a", "JSON value", "a set is not a JSON value"),
    ({"schema": {}, "fields": {"a": "{{item.}}"}}, "fields.a", "placeholder", "malformed template"),
    ({"schema": {}, "partial_credit": "yes"}, "partial_credit", "true or false", "partial_credit must be a bool"),
    ({"schema": {}, "input": "{{sample.nope}}"}, "input", "unknown sample field", "bad input template"),
    ({"schema": {}, "shape": "round"}, "shape", "unknown field", "unknown config key"),
]


@pytest.mark.parametrize(("config", "path", "message", "why"), BAD_CONFIGS, ids=[c[3] for c in BAD_CONFIGS])
def test_bad_configs_fail_at_build(config: dict, path: str, message: str, why: str) -> None:
    with pytest.raises(ConfigError) as info:
        rft.load_grader({"type": "json_schema", **config})
    assert info.value.path == path, why
    assert message in str(info.value), why


# ------------------------------------------------------------------------------------------------
# Per-row schemas

ROW_SCHEMAS = [
    ({"schema": {"type": "string"}}, '"x"', 1.0, None, "a dict schema in the row"),
    ({"schema": '{"type": "integer"}'}, "7", 1.0, None, "a JSON-text schema in the row"),
    ({"schema": '{"type": "integer"}'}, '"7"', 0.0, None, "the row's schema is enforced"),
    ({"schema": {"type": "integr"}}, "7", None, "invalid_schema", "an invalid row schema leaves the row unscored"),
    ({"schema": "{not json"}, "7", None, "invalid_schema", "row schema text that is not JSON"),
    ({"schema": [1, 2]}, "7", None, "invalid_schema", "a list is not a schema"),
    ({"schema": {"pattern": "(?<=a)b"}}, '"b"', None, "invalid_schema", "a row pattern RE2 cannot compile"),
    ({"schema": {"$ref": "http://example.invalid/s"}}, "7", None, "invalid_schema", "remote $ref is never fetched"),
    ({}, "7", None, "missing_field", "the row has no schema"),
]


@pytest.mark.parametrize(("item", "output", "expected", "error", "why"), ROW_SCHEMAS, ids=[c[4] for c in ROW_SCHEMAS])
def test_per_row_schema(item: dict, output: str, expected: float | None, error: str | None, why: str) -> None:
    grade = JsonSchema(schema="{{item.schema}}").grade(output, item)
    assert grade.score == expected, why
    assert grade.error == error, why


def test_row_schema_with_nulls_explains_the_datasets_pitfall() -> None:
    # datasets turns a dict column into a struct and fills absent keys with None.
    grade = JsonSchema(schema="{{item.schema}}").grade("7", {"schema": {"type": "integer", "required": None}})
    assert grade.unscored and "JSON strings" in grade.reason


def test_row_validators_are_cached_per_distinct_schema() -> None:
    grader = JsonSchema(schema="{{item.schema}}")
    rows = [{"schema": {"type": "integer", "minimum": 0}} for _ in range(20)] + [{"schema": '{"type": "string"}'}] * 20
    scores = grader(completions=["5"] * 20 + ['"s"'] * 20, schema=[r["schema"] for r in rows])
    assert scores == [1.0] * 40
    assert len(grader._cache) == 2, "20 equal dicts and 20 equal strings compile two validators"


# ------------------------------------------------------------------------------------------------
# Fields and partial credit

CONTACT = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name"],
}

FIELDS = [
    ({"name": "{{item.name}}"}, '{"name": "Ada"}', {"name": "Ada"}, 1.0, "string field matches"),
    ({"name": "{{item.name}}"}, '{"name": "Bob"}', {"name": "Ada"}, 0.0, "string field differs"),
    ({"name": "{{item.name}}"}, '{"name": "ada"}', {"name": "Ada"}, 0.0, "case is kept"),
    ({"name": "{{item.name}}"}, '{"name": "\\uff21da\\u200b"}', {"name": "Ada"}, 1.0, "NFKC, zero-width both sides"),
    ({"age": "{{item.age}}"}, '{"name": "A", "age": 42}', {"age": 42}, 1.0, "an int column stays an int"),
    ({"age": "{{item.age}}"}, '{"name": "A", "age": 42}', {"age": "42"}, 1.0, "a text column is read as JSON"),
    ({"age": "{{item.age}}"}, '{"name": "A", "age": 42}', {"age": 42.0}, 1.0, "42 == 42.0"),
    ({"age": "{{item.age}}"}, '{"name": "A", "age": 41}', {"age": "42"}, 0.0, "different numbers"),
    ({"age": "{{item.age}}"}, '{"name": "A", "age": 1}', {"age": True}, 0.0, "true is not 1"),
    ({"age": "{{item.age}}"}, '{"name": "A", "age": 42}', {"age": "forty-two"}, 0.0, "non-JSON text vs a number"),
    ({"age": "{{item.age}}"}, '{"name": "A"}', {"age": 42}, 0.0, "the output lacks the path"),
    ({"city": "{{item.city}}"}, '{"name": "A", "city": {"n": 1}}', {"city": "Paris"}, 0.0, "object vs text"),
    ({"address.city": "{{item.city}}"}, '{"name": "A", "address": {"city": "Paris"}}', {"city": "Paris"}, 1.0, "path"),
    ({"tags.1": "b"}, '{"name": "A", "tags": ["a", "b"]}', {}, 1.0, "array index and a literal expected value"),
    ({"tags.5": "b"}, '{"name": "A", "tags": ["a", "b"]}', {}, 0.0, "array index out of range"),
    ({"meta": {"v": [1, 2]}}, '{"name": "A", "meta": {"v": [1, 2.0]}}', {}, 1.0, "structured literal compared as JSON"),
    ({"name": "Dr {{item.name}}"}, '{"name": "Dr Ada"}', {"name": "Ada"}, 1.0, "a template with literal text"),
]


@pytest.mark.parametrize(("fields", "output", "item", "expected", "why"), FIELDS, ids=[c[4] for c in FIELDS])
def test_fields(fields: dict, output: str, item: dict, expected: float, why: str) -> None:
    grader = JsonSchema(schema=CONTACT, fields=fields)
    assert grader.grade(output, item).score == expected, why


PARTIAL = [
    ('{"name": "Ada", "age": 36}', 1.0, 1.0, "all checks pass"),
    ('{"name": "Ada", "age": 35}', 2 / 3, 0.0, "schema + 1 of 2 fields"),
    ('{"name": "Bob", "age": 35}', 1 / 3, 0.0, "schema only"),
    ('{"name": "Ada", "age": "36"}', 0.0, 0.0, "schema invalid: the gate gives 0 though name matches"),
    ("not json", 0.0, 0.0, "unparseable"),
]


@pytest.mark.parametrize(("output", "partial", "strict", "why"), PARTIAL, ids=[c[3] for c in PARTIAL])
def test_partial_credit(output: str, partial: float, strict: float, why: str) -> None:
    fields = {"name": "{{item.name}}", "age": "{{item.age}}"}
    item = {"name": "Ada", "age": 36}
    with_credit = JsonSchema(schema=CONTACT, fields=fields, partial_credit=True)
    assert with_credit.grade(output, item).score == pytest.approx(partial)
    assert JsonSchema(schema=CONTACT, fields=fields).grade(output, item).score == strict


def test_missing_item_field_is_unscored_not_zero() -> None:
    grader = JsonSchema(schema=CONTACT, fields={"name": "{{item.name}}"})
    assert grader(completions=['{"name": "Ada"}', '{"name": "Ada"}'], name=["Ada", "Ada"]) == [1.0, 1.0]
    grades = grader.grade_batch(['{"name": "Ada"}', '{"name": "Ada"}'], [{"name": "Ada"}, {"nom": "Ada"}])
    assert [g.score for g in grades] == [1.0, None]
    assert grades[1].error == "missing_field"


def test_rich_details() -> None:
    grader = JsonSchema(schema=CONTACT, fields={"name": "{{item.name}}", "age": "{{item.age}}"}, partial_credit=True)
    good = grader.grade(f'ok\n{FENCE}json\n{{"name": "Ada", "age": 3}}\n{FENCE}', {"name": "Ada", "age": 36})
    assert good.details["where"] == "fenced"
    assert good.details["valid"] is True and good.details["errors"] == []
    assert good.details["fields"]["name"] == {"passed": True, "expected": "Ada", "got": "Ada"}
    assert good.details["fields"]["age"] == {"passed": False, "expected": 36, "got": 3}
    assert (good.details["checks_passed"], good.details["checks_total"]) == (2, 3)
    assert "wrong: age" in good.reason
    bad = grader.grade('{"name": 1, "age": "x"}', {"name": "Ada", "age": 36})
    assert bad.details["where"] == "whole"
    assert [e["path"] for e in bad.details["errors"]] == ["$.name", "$.age"]
    assert bad.details["fields"]["age"]["got"] == "x"
    unparsed = grader.grade('{"name": NaN}', {"name": "Ada", "age": 36})
    assert unparsed.details == {"parsed": False} and "NaN" in unparsed.reason
    assert rft.Grade.from_dict(good.to_dict()) == good, "details are JSON-ready"


def test_conversational_completions_and_prompts() -> None:
    grader = JsonSchema(schema=CONTACT, fields={"name": "{{item.name}}"})
    completions = [[{"role": "assistant", "content": '{"name": "Ada"}'}], [{"role": "assistant", "content": "{}"}]]
    assert grader(prompts=[[], []], completions=completions, name=["Ada", "Ada"]) == [1.0, 0.0]


def test_output_json_input_template() -> None:
    # OpenAI-style: the grader reads a sub-object of the parsed output.
    grader = JsonSchema(input="{{sample.output_json.person}}", schema=CONTACT)
    assert grader.grade('{"person": {"name": "Ada"}}').score == 1.0
    assert grader.grade('{"person": {"age": 3}}').score == 0.0
    assert grader.grade('{"nobody": 1}').score == 0.0, "the path is absent: empty input, not JSON"


# ------------------------------------------------------------------------------------------------
# Config round trip and pickling

ROUND_TRIP = [
    JsonSchema(schema=PERSON),
    JsonSchema(name="contact", schema=CONTACT, fields={"name": "{{item.name}}", "tags.0": 3}, partial_credit=True),
    JsonSchema(schema="{{item.schema}}", input="{{sample.output_json.answer}}", pass_threshold=0.5),
    JsonSchema(schema='{"type": "integer"}'),
    JsonSchema(schema=False),
]


@pytest.mark.parametrize("grader", ROUND_TRIP, ids=lambda g: json.dumps(g.to_config())[:60])
def test_config_round_trip_and_pickle(grader: JsonSchema) -> None:
    config = grader.to_config()
    assert config["type"] == "json_schema"
    json.dumps(config)  # plain data
    rebuilt = rft.load_grader(config)
    assert rebuilt == grader and rebuilt.to_config() == config
    clone = pickle.loads(pickle.dumps(grader))
    assert clone == grader
    samples = ['{"name": "Ada", "age": 1}', "7", '{"answer": 3}', "nope"]
    items = [{"schema": {"type": "integer"}, "name": "Ada"}] * 4
    assert [g.to_dict() for g in clone.grade_batch(samples, items)] == [
        g.to_dict() for g in grader.grade_batch(samples, items)
    ]


# ------------------------------------------------------------------------------------------------
# Properties

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["name", "age", "x", "tags"]), inner, max_size=4),
    max_leaves=12,
)
_outputs = st.one_of(
    st.text(max_size=60),
    _json_values.map(json.dumps),
    _json_values.map(lambda v: f"text\n{FENCE}json\n{json.dumps(v)}\n{FENCE}"),
    _json_values.map(lambda v: json.dumps(v)[:-1]),  # truncated JSON
    st.sampled_from(['{"a": NaN}', '{"a": 1, "a": 2}', "[" * 100, "1" * 100, '{"name": "Ada", "age": 1e400}']),
)
_PROPERTY_GRADER = JsonSchema(
    schema=PERSON, fields={"name": "{{item.name}}", "age": "{{item.age}}", "tags.0": "x"}, partial_credit=True
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(output=_outputs, name=_json_values, age=_json_values)
def test_never_raises_in_range_and_deterministic(output: str, name: object, age: object) -> None:
    item = {"name": name, "age": age}
    first = _PROPERTY_GRADER.grade(output, item)
    assert first.score is None or 0.0 <= first.score <= 1.0
    assert first.score is not None, "every item field is present, so the row is always judged"
    again = _PROPERTY_GRADER.grade_batch([output, output], [item, item])
    assert [g.to_dict() for g in again] == [first.to_dict()] * 2
    assert _PROPERTY_GRADER(completions=[output], name=[name], age=[age]) == [first.score]
