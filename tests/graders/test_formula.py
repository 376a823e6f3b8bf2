"""calculate_output formulas: grammar, precedence, errors with positions, evaluation failures."""

from __future__ import annotations

import math
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rft import ConfigError
from rft.graders._formula import (
    MAX_DEPTH,
    MAX_FORMULA_CHARS,
    Binary,
    Call,
    Formula,
    FormulaError,
    Num,
    Unary,
    Var,
    _compile,
    rename,
    unparse,
)

VALUES = {"a": 0.5, "b": 2.0, "c": 0.0, "name": 0.25, "email": 1.0}
NAMES = list(VALUES)

# (formula, expected value, why)
EVALUATE = [
    ("(name + email) / 2", 0.625, "OpenAI's contact example"),
    ("1 + 2 * 3", 7.0, "* binds tighter than +"),
    ("(1 + 2) * 3", 9.0, "parentheses group"),
    ("8 - 3 - 2", 3.0, "- is left-associative"),
    ("8 / 4 / 2", 1.0, "/ is left-associative"),
    ("2^3^2", 512.0, "^ is right-associative: 2^(3^2)"),
    ("(2^3)^2", 64.0, "parentheses override right-associativity"),
    ("-2^2", -4.0, "^ binds tighter than unary minus, as in maths"),
    ("(-2)^2", 4.0, "a parenthesised negative base"),
    ("2^-1", 0.5, "the exponent may carry a sign"),
    ("2 * -a", -1.0, "unary minus after an operator"),
    ("--a", 0.5, "repeated signs"),
    ("+a", 0.5, "unary plus"),
    ("2 * 3^2", 18.0, "^ binds tighter than *"),
    ("a*b+c", 1.0, "no spaces needed"),
    ("  a\n+\tb  ", 2.5, "any whitespace between tokens"),
    ("min(a, b, c)", 0.0, "min is variadic"),
    ("max(a)", 0.5, "max of one argument"),
    ("max(a, b) - min(a, b)", 1.5, "functions inside expressions"),
    ("abs(a - b)", 1.5, "abs"),
    ("floor(b * 1.6)", 3.0, "floor"),
    ("ceil(a)", 1.0, "ceil"),
    ("exp(c)", 1.0, "exp"),
    ("sqrt(b * 8)", 4.0, "sqrt"),
    ("log(exp(b))", 2.0, "log is the natural logarithm"),
    ("1.5e1 + .5 + 1.", 16.5, "number forms: exponent, leading dot, trailing dot"),
    ("7", 7.0, "a constant formula"),
    ("max(min(a, b), min(b, email))", 1.0, "nested calls"),
]


@pytest.mark.parametrize(("source", "expected", "why"), EVALUATE, ids=[c[0] for c in EVALUATE])
def test_evaluate(source, expected, why):
    assert Formula(source, names=NAMES).evaluate(VALUES) == pytest.approx(expected), why


def test_variables_in_order_of_first_use():
    f = Formula("email * 2 + name - email", names=NAMES)
    assert f.variables == ("email", "name")


def test_a_key_may_share_a_function_name():
    # A name directly followed by "(" is a call; elsewhere it is the variable.
    f = Formula("log(log) + min", names=["log", "min"])
    assert f.variables == ("log", "min")
    assert f.evaluate({"log": math.e, "min": 1.0}) == pytest.approx(2.0)


