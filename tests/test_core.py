"""The core the other modules stand on: Grade, Template, Batch, the Grader base class, the registry,
and the package surface (``__all__``, light import)."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
import textwrap

import pytest

import rft
from rft import ConfigError, Grade, Grader, GraderError, Template
from rft._template import Batch
from rft.graders import _registry as registry
from rft.graders._registry import register_grader

# ---------------------------------------------------------------------------------------------
# Test graders: small, registered under test-only type names.


@register_grader("test_scripted", replace=True)
@dataclasses.dataclass(kw_only=True, eq=True, repr=False)
class Scripted(Grader):
    """Returns, for each output, the result its text spells: "0.5" -> 0.5, "nan" -> NaN, "crash"
    raises, "none" -> None, "true" -> True, "str" -> a non-number. Records the texts it saw."""

    seen: list = dataclasses.field(default_factory=list, metadata={"config": False})

    _RESULTS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "none": None, "true": True, "str": "abc"}

    def _evaluate(self, batch, rich):
        self.seen.extend(batch.texts)
        out = []
        for text in batch.texts:
            if text == "crash":
                raise RuntimeError("boom on purpose")
            out.append(self._RESULTS[text] if text in self._RESULTS else float(text or 0))
        return out


@register_grader("test_wrong_length", replace=True)
@dataclasses.dataclass(kw_only=True, eq=True, repr=False)
class WrongLength(Grader):
    """A buggy grader: always one result too many."""

    def _evaluate(self, batch, rich):
        return [1.0] * (batch.n + 1)


@register_grader("test_wide_range", replace=True)
@dataclasses.dataclass(kw_only=True, eq=True, repr=False)
class WideRange(Grader):
    """A grader whose scores live in [0, 10]."""

    score_range = (0.0, 10.0)
    default_pass_threshold = 5.0

    def _evaluate(self, batch, rich):
        return [float(t) for t in batch.texts]


@pytest.fixture
def isolated_registry(monkeypatch):
    """Registrations made inside the test vanish after it."""
    monkeypatch.setattr(registry, "_TYPES", dict(registry._TYPES))
    monkeypatch.setattr(registry, "_loaded_entry_points", False)
    return registry


# ---------------------------------------------------------------------------------------------
# Grade


def test_unscored_is_not_zero():
    zero, unscored = Grade(0.0, False, "wrong"), Grade.unscored_because("judge down", error="judge_error")
    assert zero.score == 0.0 and not zero.unscored and zero.error is None
    assert unscored.score is None and unscored.unscored and unscored.passed is None
    assert unscored.error == "judge_error"
    assert zero != unscored


def test_grade_dict_round_trip_with_sub_grades_and_non_finite_details():
    sub = Grade(0.5, False, "half", {"answer": "4"})
    grade = Grade(1.0, True, "ok", {"sub_grades": {"a": sub}, "raw": [1, 2], "weird": math.inf})
    data = grade.to_dict()
    json.dumps(data, allow_nan=False)  # strictly JSON-ready
    assert data["details"]["weird"] == "inf"
    back = Grade.from_dict(data)
    assert back.details["sub_grades"]["a"] == sub
    assert back.score == 1.0 and back.passed is True and back.reason == "ok"


def test_grade_equality_treats_nan_scores_as_equal_and_is_unhashable():
    assert Grade(math.nan) == Grade(math.nan)
    assert Grade(None) != Grade(0.0)
    with pytest.raises(TypeError):
        hash(Grade(1.0))


# ---------------------------------------------------------------------------------------------
# Template and Batch

RENDER = [
    # (template, sample, item, expected, why)
    pytest.param("Q: {{item.q}} A: {{sample.output_text}}", "4", {"q": "2+2?"}, "Q: 2+2? A: 4", id="both-namespaces"),
    pytest.param("{{ item.q }}", "x", {"q": "spaces inside braces"}, "spaces inside braces", id="spaces-in-braces"),
    pytest.param("{{item.a.b}}", "x", {"a": {"b": "nested"}}, "nested", id="nested-path"),
    pytest.param("{{item.xs.1}}", "x", {"xs": ["zero", "one"]}, "one", id="list-index"),
    pytest.param("{{item.schema}}", "x", {"schema": {"type": "object"}}, {"type": "object"},
                 id="lone-placeholder-keeps-raw-value"),
    pytest.param("n={{item.n}}", "x", {"n": 42}, "n=42", id="non-string-rendered-as-json"),
    pytest.param('{"json": {{not_ours}}}', "x", {}, '{"json": {{not_ours}}}', id="other-braces-stay-literal"),
    pytest.param("{{sample.output_text}}", "{{item.secret}}", {"secret": "s3cr3t"}, "{{item.secret}}",
                 id="one-pass-no-injection"),
    pytest.param("[{{sample.output_json.name}}]", '{"age": 3}', {}, "[]", id="missing-output-json-path-is-empty"),
]


@pytest.mark.parametrize("source, sample, item, expected", RENDER)
def test_template_render(source, sample, item, expected):
    assert Template(source).render_one(sample, item) == expected


BAD_TEMPLATES = [
    pytest.param("{{item.}}", "malformed placeholder", id="empty-item-path"),
    pytest.param("{{item}}", "names no field", id="item-without-field"),
    pytest.param("{{sample.outptu_text}}", "unknown sample field 'outptu_text'", id="typo-in-sample-field"),
    pytest.param("{{sample.output_text.x}}", "only sample.output_json has sub-fields", id="sub-field-of-text"),
    pytest.param("{{item.a b}}", "malformed placeholder", id="space-in-path"),
    pytest.param(42, "expected a template string", id="not-a-string"),
]


@pytest.mark.parametrize("source, words", BAD_TEMPLATES)
def test_bad_templates_fail_at_build_naming_the_field(source, words):
    with pytest.raises(ConfigError) as info:
        Template(source, field="reference")
    assert info.value.path == "reference" and words in str(info.value)


def test_missing_item_field_marks_the_row_unscored():
    batch = Batch.of(["a", "b", "c"], [{"answer": "1"}, {}, {"answer": None}])
    rendered = Template("{{item.answer}}").render(batch, text=True)
    assert rendered == ["1", "", ""]
    assert list(batch.unscored) == [1]  # None is a value (renders empty); absence is missing
    grade = batch.unscored[1]
    assert grade.unscored and grade.error == "missing_field" and grade.details["field"] == "item.answer"


def test_rows_and_columns_render_the_same():
    """The evaluation path (rows) and TRL's path (columns) see the same values and the same gaps."""
    t = Template("{{item.q}}-{{item.n}}")
    rows = [{"q": "a", "n": 1}, {"q": "b", "n": None}, {"q": "c", "n": 3}]
    by_rows, by_cols = Batch.of(["x"] * 3, rows), Batch(["x"] * 3, columns={"q": ["a", "b", "c"], "n": [1, None, 3]})
    assert t.render(by_rows) == t.render(by_cols) == ["a-1", "b-", "c-3"]
    assert not by_rows.unscored and not by_cols.unscored  # None is a value, not a gap
    # A field no row has: every row is unscored either way.
    by_rows, by_cols = Batch.of(["x"] * 2, [{"q": "a"}, {"q": "b"}]), Batch(["x"] * 2, columns={"q": ["a", "b"]})
    assert t.render(by_rows) == t.render(by_cols) == ["a-", "b-"]
    assert list(by_rows.unscored) == list(by_cols.unscored) == [0, 1]


