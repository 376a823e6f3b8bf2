"""``rft grade``: grade model outputs saved in a file against their dataset rows.

::

    rft grade --grader gsm8k_answer --data rows.jsonl --outputs outputs.jsonl \\
              [--output-field output] [--out results.jsonl] [--min-pass-rate 0.8]

The outputs file has one line per model output: a JSON string, or an object with the output
under ``--output-field`` (default ``output``; its value may be text, a chat message list or a
``{"output_text": ...}`` sample). When every output object and every data row has an ``id``
field, outputs join rows by id (several outputs per row are fine); otherwise line *i* of the
outputs goes with row *i*. Without ``--outputs``, the data rows themselves carry the outputs.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["register", "run"]

_DESCRIPTION = """\
Grade saved model outputs against their dataset rows and print, per grader: n, mean score,
pass rate (both over scored samples) and unscored samples by kind.

The outputs file has one line per output: a JSON string, or an object holding the output under
--output-field (text, a chat message list or {"output_text": ...}). When every output and every
row has an "id" field, outputs join rows by id (several outputs per row are fine); otherwise
output line i goes with row i. Without --outputs the data rows carry the outputs themselves.

exit status: 0 done; 1 a --min-score/--min-pass-rate threshold was not met; 2 usage, config or
data error."""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "grade",
        help="grade saved model outputs with one or more graders and print a summary",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--grader", "-g", action="append", required=True, metavar="NAME|FILE",
        help="catalogue name (see `rft graders`) or YAML/JSON grader file; repeat for several graders",
    )
    p.add_argument("--data", "-d", required=True, metavar="ROWS.jsonl", help="dataset rows (JSONL, one object per line)")
    p.add_argument(
        "--outputs", "-o", metavar="OUTPUTS.jsonl",
        help="model outputs (JSONL); default: the data rows carry them under --output-field",
    )
    p.add_argument("--output-field", default="output", help="field of an output row holding the output (default: output)")
    p.add_argument("--id-field", default="id", help="field that joins outputs to rows when both have it (default: id)")
    p.add_argument("--out", metavar="RESULTS.jsonl", help="write one line per output with every grader's Grade")
    p.add_argument("--trust-code", action="store_true", help="allow graders that run Python source from their config")
    p.add_argument("--batch-size", type=_positive_int, default=64, help="outputs graded per call (default: 64)")
    p.add_argument("--min-score", type=float, metavar="X", help="exit 1 if any grader's mean score is below X")
    p.add_argument("--min-pass-rate", type=_fraction, metavar="X", help="exit 1 if any grader's pass rate is below X (0..1)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON instead of a table")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a pass rate is between 0 and 1, got {value:g} (write 0.8, not 80)")
    return value


def run(args: argparse.Namespace) -> int:
    from rft._data import align_outputs, load_rows, read_jsonl_values, write_jsonl
    from rft._errors import ConfigError
    from rft._summary import check_thresholds, format_table, grade_all, summarize_all
    from rft.graders._registry import load_grader

    graders = [load_grader(spec, trust_code=args.trust_code) for spec in args.grader]
    names = [g.name for g in graders]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"two graders are named {name!r}; give one of them another name")
    rows = load_rows(args.data)
    if args.outputs:
        outputs: list[Any] = read_jsonl_values(args.outputs)
        source = args.outputs
    else:
        outputs, source = rows, args.data
    samples, items, ids = align_outputs(rows, outputs, field=args.output_field, id_field=args.id_field, source=source)

    grades = grade_all(graders, samples, items, batch_size=args.batch_size, progress=not args.no_progress)

    if args.out:
        write_jsonl(
            args.out,
            (
                {"index": i, args.id_field: ids[i], "grades": {name: grades[name][i].to_dict() for name in names}}
                for i in range(len(samples))
            ),
        )
    summaries = summarize_all(grades)
    if args.json:
        print(json.dumps([s.to_dict() for s in summaries], indent=2))
    else:
        print(format_table(summaries))
    problems = check_thresholds(summaries, min_score=args.min_score, min_pass_rate=args.min_pass_rate)
    for problem in problems:
        print(f"rft grade: {problem}", file=sys.stderr)
    return 1 if problems else 0