# (formula, message fragment, 1-based column of the caret, why)
PARSE_ERRORS = [
    ("", "empty", None, "nothing to compute"),
    ("   ", "empty", None, "only spaces"),
    ("a +", "ends where", 4, "operand missing at the end"),
    ("(a + b", "expected ')' to close the '(' at column 1", 7, "unclosed parenthesis"),
    ("a + b)", "unmatched ')'", 6, "extra closing parenthesis"),
    ("a b", "expected an operator", 3, "two operands in a row (trailing tokens)"),
    ("emial + 1", "did you mean 'email'", 1, "unknown name, with a suggestion"),
    ("a + zzz", "unknown name 'zzz'", 5, "unknown name lists the keys"),
    ("mn(a, b)", "did you mean 'min'", 1, "unknown function, with a suggestion"),
    ("round(a)", "unknown function 'round'", 1, "functions outside OpenAI's list are refused"),
    ("abs(a, b)", "takes exactly 1 argument", 1, "wrong arity"),
    ("sqrt()", "needs at least one argument", 1, "no arguments"),
    ("max()", "needs at least one argument", 1, "variadic functions still need one"),
    ("a ** 2", "write ^ for powers", 3, "Python's power operator"),
    ("a % 2", "unexpected character '%'", 3, "modulo is not in the grammar"),
    ("a.b", "unexpected character '.'", 2, "no attribute access"),
    ("a == b", "unexpected character '='", 3, "no comparisons"),
    ("1e999", "too large", 1, "a literal that overflows"),
    ("a +* b", "expected a number, a name or '('", 4, "two operators in a row"),
    ("(,)", "expected a number", 2, "stray comma"),
    ("a, b", "expected an operator", 2, "a comma outside a call"),
    ("__import__(a)", "unknown function '__import__'", 1, "no Python escapes"),
    ("__import__('os')", "unexpected character", 12, "no strings at all"),
    ("-" * (MAX_DEPTH + 1) + "a", "nested more than", MAX_DEPTH + 1, "sign chain bounded"),
    ("(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1), "nested more than", MAX_DEPTH + 1, "paren depth bounded"),
    ("+".join(["a"] * 400), "operations deep", None, "long chains bounded by tree depth"),
]


@pytest.mark.parametrize(("source", "fragment", "column", "why"), PARSE_ERRORS, ids=[c[3] for c in PARSE_ERRORS])
def test_parse_errors_name_field_position_and_fix(source, fragment, column, why):
    with pytest.raises(ConfigError) as info:
        Formula(source, names=NAMES)
    err = info.value
    assert err.path == "calculate_output", why
    assert fragment in str(err), (why, str(err))
    if column is not None:
        assert f"(column {column})" in str(err)
        excerpt_line, caret_line = str(err).splitlines()[-2:]
        under = caret_line.index("^")
        if column <= len(source):  # the caret sits under the offending character
            assert excerpt_line[under] == source[column - 1], (excerpt_line, caret_line)
        else:  # past the end: just after the last character
            assert excerpt_line.rstrip().endswith(source[-1]) and under == len(excerpt_line)


def test_caret_points_at_the_unknown_name():
    with pytest.raises(ConfigError) as info:
        Formula("(name + emial) / 2", names=["name", "email"])
    lines = str(info.value).splitlines()
    assert lines[-2].strip() == "(name + emial) / 2"
    assert lines[-1].index("^") - lines[-2].index("(") == 8


def test_length_bound():
    with pytest.raises(ConfigError, match="over the limit"):
        Formula("a" + " " * MAX_FORMULA_CHARS, names=NAMES)


@pytest.mark.parametrize("source", [None, 3, ["a"]], ids=["none", "number", "list"])
def test_non_string_formula(source):
    with pytest.raises(ConfigError, match="expected a formula string"):
        Formula(source, names=NAMES)


def test_any_name_when_names_not_given():
    assert Formula("x + y").variables == ("x", "y")


# (formula, values, message fragment, why)
EVAL_ERRORS = [
    ("a / c", {"a": 1.0, "c": 0.0}, "division by zero in 'a / c'", "denominator is 0"),
    ("log(c)", {"c": 0.0}, "logarithm of 0", "log of zero"),
    ("log(a - 1)", {"a": 0.5}, "logarithm of -0.5", "log of a negative number"),
    ("sqrt(a - 1)", {"a": 0.5}, "square root of the negative number", "sqrt of a negative number"),
    ("exp(a * 1000)", {"a": 1.0}, "overflow", "exp overflows"),
    ("10^(a * 400)", {"a": 1.0}, "overflow", "power overflows"),
    ("c^-1", {"c": 0.0}, "0 raised to a negative power", "0 to a negative power"),
    ("(a - 1)^0.5", {"a": 0.5}, "fractional power", "negative base, fractional exponent (complex)"),
    ("a * 1e308 * 10", {"a": 1.0}, "overflow", "product overflows to inf"),
    ("a", {"a": math.nan}, "not a finite number", "a NaN input"),
    ("a", {"a": math.inf}, "not a finite number", "an infinite input"),
    ("a + b", {"a": 1.0}, "no value for 'b'", "a missing input"),
]


@pytest.mark.parametrize(("source", "values", "fragment", "why"), EVAL_ERRORS, ids=[c[3] for c in EVAL_ERRORS])
def test_evaluation_errors(source, values, fragment, why):
    with pytest.raises(FormulaError) as info:
        Formula(source, names=["a", "b", "c"]).evaluate(values)
    assert fragment in str(info.value), why


def test_min_hides_no_overflow():
    # Overflow inside min() is still an error, not a silently dropped infinity.
    with pytest.raises(FormulaError, match="overflow"):
        Formula("min(a * 1e308 * 10, 1)").evaluate({"a": 1.0})


def test_pickle_and_equality():
    f = Formula("max(a, b) / 2", names=["a", "b"])
    g = pickle.loads(pickle.dumps(f))
    assert g == f and hash(g) == hash(f)
    assert g.evaluate({"a": 1, "b": 0}) == 0.5
    assert Formula("a", names=["a"]) != Formula("a", names=["a", "b"])


# (tree, text, why)
UNPARSE = [
    (Binary("*", Binary("+", Var("a"), Var("b")), Num(0.5)), "(a + b) * 0.5", "sum inside a product"),
    (Binary("-", Var("a"), Binary("-", Var("b"), Var("c"))), "a - (b - c)", "right operand of - keeps its parens"),
    (Binary("-", Binary("-", Var("a"), Var("b")), Var("c")), "a - b - c", "left-assoc chain needs none"),
    (Binary("^", Var("a"), Binary("^", Var("b"), Var("c"))), "a^b^c", "right-assoc power chain"),
    (Binary("^", Binary("^", Var("a"), Var("b")), Var("c")), "(a^b)^c", "left-nested power needs parens"),
    (Binary("^", Num(-2.0), Num(2.0)), "(-2)^2", "a negative base needs parens"),
    (Binary("^", Num(2.0), Num(-1.0)), "2^-1", "a negative exponent needs none"),
    (Unary("-", Binary("+", Var("a"), Var("b"))), "-(a + b)", "negated sum"),
    (Unary("-", Unary("-", Var("a"))), "-(-a)", "double negation stays readable"),
    (Call("max", (Var("a"), Num(1e-7))), "max(a, 1e-07)", "calls and small numbers"),
    (Binary("*", Num(-1.0), Var("a")), "-1 * a", "negative coefficient"),
]


@pytest.mark.parametrize(("tree", "text", "why"), UNPARSE, ids=[c[2] for c in UNPARSE])
def test_unparse(tree, text, why):
    assert unparse(tree) == text, why
    assert Formula(text).ast == tree or Formula(unparse(Formula(text).ast)).ast == Formula(text).ast


def test_rename_is_simultaneous():
    tree = Formula("a + b * a").ast
    assert unparse(rename(tree, {"a": "b", "b": "a"})) == "b + a * b"


# (formula, ranges, bounds, why)
BOUNDS = [
    ("0.2 * a + 0.8 * b", {"a": (0, 1), "b": (0, 1)}, (0.0, 1.0), "a convex combination"),
    ("a + b", {"a": (0, 1), "b": (0, 1)}, (0.0, 2.0), "a plain sum"),
    ("a - b", {"a": (0, 1), "b": (0, 1)}, (-1.0, 1.0), "a difference"),
    ("-a * 2", {"a": (0, 1)}, (-2.0, 0.0), "negative scale"),
    ("(a + b) / 2", {"a": (0, 1), "b": (0, 10)}, (0.0, 5.5), "division by a constant"),
    ("a / b", {"a": (0, 1), "b": (0, 1)}, None, "division by a range holding 0"),
    ("a / b", {"a": (0, 1), "b": (1, 2)}, (0.0, 1.0), "division by a positive range"),
    ("min(a, b)", {"a": (0, 1), "b": (2, 3)}, (0.0, 1.0), "min"),
    ("max(a, b)", {"a": (0, 1), "b": (2, 3)}, (2.0, 3.0), "max"),
    ("abs(a)", {"a": (-2, 1)}, (0.0, 2.0), "abs across 0"),
    ("a^2", {"a": (0, 3)}, (0.0, 9.0), "power of a non-negative base"),
    ("a^2", {"a": (-1, 3)}, None, "power of a base that can be negative: not bounded here"),
    ("sqrt(a)", {"a": (0, 4)}, (0.0, 2.0), "sqrt"),
    ("log(a)", {"a": (0, 1)}, None, "log near 0 is unbounded"),
    ("exp(a * 1000)", {"a": (0, 1)}, None, "overflowing bound"),
]


@pytest.mark.parametrize(("source", "ranges", "expected", "why"), BOUNDS, ids=[c[3] for c in BOUNDS])
def test_bounds(source, ranges, expected, why):
    assert Formula(source).bounds(ranges) == expected, why


# ------------------------------------------------------------------------------------------------
# Properties

_ALPHABET = "ab 0123456789.+-*/^(),e" + "minaxlogsqrtfl"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_ALPHABET, max_size=40), st.floats(-3, 3), st.floats(-3, 3))
def test_never_raises_anything_else(source, a, b):
    try:
        f = Formula(source, names=["a", "b"])
    except ConfigError:
        return
    results = []
    for _ in range(2):
        try:
            results.append(f.evaluate({"a": a, "b": b}))
        except FormulaError as exc:
            results.append(str(exc))
    assert results[0] == results[1] or (isinstance(results[0], float) and math.isnan(results[0]))
    if isinstance(results[0], float):
        assert math.isfinite(results[0])