def test_batch_of_checks_lengths_and_subset_keeps_rows():
    with pytest.raises(GraderError, match="2 samples but 1 items"):
        Batch.of(["a", "b"], [{}])
    with pytest.raises(GraderError, match="2 samples but 3 items"):
        rft.StringCheck(name="s", reference="a").grade_batch(["a", "b"], [{}, {}, {}])
    batch = Batch.of(["a", "b", "c"], [{"i": 0}, {"i": 1}, {"i": 2}])
    sub = batch.subset([2, 0])
    assert sub.texts == ["c", "a"] and [sub.item(i)["i"] for i in range(2)] == [2, 0]


# ---------------------------------------------------------------------------------------------
# The Grader base: hostile outputs, crashes, bad results


def test_over_long_output_scores_zero_and_is_never_shown_to_the_grader():
    g = Scripted(name="s", max_output_chars=10)
    too_long, at_limit = "0.500000000", "0.50000000"  # 11 and 10 characters
    grades = g.grade_batch([too_long, at_limit, "1"])
    assert [x.score for x in grades] == [0.0, 0.5, 1.0]  # 0, not the 0.5 the text spells
    assert grades[0].passed is False and grades[0].details["error"] == "output_too_long"
    assert too_long not in g.seen  # hidden before _evaluate
    assert g(completions=[too_long, "1"]) == [0.0, 1.0]


