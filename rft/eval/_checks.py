"""Checks before the slow part: does every row have a prompt and every field the graders read?

One field discovery and one row checker, used by :func:`rft.evaluate`, ``rft grade``,
``rft validate``, :func:`rft.tune` and :func:`rft.preflight`:

- :func:`grader_item_fields` answers "which ``item`` fields does this grader read?" by walking
  its compiled templates and sub-graders (a grader type may answer for itself with
  ``required_item_fields()``);
- :func:`row_problems` lists every (row, field) that is missing or malformed, and
  :func:`check_rows` raises one :class:`~rft.DataError` naming the first few;
- :func:`prompt_problem` is the one rule for a prompt: a non-empty string, or a non-empty list of
  ``{"role": str, "content": str | list}`` chat messages.

A grader file's declared ``examples`` are run by :func:`check_examples`.

>>> import rft
>>> g = rft.StringCheck(name="same", reference="{{item.answer}}")
>>> grader_item_fields(g)
[('answer',)]
>>> [p.message for p in row_problems([{"answer": "4"}, {"question": "2+2?"}], [g])]
["row 1: no field 'answer' (grader 'same' reads {{item.answer}})"]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from rft._errors import ConfigError, DataError
from rft._template import Template
from rft.graders._base import Grader

__all__ = [
    "RowProblem",
    "check_examples",
    "check_rows",
    "grader_item_fields",
    "prompt_problem",
    "row_problems",
]

#: Problems named in a DataError before the rest are only counted.
_SHOWN = 5


def grader_item_fields(grader: Grader) -> list[tuple[str, ...]]:
    """The ``item`` paths a grader's templates read (``("answer",)``, ``("meta", "level")``).

    Found by walking the grader's attributes for compiled :class:`~rft.Template` objects and
    sub-graders; a grader type may instead define ``required_item_fields() -> list[str]``
    (dotted paths, with or without ``item.``). Python graders' code is not read: the fields
    their functions use are not found.
    """
    found: list[tuple[str, ...]] = []
    seen: set[int] = set()

    def add(path: tuple[str, ...]) -> None:
        if path and path not in found:
            found.append(path)

    def visit(obj: Any, depth: int) -> None:
        if depth > 8 or id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, Template):
            for f in obj.fields:
                if f.startswith("item."):
                    add(tuple(f.split(".")[1:]))
        elif isinstance(obj, Grader):
            hook = getattr(obj, "required_item_fields", None)
            if callable(hook):
                for f in hook():
                    add(tuple(str(f).removeprefix("item.").split(".")))
                return
            for value in vars(obj).values():
                visit(value, depth + 1)
        elif isinstance(obj, Mapping):
            for value in obj.values():
                visit(value, depth + 1)
        elif isinstance(obj, (list, tuple)):
            for value in obj:
                visit(value, depth + 1)

    visit(grader, 0)
    return found


@dataclasses.dataclass(frozen=True)
class RowProblem:
    """Row ``row`` lacks ``field`` (``"item.answer"``, or the prompt field), or holds a bad one."""

    row: int = dataclasses.field(metadata={"help": "Row index in the data."})
    field: str = dataclasses.field(metadata={"help": "'item.<path>' for a grader field, else the prompt field."})
    message: str = dataclasses.field(metadata={"help": "What is wrong, naming the row and the field."})
    grader: str | None = dataclasses.field(default=None, metadata={"help": "The grader that reads the field."})

    def __str__(self) -> str:
        return self.message


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def prompt_problem(value: Any) -> str | None:
    """Why ``value`` is not a prompt, or None if it is one.

    >>> prompt_problem("2+2?") is None, prompt_problem([{"role": "user", "content": "hi"}]) is None
    (True, True)
    >>> prompt_problem("")
    'got an empty string'
    """
    if isinstance(value, str):
        return None if value else "got an empty string"
    if isinstance(value, list) and value:
        for k, m in enumerate(value):
            ok = (
                isinstance(m, Mapping)
                and isinstance(m.get("role"), str)
                and isinstance(m.get("content"), (str, list))  # a list: multimodal content parts
            )
            if not ok:
                return f"message {k} is not {{'role': str, 'content': str}}: {_short(m)}"
        return None
    if isinstance(value, list):
        return "got an empty message list"
    return f"got {type(value).__name__} {_short(value)}"


def _field_problem(row: Mapping[str, Any], path: tuple[str, ...], grader: str) -> str | None:
    """Why ``row`` has no value at ``path``, walked the way templates walk it (mappings by key,
    lists by index), or None."""
    reads = f"{{{{item.{'.'.join(path)}}}}}"
    value: Any = row
    for depth, key in enumerate(path):
        if isinstance(value, Mapping):
            if key not in value:
                where = "no field" if depth == 0 else f"field {'.'.join(path[:depth])!r} has no key"
                return f"{where} {key!r} (grader {grader!r} reads {reads})"
            value = value[key]
        elif isinstance(value, Sequence) and not isinstance(value, str) and key.lstrip("-").isdigit():
            if not -len(value) <= int(key) < len(value):
                return f"field {'.'.join(path[:depth])!r} has no item {key} (grader {grader!r} reads {reads})"
            value = value[int(key)]
        else:
            kind = type(value).__name__
            return f"field {'.'.join(path[:depth])!r} is {kind}, but grader {grader!r} reads {reads} from it"
    return None


def row_problems(
    rows: Sequence[Any],
    graders: Sequence[Any] = (),
    *,
    prompt_field: str | None = None,
    one_prompt_kind: bool = False,
) -> list[RowProblem]:
    """Every problem of every row: a missing or malformed prompt (when ``prompt_field`` is given)
    and every item field a grader reads that the row lacks. Objects in ``graders`` that are not
    :class:`~rft.Grader` (plain reward functions) read nothing that can be checked.

    ``one_prompt_kind=True`` (training) also refuses a mix of plain-text and chat prompts.
    """
    needs = [(g.name, path) for g in graders if isinstance(g, Grader) for path in grader_item_fields(g)]
    problems: list[RowProblem] = []
    kinds: dict[bool, int] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            problems.append(RowProblem(i, "", f"row {i}: is {type(row).__name__} {_short(row)}, expected a mapping"))
            continue
        if prompt_field is not None:
            expected = f"needs a {prompt_field!r} field (a non-empty string or a list of chat messages)"
            if prompt_field not in row:
                fields = ", ".join(map(str, row)) or "none"
                problems.append(RowProblem(
                    i, prompt_field,
                    f"row {i}: {expected} and has none (fields: {fields}); rename the column that holds the "
                    f"prompt to {prompt_field!r}",
                ))
            else:
                why = prompt_problem(row[prompt_field])
                if why is None:
                    kinds.setdefault(isinstance(row[prompt_field], str), i)
                elif why.startswith("message"):
                    problems.append(RowProblem(i, prompt_field, f"row {i}: field {prompt_field!r} {why}"))
                else:
                    problems.append(RowProblem(i, prompt_field, f"row {i}: {expected}, {why}"))
        for name, path in needs:
            why = _field_problem(row, path, name)
            if why is not None:
                problems.append(RowProblem(i, "item." + ".".join(path), f"row {i}: {why}", name))
    if one_prompt_kind and len(kinds) > 1:
        problems.append(RowProblem(
            kinds[False], prompt_field or "prompt",
            f"mix of plain-text and chat prompts (row {kinds[True]} is text, row {kinds[False]} is chat messages): "
            "use one kind for the whole dataset",
        ))
    return problems


def check_rows(
    rows: Sequence[Any],
    graders: Sequence[Any] = (),
    *,
    prompt_field: str | None = "prompt",
    one_prompt_kind: bool = False,
    source: str | None = None,
) -> None:
    """Raise :class:`~rft.DataError` if there are no rows, or any row lacks the prompt or a field
    a grader reads (see :func:`row_problems`).

    The message names the row index and the field of the first problems (up to five), how many
    rows are affected in all, and ``source`` (the data file) when given.

    >>> import rft
    >>> g = rft.StringCheck(name="m", reference="{{item.answer}}")
    >>> check_rows([{"prompt": "hi", "answer": "x"}, {"prompt": "hi"}], [g])
    Traceback (most recent call last):
    ...
    rft._errors.DataError: row 1: no field 'answer' (grader 'm' reads {{item.answer}}); 1 of 2 rows have problems
    """
    prefix = f"{source}: " if source else ""
    if not rows:
        raise DataError(f"{prefix}no rows: the data is empty; give at least one row")
    problems = row_problems(rows, graders, prompt_field=prompt_field, one_prompt_kind=one_prompt_kind)
    if problems:
        shown = [p.message for p in problems[:_SHOWN]]
        more = f" (+{len(problems) - _SHOWN} more problems)" if len(problems) > _SHOWN else ""
        bad_rows = len({p.row for p in problems})
        raise DataError(prefix + "; ".join(shown) + more + f"; {bad_rows} of {len(rows)} rows have problems")


_EXAMPLE_KEYS = frozenset({"sample", "item", "expected_score", "expected_passed", "note"})


def check_examples(grader: Grader, examples: Any) -> list[str]:
    """Run a grader file's ``examples`` and describe each one that does not grade as declared.

    Each example is ``{sample, item?, expected_score?, expected_passed?, note?}``:
    ``expected_score: null`` declares the sample unscored; scores compare within 1e-6. A
    malformed example list raises :class:`~rft.ConfigError` naming the example.

    >>> import rft
    >>> g = rft.load_grader({"type": "string_check", "name": "yes", "reference": "yes"})
    >>> examples = [{"sample": "yes", "expected_score": 1.0}, {"sample": "no", "expected_passed": True}]
    >>> for failure in check_examples(g, examples):
    ...     print(failure)
    examples.1: expected passed=True, got passed=False (score 0.0: fail: input 'no' eq reference 'yes')
    """
    if not isinstance(examples, list):
        raise ConfigError(f"expected a list of examples, got {type(examples).__name__}", "examples")
    failures: list[str] = []
    for i, ex in enumerate(examples):
        where = f"examples.{i}"
        if not isinstance(ex, Mapping) or "sample" not in ex:
            raise ConfigError("an example is a mapping with a 'sample' (and 'item', 'expected_score' ...)", where)
        unknown = set(ex) - _EXAMPLE_KEYS
        if unknown:
            raise ConfigError(f"unknown key(s) {sorted(unknown)}; use {sorted(_EXAMPLE_KEYS)}", where)
        if "expected_score" not in ex and "expected_passed" not in ex:
            raise ConfigError("declares neither expected_score nor expected_passed", where)
        item = ex.get("item") or {}
        if not isinstance(item, Mapping):
            raise ConfigError(f"item must be a mapping, got {type(item).__name__}", f"{where}.item")
        grade = grader.grade(ex["sample"], item)
        seen = f"score {grade.score!r}: {grade.reason}"
        if "expected_score" in ex:
            want = ex["expected_score"]
            if want is None:
                if grade.score is not None:
                    failures.append(f"{where}: expected unscored, got {seen}")
            elif grade.score is None or abs(grade.score - float(want)) > 1e-6:
                failures.append(f"{where}: expected score {want!r}, got {seen}")
        if "expected_passed" in ex and grade.passed != ex["expected_passed"]:
            failures.append(f"{where}: expected passed={ex['expected_passed']!r}, got passed={grade.passed!r} ({seen})")
    return failures
