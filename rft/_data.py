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

__all__ = ["align_outputs", "data_dir", "load_rows", "read_jsonl", "read_jsonl_values", "write_jsonl"]

_BOM = b"\xef\xbb\xbf"


def _parse_lines(path: Path, *, objects_only: bool, tolerate_torn_tail: bool) -> list[Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    lines = raw.split(b"\n")
    # The element after the last "\n" is b"" for a file that ends in a newline.
    torn_candidate = len(lines) if lines and lines[-1].strip() else None
    out: list[Any] = []
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
    return out


def read_jsonl(path: str | os.PathLike[str], *, tolerate_torn_tail: bool = False) -> list[dict[str, Any]]:
    """Read a JSONL file into a list of dicts.

    Raises :class:`~rft.DataError` naming ``file:line`` for a line that is not a JSON object.
    Blank lines are skipped. With ``tolerate_torn_tail=True`` a final line without a newline
    that does not parse (a write cut short) is dropped instead.
    """
    return _parse_lines(Path(path), objects_only=True, tolerate_torn_tail=tolerate_torn_tail)


def read_jsonl_values(path: str | os.PathLike[str], *, tolerate_torn_tail: bool = False) -> list[Any]:
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
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise DataError(f"{where}: row {i} is {type(row).__name__} {_short(row)}, expected a mapping (dict)")
        out.append(row if isinstance(row, dict) else dict(row))
    return out


def align_outputs(
    rows: Sequence[Mapping[str, Any]],
    outputs: Sequence[Any],
    *,
    field: str = "output",
    id_field: str = "id",
    source: str = "outputs",
) -> tuple[list[Any], list[Mapping[str, Any]], list[Any]]:
    """Pair model outputs with dataset rows; return ``(samples, items, ids)``, one entry per output.

    Each output is a string, or an object holding the output under ``field`` (a string, a chat
    message list, or a sample dict such as ``{"output_text": ...}``). Pairing:

    - when every output object and every row carries ``id_field``, outputs join rows by id
      (several outputs may share one id: several samples per prompt; an id the rows lack is an
      error);
    - otherwise output line *i* belongs to row *i*, and the counts must match.

    >>> align_outputs([{"id": "a", "answer": "4"}], [{"id": "a", "output": "4"}])
    (['4'], [{'id': 'a', 'answer': '4'}], ['a'])
    """
    samples: list[Any] = []
    out_ids: list[Any] = []
    for i, value in enumerate(outputs):
        if isinstance(value, str):
            samples.append(value)
            out_ids.append(None)
            continue
        if not isinstance(value, Mapping):
            raise DataError(f"{source}: output {i} is {type(value).__name__} {_short(value)}; expected a string or object")
        if field not in value:
            raise DataError(
                f"{source}: output {i} has no field {field!r} (fields: {', '.join(map(str, value)) or 'none'}); "
                "pass --output-field to name the field that holds the output text"
            )
        samples.append(value[field])
        out_ids.append(value.get(id_field))
    by_id = outputs and all(i is not None for i in out_ids) and rows and all(id_field in r for r in rows)
    if by_id:
        index: dict[Any, int] = {}
        for r, row in enumerate(rows):
            key = _key(row[id_field])
            if key in index:
                raise DataError(f"rows {index[key]} and {r} share {id_field} {row[id_field]!r}; ids must be unique")
            index[key] = r
        items = []
        for i, oid in enumerate(out_ids):
            r = index.get(_key(oid))
            if r is None:
                raise DataError(f"{source}: output {i} has {id_field} {oid!r}, which no dataset row has")
            items.append(rows[r])
        return samples, items, out_ids
    if len(samples) != len(rows):
        raise DataError(
            f"{source}: {len(samples)} outputs for {len(rows)} dataset rows; outputs pair with rows line by line "
            f"unless both carry an {id_field!r} field"
        )
    ids = [row.get(id_field, i) for i, row in enumerate(rows)]
    return samples, list(rows), ids


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