def test_one_crashing_row_is_unscored_and_the_batch_goes_on():
    g = Scripted(name="flaky")
    grades = g.grade_batch(["1", "crash", "0.5"])
    assert [x.score for x in grades] == [1.0, None, 0.5]
    crash = grades[1]
    assert crash.error == "crash" and "flaky" in crash.reason and "RuntimeError" in crash.reason
    assert g(completions=["1", "crash", "0.5"]) == [1.0, None, 0.5]
    assert g.grade("crash").error == "crash"  # a batch of one, too


def test_wrong_length_result_raises_naming_the_grader():
    g = WrongLength(name="buggy")
    for call in (lambda: g.grade_batch(["a", "b"]), lambda: g(completions=["a", "b"])):
        with pytest.raises(GraderError, match=r"grader 'buggy' \(WrongLength\) returned 3 results for a batch of 2"):
            call()


INVALID = [
    # (output text -> result the grader returns, why it is unscored)
    pytest.param("nan", id="nan"),
    pytest.param("inf", id="inf"),
    pytest.param("-inf", id="minus-inf"),
    pytest.param("1.5", id="above-range"),
    pytest.param("-0.5", id="below-range"),
    pytest.param("str", id="not-a-number"),
]


@pytest.mark.parametrize("text", INVALID)
def test_invalid_scores_are_unscored_never_clipped(text):
    g = Scripted(name="s")
    grade = g.grade(text)
    assert grade.score is None and grade.passed is None and grade.error == "invalid_result"
    assert g(completions=[text]) == [None]


def test_none_result_is_unscored_and_bool_is_a_score():
    g = Scripted(name="s")
    assert g.grade("none").score is None and g.grade("none").error == "unscored"
    assert g.grade("true").score == 1.0 and g(completions=["true"]) == [1.0]


def test_per_type_score_range_and_threshold():
    g = WideRange(name="w")
    assert [x.score for x in g.grade_batch(["7", "3", "11"])] == [7.0, 3.0, None]
    assert [x.passed for x in g.grade_batch(["7", "3"])] == [True, False]
    assert WideRange(name="w", pass_threshold=8).grade("7").passed is False


def test_trl_call_reads_conversational_completions_and_columns_and_logs():
    g = rft.load_grader({"type": "string_check", "name": "same", "reference": "{{item.answer}}"})
    logged = {}
    scores = g(
        prompts=[[{"role": "user", "content": "q"}]] * 3,
        completions=[[{"role": "assistant", "content": "4"}], [{"role": "assistant", "content": "5"}], "4"],
        answer=["4", "4", "4"],
        trainer_state=object(),
        log_metric=lambda name, value: logged.__setitem__(name, value),
        log_extra=lambda *a: None,
    )
    assert scores == [1.0, 0.0, 1.0]
    assert logged == {"rft/same/unscored_frac": 0.0}
    assert g.__name__ == "same"  # TRL names the reward column by __name__


def test_trl_call_row_missing_a_column_value_is_unscored():
    g = rft.load_grader({"type": "string_check", "name": "same", "reference": "{{item.answer}}"})
    assert g(completions=["4", "4"], question=["a", "b"]) == [None, None]  # no answer column at all


# TRL's keyword arguments that are not dataset columns: they must pass untouched, whatever their shape.
_TRL_EXTRAS = {
    "trainer_state": object(),
    "log_extra": lambda *a: None,
    "log_metric": lambda *a: None,
    "completion_ids": [[1, 2, 3]],  # one list per completion, but of token ids
    "environments": None,
}


