"""OpenAI-style templates (``{{item.field}}``, ``{{sample.output_text}}``), compiled once.

A template is parsed into literal text and *accessors* when the grader is built; rendering a batch
then costs a list lookup per placeholder. Rendering is one pass: text substituted in is never
scanned again, so a completion that contains ``{{item.answer}}`` is shown literally.

Two namespaces exist. ``item`` is the dataset row: a missing field there means the grader cannot
judge this row (unscored). ``sample`` is the model output: ``sample.output_text``,
``sample.output_json.<path>`` (the output parsed as strict JSON; a missing path renders as empty,
since the *model* failed to produce it), ``sample.output_tools`` and ``sample.choices``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from rft._errors import ConfigError, GraderError
from rft._grade import Grade
from rft._sample import Sample, to_sample

__all__ = ["MISSING", "Batch", "Template"]

# Any "{{ item.… }}" / "{{ sample.… }}" opening is ours and must be a valid placeholder; other
# "{{" (JSON examples in a prompt, say) stay literal text.
_OURS = re.compile(r"\{\{\s*(?:item|sample)\b")
_PLACEHOLDER = re.compile(r"\{\{\s*((?:item|sample)(?:\.[A-Za-z0-9_\-]+)*)\s*\}\}")
_SAMPLE_FIELDS = ("output_text", "output_json", "output_tools", "choices")


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


#: Rendered in place of a value the row does not have.
MISSING: Any = _Missing()


class Batch:
    """A batch of samples and their dataset rows, as graders see it.

    Items arrive either as rows (``list`` of dicts, the evaluation path) or as columns (a dict of
    equal-length lists, the way TRL passes dataset columns); templates read either without
    building per-row dicts. Rows that a grader cannot judge collect in ``unscored``; rows the
    policy lost before any check (an over-long output) collect in ``fixed``.
    """

    __slots__ = ("_samples", "columns", "fixed", "n", "rows", "texts", "unscored")

    def __init__(
        self,
        texts: list[str],
        *,
        samples: list[Sample] | None = None,
        rows: Sequence[Mapping[str, Any]] | None = None,
        columns: Mapping[str, Sequence[Any]] | None = None,
    ):
        self.texts = texts
        self.n = len(texts)
        self._samples = samples
        self.rows = rows
        self.columns = columns
        self.unscored: dict[int, Grade] = {}
        self.fixed: dict[int, Grade] = {}

    @classmethod
    def of(cls, samples: Sequence[Any], items: Sequence[Mapping[str, Any] | None] | None = None) -> Batch:
        """A batch from samples in any accepted shape and optional rows (``None`` = empty row)."""
        rows: list[Mapping[str, Any]] | None = None
        if items is not None:
            if len(items) != len(samples):
                raise GraderError(f"got {len(samples)} samples but {len(items)} items; pass one item per sample")
            rows = [item if item is not None else {} for item in items]
        if set(map(type, samples)) == {str}:  # plain completions: Sample objects are made on demand
            return cls(list(samples), rows=rows)
        converted = [to_sample(s) for s in samples]
        return cls([s.output_text for s in converted], samples=converted, rows=rows)

    def sample(self, i: int) -> Sample:
        if self._samples is None:
            self._samples = [None] * self.n  # type: ignore[list-item]
        sample = self._samples[i]
        if sample is None:
            sample = self._samples[i] = Sample(self.texts[i])
        return sample

    def view(self) -> Batch:
        """The same rows and samples with marks of its own (composites give one to each child).

        A child marks rows it cannot judge or lost on the batch it is given; with its own view
        those marks stay that child's verdict. Parsed samples (``output_json``) are shared, so each
        output is parsed once.
        """
        if self._samples is None:
            self._samples = [None] * self.n  # type: ignore[list-item]  # filled lazily, shared
        return Batch(self.texts, samples=self._samples, rows=self.rows, columns=self.columns)

    def subset(self, indices: Sequence[int]) -> Batch:
        """A batch of the rows at ``indices`` (used to isolate a failing row)."""
        sub = Batch(
            [self.texts[i] for i in indices],
            samples=[self.sample(i) for i in indices],
            rows=[self.rows[i] for i in indices] if self.rows is not None else None,
            columns={k: [v[i] for i in indices] for k, v in self.columns.items()} if self.columns is not None else None,
        )
        return sub

    def item(self, i: int) -> Mapping[str, Any]:
        """Row ``i`` as a mapping (built on demand when items came as columns)."""
        if self.rows is not None:
            return self.rows[i]
        if self.columns is not None:
            return {k: v[i] for k, v in self.columns.items()}
        return {}

    def item_column(self, key: str) -> list[Any]:
        """The values of item field ``key`` for every row; ``MISSING`` where a row lacks it."""
        if self.columns is not None:
            col = self.columns.get(key)
            if col is not None:
                return col if isinstance(col, list) else list(col)
            return [MISSING] * self.n
        if self.rows is not None:
            return [row.get(key, MISSING) if isinstance(row, Mapping) else MISSING for row in self.rows]
        return [MISSING] * self.n

    def mark_unscored(self, i: int, grade: Grade) -> None:
        self.unscored.setdefault(i, grade)


def _walk(value: Any, path: Sequence[str]) -> Any:
    for key in path:
        if isinstance(value, Mapping):
            value = value.get(key, MISSING)
        elif isinstance(value, Sequence) and not isinstance(value, str) and key.lstrip("-").isdigit():
            index = int(key)
            value = value[index] if -len(value) <= index < len(value) else MISSING
        else:
            return MISSING
        if value is MISSING:
            return MISSING
    return value


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or value is MISSING:
        return ""
    return json.dumps(value, ensure_ascii=False)


class _Accessor:
    __slots__ = ("namespace", "path", "text")

    def __init__(self, text: str):
        parts = text.split(".")
        self.text = text
        self.namespace = parts[0]
        self.path = tuple(parts[1:])

    def column(self, batch: Batch) -> tuple[list[Any], list[int]]:
        """The values for every row, and the indices of rows lacking an ``item`` field."""
        if self.namespace == "item":
            col = batch.item_column(self.path[0])
            if len(self.path) > 1:
                col = [_walk(v, self.path[1:]) if v is not MISSING else MISSING for v in col]
            elif batch.columns is not None and self.path[0] in batch.columns:
                return col, []  # a dataset column has a value in every row
            return col, [i for i, v in enumerate(col) if v is MISSING]
        field = self.path[0]
        if field == "output_text":
            return batch.texts, []
        if field == "output_json":
            values = []
            for i in range(batch.n):
                value = batch.sample(i).output_json
                value = _walk(value, self.path[1:]) if value is not None else MISSING
                values.append("" if value is MISSING else value)
            return values, []
        return [getattr(batch.sample(i), field) for i in range(batch.n)], []


def _as_texts(col: list[Any]) -> list[str]:
    try:
        "".join(col)  # a C-speed check that every value is already a string
        return col
    except TypeError:
        pass
    return [v if type(v) is str else _to_text(v) for v in col]


class Template:
    """A compiled template.

    >>> t = Template("Q: {{ item.question }} A: {{sample.output_text}}")
    >>> t.fields
    ('item.question', 'sample.output_text')
    >>> t.render_one("4", {"question": "2+2?"})
    'Q: 2+2? A: 4'
    """

    __slots__ = ("_format", "_parts", "fields", "source")

    def __init__(self, source: Any, *, field: str = "template"):
        if not isinstance(source, str):
            raise ConfigError(f"expected a template string, got {type(source).__name__} {source!r}", field)
        self.source = source
        parts: list[str | _Accessor] = []
        pos = 0
        for opening in _OURS.finditer(source):
            if opening.start() < pos:
                continue
            match = _PLACEHOLDER.match(source, opening.start())
            if match is None:
                snippet = source[opening.start() : opening.start() + 40]
                raise ConfigError(
                    f"malformed placeholder {snippet!r}; write {{{{item.<field>}}}} or {{{{sample.output_text}}}}",
                    field,
                )
            accessor = _Accessor(match.group(1))
            if len(accessor.path) == 0:
                raise ConfigError(f"placeholder {{{{{accessor.text}}}}} names no field", field)
            if accessor.namespace == "sample" and accessor.path[0] not in _SAMPLE_FIELDS:
                raise ConfigError(
                    f"unknown sample field {accessor.path[0]!r} in {{{{{accessor.text}}}}}; "
                    f"sample has {', '.join(_SAMPLE_FIELDS)}",
                    field,
                )
            if accessor.namespace == "sample" and accessor.path[0] != "output_json" and len(accessor.path) > 1:
                raise ConfigError(f"{{{{{accessor.text}}}}}: only sample.output_json has sub-fields", field)
            if match.start() > pos:
                parts.append(source[pos : match.start()])
            parts.append(accessor)
            pos = match.end()
        if pos < len(source) or not parts:
            parts.append(source[pos:])
        self._parts = tuple(parts)
        self._format = "".join(p.replace("%", "%%") if isinstance(p, str) else "%s" for p in parts)
        self.fields = tuple(p.text for p in parts if isinstance(p, _Accessor))

    @property
    def item_fields(self) -> tuple[str, ...]:
        """The top-level item fields this template reads."""
        return tuple(f.split(".")[1] for f in self.fields if f.startswith("item."))

    @property
    def is_constant(self) -> bool:
        return not self.fields

    def render(self, batch: Batch, *, text: bool = False) -> list[Any]:
        """Render for every row of ``batch``.

        A template that is one placeholder yields the raw values (a schema dict stays a dict)
        unless ``text=True``; otherwise strings. Rows missing an item field are marked unscored on
        the batch and render as ``MISSING``/empty.
        """
        parts = self._parts
        if len(parts) == 1 and isinstance(parts[0], str):
            return [parts[0]] * batch.n
        columns = []
        for part in parts:
            if isinstance(part, str):
                continue
            values, missing = part.column(batch)
            for i in missing:
                batch.mark_unscored(
                    i,
                    Grade.unscored_because(
                        f"row has no field {part.text} (needed by template {self.source!r})",
                        error="missing_field",
                        field=part.text,
                    ),
                )
            columns.append(values)
        if len(parts) == 1:
            return _as_texts(columns[0]) if text and columns[0] is not batch.texts else columns[0]
        # Literal text and values joined by one %-format per row: the values are substituted
        # once and never scanned again. (batch.texts are strings already.)
        texts = [c if c is batch.texts else _as_texts(c) for c in columns]
        if len(texts) == 1:
            return [self._format % v for v in texts[0]]
        return [self._format % row for row in zip(*texts)]

    def render_one(self, sample: Any, item: Mapping[str, Any] | None = None) -> Any:
        """Render for a single sample and row; raises ``KeyError`` if the row lacks a field."""
        batch = Batch.of([sample], [item or {}])
        value = self.render(batch)[0]
        if batch.unscored:
            raise KeyError(batch.unscored[0].details.get("field"))
        return value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Template) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)

    def __repr__(self) -> str:
        return f"Template({self.source!r})"
