"""OpenAI's ``calculate_output`` formulas: parsed once, evaluated per row, never with ``eval``.

Grammar (lowest binding first)::

    expr    := term (("+" | "-") term)*            left-associative
    term    := unary (("*" | "/") unary)*          left-associative
    unary   := ("-" | "+") unary | power
    power   := atom ("^" unary)?                   right-associative: 2^3^2 = 2^9
    atom    := number | name | name "(" expr ("," expr)* ")" | "(" expr ")"

``^`` binds tighter than unary minus, as in mathematics: ``-2^2`` is ``-(2^2) = -4``, while the
exponent may carry its own sign: ``2^-1 = 0.5``. Names are the keys of the ``multi`` grader's
``graders``; a name directly followed by ``(`` is a function: ``min`` and ``max`` (one or more
arguments), ``abs floor ceil exp sqrt log`` (one argument; ``log`` is the natural logarithm).

Why hand-written: no well-kept library parses exactly this grammar safely. ``eval``/``ast`` accept
far more than OpenAI's grammar (attribute access, comprehensions, ``**`` with huge integers), and
general expression libraries bring their own operators and precedence. The parser here is ~150
lines, bounded in length and depth, and reports errors with the position.

>>> f = Formula("(name + email) / 2", names=["name", "email"])
>>> f.variables
('name', 'email')
>>> f.evaluate({"name": 0.5, "email": 1.0})
0.75
>>> Formula("-2^2").evaluate({}), Formula("2^3^2").evaluate({})
(-4.0, 512.0)
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from rft._errors import ConfigError

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_FORMULA_CHARS",
    "Binary",
    "Call",
    "Formula",
    "FormulaError",
    "Node",
    "Num",
    "Unary",
    "Var",
    "bounds",
    "rename",
    "unparse",
]

#: Longest formula accepted.
MAX_FORMULA_CHARS = 1000
#: Deepest nesting (parentheses, calls, signs, powers, and the depth of the parsed tree).
MAX_DEPTH = 50

#: Function name -> (fewest, most) arguments; ``None`` = any number.
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "min": (1, None),
    "max": (1, None),
    "abs": (1, 1),
    "floor": (1, 1),
    "ceil": (1, 1),
    "exp": (1, 1),
    "sqrt": (1, 1),
    "log": (1, 1),
}


class FormulaError(ArithmeticError):
    """A formula could not be evaluated for one row (division by zero, log of 0, overflow)."""


# ------------------------------------------------------------------------------------------------
# The parsed tree. Each node knows its depth, so evaluation (recursive) stays bounded.


def _set_depth(node: Any, *children: Any) -> None:
    object.__setattr__(node, "depth", 1 + max((c.depth for c in children), default=0))


@dataclasses.dataclass(frozen=True, slots=True)
class Num:
    value: float
    depth: int = dataclasses.field(default=1, init=False, compare=False, repr=False)


@dataclasses.dataclass(frozen=True, slots=True)
class Var:
    name: str
    depth: int = dataclasses.field(default=1, init=False, compare=False, repr=False)


@dataclasses.dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-" or "+"
    operand: Node
    depth: int = dataclasses.field(default=1, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        _set_depth(self, self.operand)


@dataclasses.dataclass(frozen=True, slots=True)
class Binary:
    op: str  # + - * / ^
    left: Node
    right: Node
    depth: int = dataclasses.field(default=1, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        _set_depth(self, self.left, self.right)


@dataclasses.dataclass(frozen=True, slots=True)
class Call:
    func: str
    args: tuple[Node, ...]
    depth: int = dataclasses.field(default=1, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        _set_depth(self, *self.args)


Node = Num | Var | Unary | Binary | Call


# ------------------------------------------------------------------------------------------------
# Tokens

_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>\*\*|[-+*/^(),])"
    r")"
)
_SPACE = re.compile(r"\s*")


@dataclasses.dataclass(slots=True)
class _Token:
    kind: str  # num, name, op, end
    text: str
    pos: int


def _tokens(source: str) -> list[_Token]:
    out: list[_Token] = []
    pos = 0
    n = len(source)
    while True:
        pos = _SPACE.match(source, pos).end()  # type: ignore[union-attr]
        if pos >= n:
            out.append(_Token("end", "", n))
            return out
        m = _TOKEN.match(source, pos)
        if m is None or m.lastgroup is None:
            raise _ParseError(f"unexpected character {source[pos]!r}", pos)
        start = m.start(m.lastgroup)
        text = m.group(m.lastgroup)
        if text == "**":
            raise _ParseError("'**' is not an operator in calculate_output; write ^ for powers (2^3)", start)
        out.append(_Token(m.lastgroup, text, start))
        pos = m.end()


class _ParseError(Exception):
    def __init__(self, message: str, pos: int):
        super().__init__(message)
        self.message = message
        self.pos = pos


# ------------------------------------------------------------------------------------------------
# Parser (recursive descent; depth bounded so hostile input cannot exhaust the stack)


class _Parser:
    def __init__(self, source: str, names: frozenset[str] | None):
        self.source = source
        self.names = names
        self.toks = _tokens(source)
        self.i = 0
        self.depth = 0
        self.used: dict[str, None] = {}

    @property
    def tok(self) -> _Token:
        return self.toks[self.i]

    def take(self) -> _Token:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def at(self, text: str) -> bool:
        tok = self.toks[self.i]
        return tok.kind == "op" and tok.text == text

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _ParseError(f"nested more than {MAX_DEPTH} levels deep; simplify the formula", pos)

    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise _ParseError("the formula is empty; write one over the grader keys, e.g. (a + b) / 2", 0)
        node = self.expr()
        tok = self.tok
        if tok.kind != "end":
            if tok.text == ")":
                raise _ParseError("unmatched ')'", tok.pos)
            raise _ParseError(f"expected an operator (+ - * / ^) or the end, found {tok.text!r}", tok.pos)
        return node

    def expr(self) -> Node:
        node = self.term()
        while self.at("+") or self.at("-"):
            op = self.take()
            node = _checked(Binary(op.text, node, self.term()), op.pos)
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.at("*") or self.at("/"):
            op = self.take()
            node = _checked(Binary(op.text, node, self.unary()), op.pos)
        return node

    def unary(self) -> Node:
        if self.at("-") or self.at("+"):
            op = self.take()
            self.enter(op.pos)
            node = _checked(Unary(op.text, self.unary()), op.pos)
            self.depth -= 1
            return node
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        if self.at("^"):
            op = self.take()
            self.enter(op.pos)
            base = _checked(Binary("^", base, self.unary()), op.pos)
            self.depth -= 1
        return base

    def atom(self) -> Node:
        tok = self.take()
        if tok.kind == "num":
            value = float(tok.text)
            if not math.isfinite(value):
                raise _ParseError(f"number {tok.text[:20]!r} is too large", tok.pos)
            return Num(value)
        if tok.kind == "name":
            if self.at("("):
                return self.call(tok)
            if self.names is not None and tok.text not in self.names:
                raise _ParseError(self._unknown_name(tok.text), tok.pos)
            self.used.setdefault(tok.text)
            return Var(tok.text)
        if tok.kind == "op" and tok.text == "(":
            self.enter(tok.pos)
            node = self.expr()
            self._close(tok)
            self.depth -= 1
            return node
        if tok.kind == "end":
            raise _ParseError("the formula ends where a number, name or '(' was expected", tok.pos)
        raise _ParseError(f"expected a number, a name or '(', found {tok.text!r}", tok.pos)

    def call(self, name: _Token) -> Node:
        spec = FUNCTIONS.get(name.text)
        if spec is None:
            close = difflib.get_close_matches(name.text, FUNCTIONS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _ParseError(
                f"unknown function {name.text!r}{hint}; functions: {', '.join(FUNCTIONS)}", name.pos
            )
        opening = self.take()
        self.enter(opening.pos)
        if self.at(")"):
            raise _ParseError(f"{name.text}() needs at least one argument, e.g. {name.text}(a, b)", name.pos)
        args = [self.expr()]
        while self.at(","):
            self.take()
            args.append(self.expr())
        self._close(opening)
        self.depth -= 1
        lo, hi = spec
        if len(args) < lo or (hi is not None and len(args) > hi):
            want = f"exactly {lo}" if lo == hi else f"at least {lo}"
            raise _ParseError(
                f"{name.text}() takes {want} argument{'s' if lo != 1 else ''}, got {len(args)}", name.pos
            )
        return _checked(Call(name.text, tuple(args)), name.pos)

    def _close(self, opening: _Token) -> None:
        tok = self.take()
        if not (tok.kind == "op" and tok.text == ")"):
            found = "the end" if tok.kind == "end" else repr(tok.text)
            raise _ParseError(f"expected ')' to close the '(' at column {opening.pos + 1}, found {found}", tok.pos)

    def _unknown_name(self, name: str) -> str:
        known = sorted(self.names or ())
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        listed = ", ".join(known) if known else "none"
        return f"unknown name {name!r}{hint}; names must be keys of graders: {listed}"


def _checked(node: Node, pos: int) -> Node:
    """Bound the depth of the tree (left-associative chains grow it without nesting)."""
    if node.depth > _MAX_TREE_DEPTH:
        raise _ParseError(f"the formula is more than {_MAX_TREE_DEPTH} operations deep; simplify it", pos)
    return node


# Chains like a + b + c + ... deepen the tree without nesting; evaluation recurses over it.
_MAX_TREE_DEPTH = 4 * MAX_DEPTH


# ------------------------------------------------------------------------------------------------
# Evaluation: the tree compiled once into nested closures over a {name: value} mapping


def _finite(value: float, node: Node) -> float:
    if math.isfinite(value):
        return value
    raise FormulaError(f"overflow in {unparse(node)!r}")


def _compile(node: Node) -> Callable[[Mapping[str, float]], float]:
    if isinstance(node, Num):
        value = node.value
        return lambda env: value
    if isinstance(node, Var):
        name = node.name
        return lambda env: env[name]
    if isinstance(node, Unary):
        inner = _compile(node.operand)
        if node.op == "+":
            return inner
        return lambda env: -inner(env)
    if isinstance(node, Binary):
        return _compile_binary(node)
    return _compile_call(node)


def _compile_binary(node: Binary) -> Callable[[Mapping[str, float]], float]:
    left, right = _compile(node.left), _compile(node.right)
    op = node.op
    if op == "+":
        return lambda env: _finite(left(env) + right(env), node)
    if op == "-":
        return lambda env: _finite(left(env) - right(env), node)
    if op == "*":
        return lambda env: _finite(left(env) * right(env), node)
    if op == "/":

        def divide(env: Mapping[str, float]) -> float:
            numerator, denominator = left(env), right(env)
            if denominator == 0:
                raise FormulaError(f"division by zero in {unparse(node)!r}")
            return _finite(numerator / denominator, node)

        return divide

    def power(env: Mapping[str, float]) -> float:
        base, exponent = left(env), right(env)
        try:
            value = base**exponent
        except ZeroDivisionError:
            raise FormulaError(f"0 raised to a negative power in {unparse(node)!r}") from None
        except OverflowError:
            raise FormulaError(f"overflow in {unparse(node)!r}") from None
        if isinstance(value, complex):
            raise FormulaError(
                f"negative number {base:g} raised to the fractional power {exponent:g} in {unparse(node)!r}"
            )
        return _finite(value, node)

    return power


def _compile_call(node: Call) -> Callable[[Mapping[str, float]], float]:
    args = [_compile(a) for a in node.args]
    func = node.func
    if func == "min":
        return lambda env: min(a(env) for a in args)
    if func == "max":
        return lambda env: max(a(env) for a in args)
    (arg,) = args
    if func == "abs":
        return lambda env: abs(arg(env))
    if func == "floor":
        return lambda env: float(math.floor(arg(env)))
    if func == "ceil":
        return lambda env: float(math.ceil(arg(env)))
    if func == "exp":

        def exp(env: Mapping[str, float]) -> float:
            try:
                return math.exp(arg(env))
            except OverflowError:
                raise FormulaError(f"overflow in {unparse(node)!r}") from None

        return exp
    if func == "sqrt":

        def sqrt(env: Mapping[str, float]) -> float:
            x = arg(env)
            if x < 0:
                raise FormulaError(f"square root of the negative number {x:g} in {unparse(node)!r}")
            return math.sqrt(x)

        return sqrt

    def log(env: Mapping[str, float]) -> float:
        x = arg(env)
        if x <= 0:
            raise FormulaError(f"logarithm of {x:g} (not positive) in {unparse(node)!r}")
        return math.log(x)

    return log


# ------------------------------------------------------------------------------------------------
# Writing a tree back as text (used to build formulas from Python arithmetic on graders)

_BINARY_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "^": 4}
_UNARY_PREC = 3
_ATOM_PREC = 5


def _prec(node: Node) -> int:
    if isinstance(node, Binary):
        return _BINARY_PREC[node.op]
    if isinstance(node, Unary) or (isinstance(node, Num) and math.copysign(1.0, node.value) < 0):
        return _UNARY_PREC  # a negative number is written with a sign
    return _ATOM_PREC


def _num_text(value: float) -> str:
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value)) if value != 0 or math.copysign(1.0, value) > 0 else "-0"
    return repr(value)


def unparse(node: Node, *, spaced: bool = True) -> str:
    """The formula text of ``node``, with only the parentheses the grammar needs.

    >>> unparse(Binary("*", Binary("+", Var("a"), Var("b")), Num(0.5)))
    '(a + b) * 0.5'
    >>> unparse(Binary("^", Unary("-", Num(2.0)), Num(2.0)))
    '(-2)^2'
    """
    if isinstance(node, Num):
        return _num_text(node.value)
    if isinstance(node, Var):
        return node.name
    if isinstance(node, Call):
        sep = ", " if spaced else ","
        return f"{node.func}({sep.join(unparse(a, spaced=spaced) for a in node.args)})"
    if isinstance(node, Unary):
        inner = unparse(node.operand, spaced=spaced)
        if _prec(node.operand) <= _UNARY_PREC:
            inner = f"({inner})"
        return node.op + inner
    prec = _BINARY_PREC[node.op]
    left = unparse(node.left, spaced=spaced)
    right = unparse(node.right, spaced=spaced)
    if node.op == "^":
        # The base is an atom; the exponent may carry a sign and chains to the right.
        wrap_left = _prec(node.left) <= prec
        wrap_right = _prec(node.right) < _UNARY_PREC
        sep = ""
    else:
        wrap_left = _prec(node.left) < prec
        wrap_right = _prec(node.right) <= prec  # keeps a - (b - c) and a + (b + c) as written
        sep = " " if spaced else ""
    if wrap_left:
        left = f"({left})"
    if wrap_right:
        right = f"({right})"
    return f"{left}{sep}{node.op}{sep}{right}"


def rename(node: Node, mapping: Mapping[str, str]) -> Node:
    """``node`` with its variables renamed by ``mapping`` (names not in it are kept)."""
    if isinstance(node, Var):
        return Var(mapping.get(node.name, node.name))
    if isinstance(node, Unary):
        return Unary(node.op, rename(node.operand, mapping))
    if isinstance(node, Binary):
        return Binary(node.op, rename(node.left, mapping), rename(node.right, mapping))
    if isinstance(node, Call):
        return Call(node.func, tuple(rename(a, mapping) for a in node.args))
    return node


# ------------------------------------------------------------------------------------------------
# Interval arithmetic: the range of a formula given the ranges of its variables


def bounds(node: Node, ranges: Mapping[str, tuple[float, float]]) -> tuple[float, float] | None:
    """The smallest and largest value ``node`` takes when each variable stays in its range.

    ``None`` when no finite bound follows (a division by a range that contains 0, say).

    >>> bounds(Binary("+", Binary("*", Num(0.2), Var("a")), Binary("*", Num(0.8), Var("b"))),
    ...        {"a": (0.0, 1.0), "b": (0.0, 1.0)})
    (0.0, 1.0)
    """
    try:
        result = _bounds(node, ranges)
    except (OverflowError, ZeroDivisionError, ValueError):
        return None
    if result is None or not (math.isfinite(result[0]) and math.isfinite(result[1])):
        return None
    return result


def _bounds(node: Node, ranges: Mapping[str, tuple[float, float]]) -> tuple[float, float] | None:
    if isinstance(node, Num):
        return node.value, node.value
    if isinstance(node, Var):
        lo, hi = ranges[node.name]
        return float(lo), float(hi)
    if isinstance(node, Unary):
        inner = _bounds(node.operand, ranges)
        if inner is None or node.op == "+":
            return inner
        return -inner[1], -inner[0]
    if isinstance(node, Binary):
        a, b = _bounds(node.left, ranges), _bounds(node.right, ranges)
        if a is None or b is None:
            return None
        if node.op == "+":
            return a[0] + b[0], a[1] + b[1]
        if node.op == "-":
            return a[0] - b[1], a[1] - b[0]
        if node.op == "*":
            return _span(x * y for x in a for y in b)
        if node.op == "/":
            if b[0] <= 0 <= b[1]:
                return None
            return _span(x / y for x in a for y in b)
        # Power: monotone in each argument only for a non-negative base and exponent.
        if a[0] < 0 or b[0] < 0 or (a[0] == 0 and b[0] <= 0):
            return None
        return _span(float(x**y) for x in a for y in b)
    args = [_bounds(arg, ranges) for arg in node.args]
    if any(arg is None for arg in args):
        return None
    if node.func == "min":
        return min(a[0] for a in args), min(a[1] for a in args)  # type: ignore[index]
    if node.func == "max":
        return max(a[0] for a in args), max(a[1] for a in args)  # type: ignore[index]
    lo, hi = args[0]  # type: ignore[misc]
    if node.func == "abs":
        if lo >= 0:
            return lo, hi
        if hi <= 0:
            return -hi, -lo
        return 0.0, max(-lo, hi)
    if node.func in ("floor", "ceil"):
        rounding = math.floor if node.func == "floor" else math.ceil
        return float(rounding(lo)), float(rounding(hi))
    if node.func == "exp":
        return math.exp(lo), math.exp(hi)
    if node.func == "sqrt":
        return (math.sqrt(lo), math.sqrt(hi)) if lo >= 0 else None
    return (math.log(lo), math.log(hi)) if lo > 0 else None


def _span(values: Iterable[float]) -> tuple[float, float]:
    values = list(values)
    if any(math.isnan(v) for v in values):
        raise ValueError("nan")
    return min(values), max(values)


# ------------------------------------------------------------------------------------------------
# The public object


class Formula:
    """A ``calculate_output`` formula, parsed and compiled once.

    ``names`` are the identifiers it may use (the ``multi`` grader's keys); ``None`` accepts any.
    Parse errors raise :class:`~rft.ConfigError` naming ``field``, the column, an excerpt with a
    caret, and the fix. :meth:`evaluate` raises :class:`FormulaError` when a row's values make the
    formula undefined (division by zero, ``log`` of a non-positive number, overflow).

    >>> Formula("max(a, b) - min(a, b)", names=["a", "b"]).evaluate({"a": 0.25, "b": 1})
    0.75
    >>> Formula("a / b", names=["a", "b"]).evaluate({"a": 1, "b": 0})
    Traceback (most recent call last):
      ...
    rft.graders._formula.FormulaError: division by zero in 'a / b'
    """

    __slots__ = ("_fn", "ast", "field", "names", "source", "variables")

    def __init__(self, source: Any, names: Iterable[str] | None = None, *, field: str = "calculate_output"):
        if not isinstance(source, str):
            raise ConfigError(
                f"expected a formula string such as '(a + b) / 2', got {type(source).__name__} {source!r}", field
            )
        if len(source) > MAX_FORMULA_CHARS:
            raise ConfigError(
                f"the formula has {len(source)} characters, over the limit of {MAX_FORMULA_CHARS}; simplify it", field
            )
        self.source = source
        self.field = field
        self.names = None if names is None else tuple(names)
        try:
            parser = _Parser(source, None if names is None else frozenset(self.names or ()))
            self.ast: Node = parser.parse()
        except _ParseError as exc:
            raise ConfigError(_located(exc.message, source, exc.pos), field) from None
        #: The names the formula uses, in order of first use.
        self.variables: tuple[str, ...] = tuple(parser.used)
        self._fn = _compile(self.ast)

    def evaluate(self, values: Mapping[str, float]) -> float:
        """The formula's value for one row; raises :class:`FormulaError` when it is undefined."""
        for name in self.variables:
            if name not in values:
                raise FormulaError(f"no value for {name!r}")
            value = values[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise FormulaError(f"{name} is {value!r}, not a finite number")
        try:
            return float(self._fn(values))
        except (OverflowError, ZeroDivisionError) as exc:  # belt and braces: every path checks already
            raise FormulaError(f"{exc} in {self.source!r}") from None

    def bounds(self, ranges: Mapping[str, tuple[float, float]]) -> tuple[float, float] | None:
        """The formula's range when each variable stays in ``ranges[name]`` (see :func:`bounds`)."""
        return bounds(self.ast, ranges)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Formula) and (self.source, self.names) == (other.source, other.names)

    def __hash__(self) -> int:
        return hash((self.source, self.names))

    def __repr__(self) -> str:
        return f"Formula({self.source!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.source, self.names, self.field))


def _rebuild(source: str, names: tuple[str, ...] | None, field: str) -> Formula:
    return Formula(source, names, field=field)


def _located(message: str, source: str, pos: int) -> str:
    """``message`` with the column and a one-line excerpt of ``source`` with a caret under ``pos``."""
    if not source.strip():
        return message
    flat = re.sub(r"\s", " ", source)  # one character for one, so the caret stays aligned
    start = max(0, pos - 40)
    end = min(len(flat), pos + 40)
    prefix = "..." if start > 0 else ""
    suffix = "..." if end < len(flat) else ""
    excerpt = prefix + flat[start:end] + suffix
    caret = " " * (len(prefix) + pos - start) + "^"
    return f"{message} (column {pos + 1})\n    {excerpt}\n    {caret}"