@pytest.mark.parametrize(
    "columns, words",
    [
        # A string is not a column: iterating it would pair '1' with the first completion, '2' with the second.
        pytest.param({"answer": "12"}, ["'answer'", "str", "list of 2"], id="a string column"),
        pytest.param({"answer": b"12"}, ["'answer'", "bytes", "list of 2"], id="a bytes column"),
        # Shown shortened in the message: bytes are cut like text (this raised TypeError while building it).
        pytest.param({"answer": b"1" * 50}, ["'answer'", "bytes", "b'1111", "..."], id="a long bytes column"),
        pytest.param({"answer": "1" * 50}, ["'answer'", "str", "'1111", "..."], id="a long string column"),
        # A column of the wrong length cannot be paired with the completions: never drop it silently.
        pytest.param({"answer": ["1"]}, ["'answer'", "1 value", "list of 2"], id="a column too short"),
        pytest.param({"answer": ("1", "2", "3")}, ["'answer'", "3 values", "list of 2"], id="a column too long"),
        pytest.param({"answer": [], "other": ["x", "y"]}, ["'answer'", "0 values"], id="an empty column"),
    ],
)
def test_trl_call_rejects_columns_it_cannot_pair_with_the_completions(columns, words):
    g = rft.load_grader({"type": "string_check", "name": "same", "input": "{{sample.output_text}}",
                         "reference": "<answer>{{item.answer}}</answer>"})
    with pytest.raises(GraderError) as info:
        g(prompts=["p", "p"], completions=["<answer>1</answer>", "<answer>2</answer>"], **columns)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize(
    "completions, prompts, words",
    [
        pytest.param("12", None, ["completions", "str"], id="completions as one string"),
        pytest.param(["a", "b"], ["p"], ["prompts", "1 value", "list of 2"], id="prompts of the wrong length"),
        pytest.param(["a", "b"], "pp", ["prompts", "str"], id="prompts as one string"),
    ],
)
def test_trl_call_rejects_completions_and_prompts_of_the_wrong_shape(completions, prompts, words):
    g = rft.StringCheck(name="s", reference="a")
    with pytest.raises(GraderError) as info:
        g(prompts=prompts, completions=completions)
    for word in words:
        assert word in str(info.value)


def test_trl_call_leaves_trl_extras_alone_and_reads_every_sequence_column():
    g = rft.load_grader({"type": "string_check", "name": "same", "reference": "{{item.answer}}"})
    assert g(prompts=["p"], completions=["4"], answer=["4"], **_TRL_EXTRAS) == [1.0]
    assert g(prompts=["p", "q"], completions=["4", "5"], answer=("4", "4"),
             **{**_TRL_EXTRAS, "completion_ids": [[1]] * 2, "environments": [object(), object()]}) == [1.0, 0.0]


def test_pass_threshold_must_be_a_finite_number():
    with pytest.raises(ConfigError, match="finite number") as info:
        Scripted(name="s", pass_threshold=math.nan)
    assert info.value.path == "pass_threshold"


# ---------------------------------------------------------------------------------------------
# Registry

REGISTRY_ERRORS = [
    # (config, path the error must carry, words it must contain)
    pytest.param({"type": "sting_check"}, "type", ["unknown grader type 'sting_check'", "string_check", "exact_match"],
                 id="unknown-type-lists-known"),
    pytest.param({"type": "string_check", "refrence": "x"}, "refrence", ["unknown field 'refrence'", "reference"],
                 id="unknown-field"),
    pytest.param({"type": "string_check", "operation": "equals"}, "operation", ["unknown operation 'equals'"],
                 id="bad-value"),
    pytest.param({"name": "x"}, "", ["has no 'type'"], id="no-type"),
    pytest.param({"type": 3}, "type", ["must be a string"], id="type-not-a-string"),
    pytest.param(
        {"type": "multi", "calculate_output": "a", "graders": {"a": {"type": "string_check", "bogus": 1}}},
        "graders.a.bogus", ["unknown field 'bogus'"], id="nested-field-path",
    ),
    pytest.param({"type": "regex"}, "pattern", ["missing required field 'pattern'"], id="missing-required"),
]