def _trees():
    leaves = st.one_of(
        st.sampled_from([Var("a"), Var("b")]),
        st.floats(-10, 10, allow_nan=False).map(lambda v: Num(round(v, 3))),
    )

    def extend(children):
        return st.one_of(
            st.builds(Binary, st.sampled_from("+-*/^"), children, children),
            st.builds(Unary, st.sampled_from("-+"), children),
            st.builds(
                lambda f, args: Call(f, tuple(args)),
                st.sampled_from(["min", "max"]),
                st.lists(children, min_size=1, max_size=3),
            ),
            st.builds(
                lambda f, x: Call(f, (x,)), st.sampled_from(["abs", "floor", "ceil", "exp", "sqrt", "log"]), children
            ),
        )

    return st.recursive(leaves, extend, max_leaves=12)


def _outcome(compute):
    try:
        value = compute()
    except FormulaError:
        return "undefined"
    return "nan" if math.isnan(value) else value


@settings(max_examples=300, deadline=None)
@given(_trees(), st.floats(-2, 2), st.floats(-2, 2))
def test_unparse_round_trips(tree, a, b):
    """Writing a tree as text and parsing it back computes the same thing."""
    text = unparse(tree)
    again = Formula(text, names=["a", "b"])
    assert unparse(again.ast) == text
    env = {"a": a, "b": b}
    assert _outcome(lambda: again.evaluate(env)) == _outcome(lambda: _compile(tree)(env))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(-5, 5), min_size=3, max_size=3),
    st.floats(0, 1),
    st.floats(0, 1),
    st.sampled_from(["w0 + w1 * a - w2 * b", "(w0 * a + w1) * (b - w2)", "min(a * w0, b) - max(w1, a) / 2"]),
)
def test_bounds_contain_every_value(weights, a, b, template):
    for i, w in enumerate(weights):
        template = template.replace(f"w{i}", f"({w!r})")
    f = Formula(template, names=["a", "b"])
    span = f.bounds({"a": (0.0, 1.0), "b": (0.0, 1.0)})
    assert span is not None
    value = f.evaluate({"a": a, "b": b})
    assert span[0] - 1e-9 <= value <= span[1] + 1e-9
