"""``rft graders`` (the catalogue) and ``rft validate`` (check a grader, and data against it)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from rft._catalogue import catalogue_entry, catalogue_path, list_catalogue, read_config_file
from rft._data import load_rows
from rft._errors import ConfigError
from rft.eval._checks import check_examples, check_rows, grader_item_fields, row_problems
from rft.graders._registry import load_grader

__all__ = ["register", "run_graders", "run_validate"]

#: Problems printed before the rest are only counted.
_MAX_LISTED = 20


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "graders",
        help="list the catalogue of ready-made graders, or show one",
        description="Without NAME: every catalogue grader with its description. With NAME: its file.",
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="catalogue grader to show")
    p.add_argument("--names", action="store_true", help="print the names only, one per line")
    p.set_defaults(func=run_graders)

    v = subparsers.add_parser(
        "validate",
        help="check a grader config (and that dataset rows have every field it reads)",
        description=(
            "Build the grader (config errors name the field), run the examples its file declares, "
            "and with --data check that every row has every item field the grader's templates read. "
            "Exit 0 if all is well, 2 otherwise."
        ),
    )
    v.add_argument("grader", metavar="NAME|FILE", help="catalogue name or YAML/JSON grader file")
    v.add_argument("--data", "-d", metavar="ROWS.jsonl", help="dataset rows to check against the grader")
    v.add_argument("--trust-code", action="store_true", help="allow graders that run Python source from their config")
    v.set_defaults(func=run_validate)


def _summary_line(description: Any) -> str:
    text = " ".join(str(description or "").split())
    return text.split(". ")[0].rstrip(".") if text else "(no description)"


def run_graders(args: argparse.Namespace) -> int:
    if args.name:
        path = catalogue_path(args.name)
        if path is None:
            catalogue_entry(args.name)  # raises the ConfigError that lists the catalogue
        assert path is not None
        print(f"# {path}")
        print(path.read_text(encoding="utf-8").rstrip())
        return 0
    names = list_catalogue()
    if args.names:
        for name in names:
            print(name)
        return 0
    entries = [(name, catalogue_entry(name)) for name in names]
    width = max((len(n) for n in names), default=0)
    for name, entry in entries:
        kind = entry.get("type", "?")
        print(f"{name.ljust(width)}  {kind:<16}  {_summary_line(entry.get('description'))}")
    print(f"\n{len(names)} graders; `rft graders NAME` shows one, `rft grade --grader NAME ...` uses it.")
    return 0


def _raw_config(spec: str) -> Any:
    """The grader file behind ``spec`` (for its examples), or None for an unknown spec."""
    path = Path(spec)
    if not path.is_file():
        if os.sep in spec or path.suffix in (".yaml", ".yml", ".json"):
            return None
        found = catalogue_path(spec)
        if found is None:
            return None
        path = found
    return read_config_file(path)


def run_validate(args: argparse.Namespace) -> int:
    grader = load_grader(args.grader, trust_code=args.trust_code)
    fields = ["item." + ".".join(path) for path in grader_item_fields(grader)]
    print(f"grader {grader.name!r} (type {grader.type}) builds")
    print(f"  reads item fields: {', '.join(fields) if fields else 'none'}")
    problems: list[str] = []

    raw = _raw_config(args.grader)
    examples = raw.get("examples") if isinstance(raw, dict) else None
    if examples is not None:
        try:
            failures = check_examples(grader, examples)
        except ConfigError as exc:
            raise exc.in_source(args.grader) from None
        problems += failures
        print(f"  examples: {len(examples) - len(failures)}/{len(examples)} grade as declared")

    if args.data:
        rows = load_rows(args.data)
        check_rows(rows, (), prompt_field=None, source=args.data)  # an empty file is an error, as in grade and eval
        # The rows checker of rft grade and rft eval; here every problem is listed, grouped by field.
        missing = row_problems(rows, [grader])
        bad_rows = len({p.row for p in missing})
        print(f"  data: {len(rows)} rows, {len(rows) - bad_rows} with every field")
        by_field: dict[str, list[int]] = {}
        for p in missing:
            by_field.setdefault(p.field, []).append(p.row)
        for field, rows_missing in by_field.items():
            shown = ", ".join(map(str, rows_missing[:_MAX_LISTED]))
            more = f", ... ({len(rows_missing) - _MAX_LISTED} more)" if len(rows_missing) > _MAX_LISTED else ""
            problems.append(
                f"{args.data}: {len(rows_missing)} of {len(rows)} rows lack {field} "
                f"(read by grader {grader.name}); rows {shown}{more}"
            )

    if problems:
        for line in problems[:_MAX_LISTED]:
            print(f"rft validate: {line}", file=sys.stderr)
        if len(problems) > _MAX_LISTED:
            print(f"rft validate: ... and {len(problems) - _MAX_LISTED} more problems", file=sys.stderr)
        return 2
    print("ok")
    return 0
