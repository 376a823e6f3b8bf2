"""Dataset rows in and out: JSONL files, lists of dicts, ``datasets.Dataset``.

A JSONL file holds one JSON object per line. Reading is strict about what matters and lenient
about what does not: blank lines are skipped, a UTF-8 byte-order mark is ignored, and anything
else that is not a JSON object is a :class:`~rft.DataError` that names the file, the line
number and the JSON error, so the line can be found and fixed.

A file that a crashed run was appending to may end in half a line; ``tolerate_torn_tail=True``
drops a final line that fails to parse *and* has no newline (a complete line that fails is
corruption, never tolerated).

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "rows.jsonl")
>>> write_jsonl(path, [{"question": "2+2?", "answer": "4"}])
>>> read_jsonl(path)
[{'question': '2+2?', 'answer': '4'}]
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rft._errors import DataError

__all__ = [
    "JsonlList",
    "align_outputs",
    "data_dir",
    "load_rows",
    "pair_outputs",
    "read_jsonl",
    "read_jsonl_values",
    "write_jsonl",
]

_BOM = b"\xef\xbb\xbf"


class JsonlList(list):  # type: ignore[type-arg]
    """The values of a JSONL file (a plain list) that also remembers the line each came from, so
    that later errors can name ``file:line`` even when blank lines were skipped."""

    def __init__(self, values: Iterable[Any] = (), line_numbers: Sequence[int] = ()):
        super().__init__(values)
        self.line_numbers = list(line_numbers)


def _parse_lines(path: Path, *, objects_only: bool, tolerate_torn_tail: bool) -> JsonlList:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    raw = raw.removeprefix(_BOM)
    lines = raw.split(b"\n")
    # The element after the last "\n" is b"" for a file that ends in a newline.
    torn_candidate = len(lines) if lines and lines[-1].strip() else None
    out = JsonlList()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError as exc:
            if tolerate_torn_tail and lineno == torn_candidate:
                break
            raise DataError(f"{path}:{lineno}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except json.JSONDecodeError as exc:
            if tolerate_torn_tail and lineno == torn_candidate:
                break
            raise DataError(
                f"{path}:{lineno}: not valid JSON: {exc.msg} (column {exc.colno}); "
                "each line must be one complete JSON object"
            ) from None
        if objects_only and not isinstance(value, dict):
            raise DataError(
                f"{path}:{lineno}: expected a JSON object per line, got {type(value).__name__} {_short(value)}"
            )
        out.append(value)
        out.line_numbers.append(lineno)
    return out


def read_jsonl(path: str | os.PathLike[str], *, tolerate_torn_tail: bool = False) -> JsonlList:
    """Read a JSONL file into a list of dicts (a :class:`JsonlList`: it knows each row's line).

    Raises :class:`~rft.DataError` naming ``file:line`` for a line that is not a JSON object.
    Blank lines are skipped. With ``tolerate_torn_tail=True`` a final line without a newline
    that does not parse (a write cut short) is dropped instead.
    """
    return _parse_lines(Path(path), objects_only=True, tolerate_torn_tail=tolerate_torn_tail)


def read_jsonl_values(path: str | os.PathLike[str], *, tolerate_torn_tail: bool = False) -> JsonlList:
    """Like :func:`read_jsonl` but any JSON value is accepted per line (outputs files may hold strings)."""
    return _parse_lines(Path(path), objects_only=False, tolerate_torn_tail=tolerate_torn_tail)


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[Any], *, append: bool = False) -> None:
    """Write ``rows`` one JSON value per line (UTF-8, non-ASCII kept as is).

    NaN and infinities have no JSON spelling and are refused with a ``DataError`` naming the row
    (``Grade.to_dict`` already writes them as strings). Missing parent folders are created;
    ``append=True`` adds to an existing file.
    """
    path = Path(path)
    lines = []
    for i, row in enumerate(rows):
        try:
            lines.append(json.dumps(row, ensure_ascii=False, allow_nan=False))
        except ValueError as exc:
            raise DataError(f"row {i} cannot be written as JSON: {exc}") from None
        except TypeError as exc:
            raise DataError(f"row {i} cannot be written as JSON: {exc}; convert it to plain types first") from None
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a" if append else "w", encoding="utf-8") as f:
        for line in lines:
            f.write(line)
            f.write("\n")


def load_rows(data: Any) -> list[dict[str, Any]]:
    """Dataset rows as a list of dicts, from any of the shapes rft accepts.

    ``data`` may be a path to a ``.jsonl`` file (or a ``.json`` file holding a list of objects),
    a list of dicts, a ``datasets.Dataset``, or a pandas ``DataFrame``. ``datasets`` and pandas
    are never imported here: objects are recognised by their methods.

    >>> load_rows([{"answer": "4"}])
    [{'answer': '4'}]
    """
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if path.suffix == ".json":
            try:
                value = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise DataError(f"{path}: no such file") from None
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg} (column {exc.colno})") from None
            if not isinstance(value, list):
                raise DataError(f"{path}: a .json dataset must hold a list of objects, got {type(value).__name__}")
            return _check_rows(value, str(path))
        return read_jsonl(path)
    if _is_dataset_dict(data):
        raise DataError(
            f"got a DatasetDict with splits {sorted(data.keys())}; pass one split, e.g. data['train']"
        )
    if hasattr(data, "to_dict") and hasattr(data, "columns") and hasattr(data, "iloc"):  # pandas DataFrame
        return _check_rows(data.to_dict(orient="records"), "DataFrame")
    if hasattr(data, "features") and hasattr(data, "column_names"):  # datasets.Dataset
        return [dict(row) for row in data]
    if isinstance(data, Mapping):
        raise DataError("got a single mapping; pass a list of rows (dicts), a JSONL path, or a Dataset")
    if isinstance(data, Iterable) and not isinstance(data, (bytes, bytearray)):
        return _check_rows(list(data), "rows")
    raise DataError(f"cannot read rows from {type(data).__name__}; pass a JSONL path, a list of dicts or a Dataset")


def _is_dataset_dict(data: Any) -> bool:
    return type(data).__name__ in ("DatasetDict", "IterableDatasetDict") and isinstance(data, Mapping)


def _check_rows(rows: Sequence[Any], where: str) -> list[dict[str, Any]]:
    out = JsonlList(line_numbers=getattr(rows, "line_numbers", ()))
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise DataError(f"{where}: row {i} is {type(row).__name__} {_short(row)}, expected a mapping (dict)")
        out.append(row if isinstance(row, dict) else dict(row))
    return out


def _where(source: str, values: Sequence[Any], i: int, noun: str) -> str:
    """``file:line: output 3`` when the values came from a file, else ``source: output 3``."""
    lines = getattr(values, "line_numbers", None)
    if lines and i < len(lines):
        return f"{source}:{lines[i]}: {noun} {i}"
    return f"{source}: {noun} {i}"


def pair_outputs(
    rows: Sequence[Mapping[str, Any]],
    outputs: Sequence[Any],
    *,
    field: str = "output",
    id_field: str = "id",
    source: str = "outputs",
    rows_source: str = "rows",
    unknown_ids: str = "error",
) -> list[tuple[int, int, Any]]:
    """Pair model outputs with dataset rows: ``(output index, row index, sample)`` per output.

    Each output is a string, or an object holding the output under ``field`` (a string, a chat
    message list, or a sample dict such as ``{"output_text": ...}``). The pairing never guesses:

    - when the outputs carry ``id_field``, they join rows by id: every output and every row must
      have one (several outputs may share an id: several samples per row), row ids are unique,
      and every row gets at least one output. An output whose id no row has is an error, or is
      skipped with ``unknown_ids="ignore"`` (a file covering more rows than are graded);
    - when no output carries an id, output *i* belongs to row *i* and the counts must match.

    A :class:`~rft.DataError` names the offending output or row (``file:line`` for values read by
    :func:`read_jsonl_values`) and the fix.
    """
    if unknown_ids not in ("error", "ignore"):
        raise ValueError(f"unknown_ids must be 'error' or 'ignore', got {unknown_ids!r}")
    if not rows:
        raise DataError(f"{rows_source}: no dataset rows to pair {source} with")
    samples, out_ids = _output_values(outputs, field=field, id_field=id_field, source=source)
    with_id = sum(oid is not None for oid in out_ids)
    if 0 < with_id < len(out_ids):
        first = next(i for i, oid in enumerate(out_ids) if oid is None)
        raise DataError(
            f"{_where(source, outputs, first, 'output')} has no {id_field!r}, but {with_id} of {len(out_ids)} "
            f"outputs have one; give every output an {id_field!r} (they then join rows by id) or none "
            "(output i then goes with row i)"
        )
    if not with_id:
        if len(samples) != len(rows):
            raise DataError(
                f"{source}: {len(samples)} outputs for {len(rows)} dataset rows; outputs pair with rows line by "
                f"line unless both carry an {id_field!r} field"
            )
        return [(i, i, sample) for i, sample in enumerate(samples)]
    return _join_by_id(rows, outputs, samples, out_ids, id_field=id_field, source=source, rows_source=rows_source,
                       unknown_ids=unknown_ids)


def _output_values(outputs: Sequence[Any], *, field: str, id_field: str, source: str) -> tuple[list[Any], list[Any]]:
    """Each output's sample and id (None when it has none)."""
    samples: list[Any] = []
    out_ids: list[Any] = []
    for i, value in enumerate(outputs):
        if isinstance(value, str):
            samples.append(value)
            out_ids.append(None)
            continue
        if not isinstance(value, Mapping):
            raise DataError(
                f"{_where(source, outputs, i, 'output')} is {type(value).__name__} {_short(value)}; "
                "expected a string or object"
            )
        if field not in value:
            raise DataError(
                f"{_where(source, outputs, i, 'output')} has no field {field!r} "
                f"(fields: {', '.join(map(str, value)) or 'none'}); "
                "pass --output-field to name the field that holds the output text"
            )
        samples.append(value[field])
        out_ids.append(value.get(id_field))
    return samples, out_ids


def _join_by_id(
    rows: Sequence[Mapping[str, Any]],
    outputs: Sequence[Any],
    samples: list[Any],
    out_ids: list[Any],
    *,
    id_field: str,
    source: str,
    rows_source: str,
    unknown_ids: str,
) -> list[tuple[int, int, Any]]:
    index: dict[Any, int] = {}
    missing = [r for r, row in enumerate(rows) if row.get(id_field) is None]
    if len(missing) == len(rows):
        raise DataError(
            f"the outputs in {source} carry {id_field!r} but the rows have none; add an {id_field!r} to every "
            f"row, or remove it from every output to pair output i with row i"
        )
    if missing:
        raise DataError(
            f"{_where(rows_source, rows, missing[0], 'row')} has no {id_field!r}, but the outputs join rows by "
            f"{id_field!r} ({len(missing)} of {len(rows)} rows lack one); give every row an {id_field!r}"
        )
    for r, row in enumerate(rows):
        key = _key(row[id_field])
        if key in index:
            raise DataError(f"rows {index[key]} and {r} share {id_field} {row[id_field]!r}; ids must be unique")
        index[key] = r
    pairs: list[tuple[int, int, Any]] = []
    for i, oid in enumerate(out_ids):
        found = index.get(_key(oid))
        if found is None:
            if unknown_ids == "ignore":
                continue
            raise DataError(f"{_where(source, outputs, i, 'output')} has {id_field} {oid!r}, which no dataset row has")
        pairs.append((i, found, samples[i]))
    covered = {r for _, r, _ in pairs}
    bare = [r for r in range(len(rows)) if r not in covered]
    if bare:
        r = bare[0]
        raise DataError(
            f"row {r} ({id_field} {rows[r][id_field]!r}) has no output in {source} ({len(bare)} of {len(rows)} "
            "dataset rows have none); add their outputs, or grade only the rows that have one"
        )
    return pairs


def align_outputs(
    rows: Sequence[Mapping[str, Any]],
    outputs: Sequence[Any],
    *,
    field: str = "output",
    id_field: str = "id",
    source: str = "outputs",
    rows_source: str = "rows",
) -> tuple[list[Any], list[Mapping[str, Any]], list[Any]]:
    """Pair model outputs with dataset rows; return ``(samples, items, ids)``, one entry per output
    in the outputs' order. The rules are those of :func:`pair_outputs`.

    >>> align_outputs([{"id": "a", "answer": "4"}], [{"id": "a", "output": "4"}])
    (['4'], [{'id': 'a', 'answer': '4'}], ['a'])
    >>> align_outputs([{"answer": "4"}, {"answer": "5"}], ["4", "6"])[2]
    [0, 1]
    """
    pairs = pair_outputs(rows, outputs, field=field, id_field=id_field, source=source, rows_source=rows_source)
    samples = [sample for _, _, sample in pairs]
    items = [rows[r] for _, r, _ in pairs]
    ids = [rows[r].get(id_field, r) for _, r, _ in pairs]
    return samples, items, ids


def _key(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value


def data_dir() -> Path:
    """The folder of rft's example datasets (``data/`` of a source checkout).

    ``RFT_DATA_PATH`` overrides it; a wheel ships the files as ``rft/_data_files``.
    """
    env = os.environ.get("RFT_DATA_PATH")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here / "_data_files", here.parent / "data"):
        if candidate.is_dir():
            return candidate
    raise DataError("rft's example data folder was not found; set RFT_DATA_PATH to a copy of the repository's data/")


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
