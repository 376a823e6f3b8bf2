"""Python composition: grader arithmetic, weighted, all_of, any_of, gate."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import math
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rft
from rft import AllOf, AnyOf, ConfigError, Gate, GraderError, Multi, all_of, any_of, gate, weighted
from rft.graders._async import AsyncCall

CALLS: collections.Counter[str] = collections.Counter()


@rft.register_grader("test_compose_counted")
@dataclasses.dataclass(kw_only=True, eq=True, repr=False)
class Counted(rft.Grader):
    """1 if the output contains ``word`` else 0; counts the rows it grades; unscored without ``needs``."""

    word: str = "ok"
    needs: str = ""

    def _evaluate(self, batch, rich):
        CALLS[self.name] += batch.n
        needed = [True] * batch.n
        if self.needs:
            needed = [v is not rft._template.MISSING for v in batch.item_column(self.needs)]
        return [
            (1.0 if self.word in t else 0.0) if ok else rft.Grade.unscored_because("no field", error="missing_field")
            for t, ok in zip(batch.texts, needed)
        ]


@rft.register_grader("test_compose_async")
@dataclasses.dataclass(kw_only=True, eq=True, repr=False)
class Judge(AsyncCall, rft.Grader):
    """An async grader standing in for an LLM judge."""

    word: str = "good"

    async def _aevaluate(self, batch, rich):
        CALLS[self.name] += batch.n
        await asyncio.sleep(0)
        return [1.0 if self.word in t else 0.0 for t in batch.texts]


def sc(name, word, **kw):
    return rft.StringCheck(name=name, reference=word, operation="like", **kw)


FMT = sc("fmt", "<")
RIGHT = sc("correct", "42")
EXTRA = sc("extra", "!")


# ------------------------------------------------------------------------------------------------
# Arithmetic

# (build, formula, range, score of "<42", why)
ARITHMETIC = [
    (lambda: 0.2 * FMT + 0.8 * RIGHT, "0.2 * fmt + 0.8 * correct", (0.0, 1.0), 1.0, "the README example"),
    (lambda: FMT + RIGHT, "fmt + correct", (0.0, 2.0), 2.0, "a sum widens the range"),
    (lambda: FMT - RIGHT, "fmt - correct", (-1.0, 1.0), 0.0, "a difference"),
    (lambda: (FMT + RIGHT) / 2, "(fmt + correct) / 2", (0.0, 1.0), 1.0, "merged operand is parenthesised"),
    (lambda: FMT + RIGHT + EXTRA, "fmt + correct + extra", (0.0, 3.0), 2.0, "chains merge into one formula"),
    (lambda: FMT - (RIGHT + EXTRA), "fmt - (correct + extra)", (-2.0, 1.0), 0.0, "right-hand merge keeps parens"),
    (lambda: (FMT + RIGHT) * (FMT - RIGHT), "(fmt + correct) * (fmt - correct)", (-2.0, 2.0), 0.0,
     "the same grader object is one key"),
    (lambda: 1 - FMT, "1 - fmt", (0.0, 1.0), 0.0, "a number on the left"),
    (lambda: FMT * 0.5 + 0.5, "fmt * 0.5 + 0.5", (0.5, 1.0), 1.0, "an offset"),
    (lambda: sum([FMT, RIGHT, EXTRA]), "fmt + correct + extra", (0.0, 3.0), 2.0, "sum() starts from 0"),
    (lambda: FMT + sc("fmt", ">"), "fmt + fmt_2", (0.0, 2.0), 1.0, "two graders named alike get unique keys"),
    (lambda: sc("min", "<") + sc("2 good!", "42"), "min_grader + g_2_good", (0.0, 2.0), 2.0,
     "names are made formula-safe"),
]


@pytest.mark.parametrize(("build", "formula", "span", "score", "why"), ARITHMETIC, ids=[c[4] for c in ARITHMETIC])
def test_arithmetic_builds_a_multi(build, formula, span, score, why):
    grader = build()
    assert isinstance(grader, Multi)
    assert grader.calculate_output == formula, why
    assert grader.range == span
    assert grader.grade("<42").score == score
    assert grader(completions=["<42"]) == [score]
    config = grader.to_config()
    assert config["type"] == "multi"  # an OpenAI multi config
    again = rft.load_grader(json.loads(json.dumps(config)))
    assert again == grader
    assert again.grade("<42") == grader.grade("<42")


def test_auto_names_are_metric_safe():
    grader = (FMT + RIGHT) / 2
    assert grader.name == grader.__name__ == "multi(fmt,correct)"
    many = sum(sc(f"grader_number_{i}", str(i)) for i in range(8))
    assert many.name == "multi"  # too long to spell out


def test_zero_plus_a_grader_is_the_grader():
    assert (0 + FMT) is FMT and (FMT + 0) is FMT


@pytest.mark.parametrize(
    ("build", "error", "fragment"),
    [
        (lambda: FMT + "x", TypeError, "unsupported operand"),
        (lambda: FMT * True, TypeError, "unsupported operand"),  # bools are not weights
        (lambda: FMT * math.nan, ConfigError, "finite number"),
        (lambda: FMT / RIGHT, ConfigError, "cannot tell the range"),
        (lambda: FMT * 0, ConfigError, "always scores 0"),
    ],
    ids=["string", "bool", "nan", "division by a grader", "constant"],
)
def test_arithmetic_errors(build, error, fragment):
    with pytest.raises(error, match=fragment):
        build()


def test_a_named_composite_is_kept_whole():
    inner = weighted([(FMT, 1), (RIGHT, 1)], name="both")
    outer = inner + EXTRA
    assert outer.calculate_output == "both + extra"
    assert outer.graders["both"] is inner


def test_the_merge_mark_survives_pickling():
    pair = pickle.loads(pickle.dumps(FMT + RIGHT))
    assert (pair + EXTRA).calculate_output == "fmt + correct + extra"


def test_unique_keys_when_merging_two_multis():
    left = FMT + RIGHT
    right = sc("fmt", ">") + sc("correct", "7")
    both = left - right
    assert both.calculate_output == "fmt + correct - (fmt_2 + correct_2)"
    assert both.graders["fmt_2"] is right.graders["fmt"]


# ------------------------------------------------------------------------------------------------
# weighted

# (pairs, normalize, formula, range, score of "<42", why)
WEIGHTED = [
    ([(FMT, 0.2), (RIGHT, 0.8)], False, "0.2 * fmt + 0.8 * correct", (0.0, 1.0), 1.0, "plain weighted sum"),
    ([(FMT, 2), (RIGHT, 1), (EXTRA, 1)], True, "(2 * fmt + correct + extra) / 4", (0.0, 1.0), 0.75, "normalised"),
    ([(FMT, 1), (EXTRA, -0.5)], False, "fmt - 0.5 * extra", (-0.5, 1.0), 1.0, "a penalty reads as subtraction"),
    ([(FMT, 3)], True, "3 * fmt / 3", (0.0, 1.0), 1.0, "one grader, normalised"),
    ([(FMT + RIGHT, 0.5), (EXTRA, 1)], False, "0.5 * (fmt + correct) + extra", (0.0, 2.0), 1.0, "merges arithmetic"),
]


@pytest.mark.parametrize(
    ("pairs", "normalize", "formula", "span", "score", "why"), WEIGHTED, ids=[c[5] for c in WEIGHTED]
)
def test_weighted(pairs, normalize, formula, span, score, why):
    grader = weighted(pairs, normalize=normalize)
    assert grader.calculate_output == formula, why
    assert grader.range == span
    assert grader.grade("<42").score == pytest.approx(score)
    assert rft.load_grader(grader.to_config()) == grader


@pytest.mark.parametrize(
    ("pairs", "normalize", "fragment"),
    [
        ([], False, "at least one"),
        ([(FMT, "1")], False, "pair"),
        ([FMT], False, "pair"),
        ([(FMT, math.inf)], False, "finite"),
        ([(FMT, 1), (RIGHT, -1)], True, "total weight, which is 0"),
    ],
    ids=["empty", "string weight", "bare grader", "infinite weight", "zero total"],
)
def test_weighted_errors(pairs, normalize, fragment):
    with pytest.raises(ConfigError, match=fragment):
        weighted(pairs, normalize=normalize)


# ------------------------------------------------------------------------------------------------
# all_of / any_of

HALF = rft.Multi(name="half", graders={"c": sc("c", "c")}, calculate_output="c / 2", pass_threshold=0.5)

# (output, all_of score, all_of passed, any_of score, any_of passed, why)
EXTREMA = [
    ("<42 c", 0.5, True, 1.0, True, "all pass, each by its own threshold (half passes at 0.5)"),
    ("<42", 0.0, False, 1.0, True, "one fails"),
    ("nothing", 0.0, False, 0.0, False, "all fail"),
    ("c", 0.0, False, 0.5, True, "only the lenient one passes"),
]


@pytest.mark.parametrize(
    ("output", "all_score", "all_pass", "any_score", "any_pass", "why"), EXTREMA, ids=[c[5] for c in EXTREMA]
)
def test_all_of_and_any_of(output, all_score, all_pass, any_score, any_pass, why):
    every, some = all_of(FMT, RIGHT, HALF), any_of(FMT, RIGHT, HALF)
    g = every.grade(output)
    assert (g.score, g.passed) == (all_score, all_pass), why
    assert set(g.details["sub_grades"]) == {"fmt", "correct", "half"}
    g = some.grade(output)
    assert (g.score, g.passed) == (any_score, any_pass), why
    assert every(completions=[output]) == [all_score] and some(completions=[output]) == [any_score]


def test_explicit_pass_threshold_compares_the_score():
    lenient = all_of(FMT, RIGHT, pass_threshold=0.0)
    assert lenient.grade("x").passed is True


def test_unscored_child_unscores_all_of():
    grader = all_of(Counted(name="needs", needs="ref"), FMT)
    grades = grader.grade_batch(["ok<", "ok<"], [{"ref": 1}, {}])
    assert grades[0].score == 1.0
    assert grades[1].score is None and grades[1].error == "missing_field" and "'needs'" in grades[1].reason


def test_all_of_config_round_trip_and_error_path():
    grader = all_of(FMT, sc("fmt", ">"), name="both_fmt")
    assert list(grader.children()) == ["fmt", "fmt_2"]
    config = grader.to_config()
    assert config == {"type": "all_of", "name": "both_fmt", "graders": [FMT.to_config(), sc("fmt", ">").to_config()]}
    assert rft.load_grader(config) == grader
    assert pickle.loads(pickle.dumps(grader)) == grader
    bad = {"type": "any_of", "graders": [FMT.to_config(), {**RIGHT.to_config(), "operation": "??"}]}
    with pytest.raises(ConfigError) as info:
        rft.load_grader(bad)
    assert info.value.path == "graders.1.operation"
    with pytest.raises(ConfigError, match="non-empty list"):
        rft.load_grader({"type": "all_of", "graders": []})
    with pytest.raises(ConfigError, match="at least one"):
        all_of()


def test_list_argument_and_auto_name():
    assert all_of([FMT, RIGHT]).name == "all_of(fmt,correct)"
    assert isinstance(any_of(FMT), AnyOf) and isinstance(all_of(FMT), AllOf)


# ------------------------------------------------------------------------------------------------
# gate


def test_gate_runs_the_expensive_grader_only_where_the_cheap_one_passes():
    CALLS.clear()
    g = gate(FMT, Counted(name="costly", word="42"))
    outputs = ["<42", "42", "<7", "nope"]
    grades = g.grade_batch(outputs)
    assert [x.score for x in grades] == [1.0, 0.0, 0.0, 0.0]
    assert CALLS["costly"] == 2  # only "<42" and "<7" reached it
    assert grades[1].reason.startswith("gate failed: fail: input '42' like reference '<'")
    assert grades[1].details["gate"] == "closed" and "expensive" not in grades[1].details["sub_grades"]
    assert grades[0].details["gate"] == "open" and grades[0].passed is True
    assert grades[2].passed is False
    CALLS.clear()
    assert g(completions=outputs) == [x.score for x in grades]
    assert CALLS["costly"] == 2


def test_gate_unscored_when_the_cheap_grader_cannot_judge():
    CALLS.clear()
    g = gate(Counted(name="cheap", word="<", needs="ref"), Counted(name="costly", word="42"))
    grades = g.grade_batch(["<42", "<42"], [{"ref": 1}, {}])
    assert grades[0].score == 1.0
    assert grades[1].score is None and grades[1].error == "missing_field"
    assert "cheap grader 'cheap' is unscored" in grades[1].reason
    assert CALLS["costly"] == 1


def test_gate_threshold_and_range():
    soft = Multi(name="soft", graders={"a": sc("a", "a"), "b": sc("b", "b")}, calculate_output="(a + b) / 2")
    g = gate(soft, RIGHT, threshold=0.5)
    assert g.grade("a 42").score == 1.0  # cheap scores 0.5: opens at threshold 0.5
    assert gate(soft, RIGHT).grade("a 42").score == 0.0  # soft's own pass needs 1.0
    negative = Multi(name="neg", graders={"x": RIGHT}, calculate_output="x + 1", range=[1, 2])
    assert gate(FMT, negative).score_range == (0.0, 2.0)  # a closed gate's 0 stays in range
    assert gate(FMT, negative).grade("42").score == 0.0


def test_gate_config_round_trip_and_errors():
    g = gate(FMT, RIGHT, threshold=0.5, name="g")
    config = g.to_config()
    assert config == {
        "type": "gate",
        "name": "g",
        "cheap": FMT.to_config(),
        "expensive": RIGHT.to_config(),
        "cheap_threshold": 0.5,
    }
    assert rft.load_grader(config) == g
    assert pickle.loads(pickle.dumps(g)) == g
    with pytest.raises(ConfigError) as info:
        rft.load_grader({**config, "expensive": {**RIGHT.to_config(), "operation": "??"}})
    assert info.value.path == "expensive.operation"
    with pytest.raises(ConfigError) as info:
        rft.load_grader({**config, "cheap_threshold": "x"})
    assert info.value.path == "cheap_threshold"
    with pytest.raises(ConfigError, match="missing required field 'expensive'"):
        rft.load_grader({"type": "gate", "cheap": FMT.to_config()})


# ------------------------------------------------------------------------------------------------
# async


@pytest.mark.parametrize(
    "build",
    [
        lambda j: gate(FMT, j),
        lambda j: all_of(FMT, j),
        lambda j: any_of(j, FMT),
        lambda j: 0.5 * FMT + 0.5 * j,
        lambda j: all_of(gate(FMT, j), RIGHT),
    ],
    ids=["gate", "all_of", "any_of", "arithmetic", "nested"],
)
def test_a_composite_holding_an_async_grader_is_async(build):
    grader = build(Judge(name="judge"))
    assert isinstance(grader, Gate | AllOf | AnyOf | Multi)
    assert grader.is_async and asyncio.iscoroutinefunction(grader.__call__)
    outputs = ["<good 42", "<bad", "good"]
    grades = grader.grade_batch(outputs)
    assert asyncio.run(grader(completions=outputs)) == [g.score for g in grades]
    again = pickle.loads(pickle.dumps(grader))
    assert again.is_async and again == grader
    assert rft.load_grader(grader.to_config()) == grader


@pytest.mark.parametrize(
    "config",
    [
        {"type": "multi", "calculate_output": "j", "graders": {"j": {"type": "test_compose_async", "name": "j"}}},
        {"type": "all_of", "graders": [FMT.to_config(), {"type": "test_compose_async", "name": "j"}]},
        # A judge two levels down, still as configs: asynchrony is read from the config, recursively.
        {"type": "gate", "cheap": FMT.to_config(),
         "expensive": {"type": "any_of", "graders": [{"type": "test_compose_async", "name": "j"}]}},
    ],
    ids=["multi", "all_of", "nested_configs"],
)
def test_a_composite_built_from_configs_holding_a_judge_is_async_from_the_start(config):
    grader = rft.load_grader(config)
    assert grader.is_async and asyncio.iscoroutinefunction(type(grader).__call__)
    direct = type(grader)(**{k: v for k, v in config.items() if k != "type"})  # the constructor decides alike
    assert direct.is_async and direct == grader
    assert asyncio.run(grader(completions=["<good"])) == [g.score for g in grader.grade_batch(["<good"])]


def test_a_composite_of_sync_graders_stays_sync_and_needs_no_event_loop():
    grader = all_of(FMT, 0.5 * FMT + 0.5 * RIGHT)
    assert not grader.is_async and not asyncio.iscoroutinefunction(type(grader).__call__)

    async def inside_a_running_loop():  # Jupyter, or an async server calling the sync API
        return grader(completions=["<42", "42"]), grader.grade("<42").score

    assert asyncio.run(inside_a_running_loop()) == ([1.0, 0.0], 1.0)


@dataclasses.dataclass(kw_only=True, eq=True, repr=False)
class Undeclared(rft.Grader):
    """Waits on I/O in _aevaluate but does not mix in AsyncCall: a programming error."""

    type = "test_compose_undeclared"

    async def _aevaluate(self, batch, rich):
        await asyncio.sleep(0)
        return [1.0] * batch.n


def test_a_grader_that_waits_without_being_async_is_a_grader_error():
    with pytest.raises(GraderError, match="AsyncCall"):
        Undeclared(name="u").grade("x")
    with pytest.raises(GraderError, match="AsyncCall"):
        all_of(FMT, Undeclared(name="u"))(completions=["<"])


def test_async_gate_skips_the_judge_on_closed_rows():
    CALLS.clear()
    g = gate(FMT, Judge(name="judge"))
    assert asyncio.run(g(completions=["<good", "good", "bad"])) == [1.0, 0.0, 0.0]
    assert CALLS["judge"] == 1


# ------------------------------------------------------------------------------------------------
# Properties

_LEAVES = [FMT, RIGHT, EXTRA, sc("fmt", ">")]


def _expressions():
    leaf = st.one_of(st.sampled_from(_LEAVES), st.sampled_from([0.5, 2, -1, 3.25]))

    def extend(children):
        return st.tuples(st.sampled_from("+-*"), children, children)

    return st.recursive(leaf, extend, max_leaves=6)


def _build(expr):
    if not isinstance(expr, tuple):
        return expr
    op, left, right = expr
    left, right = _build(left), _build(right)
    return {"+": lambda: left + right, "-": lambda: left - right, "*": lambda: left * right}[op]()


@settings(max_examples=80, deadline=None)
@given(_expressions(), st.lists(st.sampled_from(["<42!", "42", "<>", "", "!" * 3]), min_size=1, max_size=3))
def test_arithmetic_never_raises_and_round_trips(expr, outputs):
    try:
        grader = _build(expr)
    except ConfigError:  # e.g. 0.5 * 2 * 0: the combination is constant
        return
    if not isinstance(grader, rft.Grader):
        return  # only numbers were drawn
    grades = grader.grade_batch(outputs)
    assert grades == grader.grade_batch(outputs)
    lo, hi = grader.score_range
    for g in grades:
        assert g.score is not None and lo <= g.score <= hi  # the inferred range always holds
    assert grader(completions=outputs) == [g.score for g in grades]
    assert rft.load_grader(grader.to_config()) == grader