@pytest.mark.parametrize("config, path, words", REGISTRY_ERRORS)
def test_registry_errors_name_the_field(config, path, words):
    with pytest.raises(ConfigError) as info:
        rft.load_grader(config)
    assert info.value.path == path
    for word in words:
        assert word in str(info.value)


def test_load_grader_rejects_non_configs():
    with pytest.raises(ConfigError, match="cannot load a grader from int"):
        rft.load_grader(42)
    with pytest.raises(ConfigError, match="does not exist"):
        rft.load_grader("missing/grader.yaml")


def test_file_errors_carry_the_file_name(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text("type: string_check\nname: g\nopration: eq\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        rft.load_grader(path)
    assert str(info.value).startswith(f"{path}: opration: unknown field")


def test_register_grader_guards(isolated_registry):
    with pytest.raises(TypeError, match="needs a Grader subclass"):
        register_grader("test_not_a_grader")(dict)

    @register_grader("test_dup")
    @dataclasses.dataclass(kw_only=True, eq=True, repr=False)
    class First(Grader):
        def _evaluate(self, batch, rich):
            return [1.0] * batch.n

    with pytest.raises(ConfigError, match="already registered by .*First; pass replace=True"):

        @register_grader("test_dup")
        @dataclasses.dataclass(kw_only=True, eq=True, repr=False)
        class Second(Grader):
            pass

    assert rft.load_grader({"type": "test_dup"}).grade("x").score == 1.0
    assert "test_dup" in rft.grader_types()


def test_custom_grader_round_trips_through_its_config():
    g = rft.load_grader({"type": "test_scripted", "name": "mine", "max_output_chars": 50})
    assert isinstance(g, Scripted)
    assert g.to_config() == {"type": "test_scripted", "name": "mine", "max_output_chars": 50}
    assert rft.load_grader(g.to_config()) == g


def test_entry_point_group_registers_installed_graders(tmp_path, monkeypatch, isolated_registry):
    """A package that declares [rft.graders] in its entry points is found by type name, lazily."""
    module = "fake_rft_plugin_for_tests"
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent(
            """
            import dataclasses
            from rft import Grader

            @dataclasses.dataclass(kw_only=True, eq=True, repr=False)
            class Shout(Grader):
                def _evaluate(self, batch, rich):
                    return [1.0 if t.isupper() else 0.0 for t in batch.texts]
            """
        ),
        encoding="utf-8",
    )
    dist = tmp_path / "fake_rft_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-rft-plugin\nVersion: 0.1\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text(f"[rft.graders]\nplugin_shout = {module}:Shout\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)

    assert "plugin_shout" not in registry._TYPES  # nothing loaded before it is asked for
    g = rft.load_grader({"type": "plugin_shout", "name": "loud"})
    assert type(g).__module__ == module and g.type == "plugin_shout"
    assert [x.score for x in g.grade_batch(["HEY", "hey"])] == [1.0, 0.0]
    assert "plugin_shout" in rft.grader_types()
    sys.modules.pop(module, None)


# ---------------------------------------------------------------------------------------------
# Package surface


def test_all_is_sorted_and_every_name_imports():
    assert rft.__all__ == sorted(rft.__all__)
    assert len(set(rft.__all__)) == len(rft.__all__)
    for name in rft.__all__:
        assert getattr(rft, name) is not None, name
    assert set(rft.__all__) <= set(dir(rft))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        rft.nope  # noqa: B018


_HEAVY = ("torch", "transformers", "trl", "openai", "jsonschema", "datasets", "sacrebleu", "accelerate")


def _imported_after(code: str) -> list[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(m for m in {_HEAVY!r} if m in sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def test_import_rft_stays_light():
    assert _imported_after("import rft") == []


def test_loading_and_using_a_rule_grader_stays_light():
    """Rule graders and the CLI's grade path need none of the heavy libraries."""
    code = (
        "import rft\n"
        "g = rft.load_grader('answer_matches_reference')\n"
        "g.grade('<answer>4</answer>', {'answer': '4'}); g(completions=['4'], answer=['4'])\n"
        "import rft.cli; rft.cli.build_parser()"
    )
    heavy = _imported_after(code)
    assert not set(heavy) & {"torch", "transformers", "trl", "openai"}, heavy
