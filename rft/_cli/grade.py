"""``rft grade``: grade model outputs saved in a file against their dataset rows.

::

    rft grade --grader gsm8k_answer --data rows.jsonl --outputs outputs.jsonl \\
              [--output-field output] [--out results.jsonl] [--report report.json] [--min-pass-rate 0.8]

The outputs file has one line per model output: a JSON string, or an object with the output
under ``--output-field`` (default ``output``; its value may be text, a chat message list or a
``{"output_text": ...}`` sample). When the outputs carry an ``id``, they join rows by id (several
outputs per row are fine; every output and every row needs one); when none does, line *i* of the
outputs goes with row *i*. Every row needs an output. Without ``--outputs``, the data rows
themselves carry the outputs.

Grading is :func:`rft.evaluate` on :class:`rft.eval.Outputs`: the same row checks, statistics,
table and :class:`~rft.eval.Report` as ``rft eval``, and the thresholds of an
:class:`rft.eval.Suite` with ``"*": {min_score, min_pass_rate}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rft._data import write_jsonl
from rft.eval import Outputs, Suite, Threshold

__all__ = ["register", "run"]

_DESCRIPTION = """\
Grade saved model outputs against their dataset rows and print, per grader (sub-graders indented):
n, mean score with its 95% interval, pass rate (both over scored samples) and unscored samples by
kind; the same table and statistics as `rft eval`.

The outputs file has one line per output: a JSON string, or an object holding the output under
--output-field (text, a chat message list or {"output_text": ...}). When the outputs carry an "id"
field they join rows by id (several outputs per row are fine; then every output and every row needs
an id); when none does, output line i goes with row i. Every row needs an output, and every row
needs the fields the graders read. Without --outputs the data rows carry the outputs themselves.

exit status: 0 done; 1 a --min-score/--min-pass-rate threshold was not met, or a grader scored
nothing (every grade unscored: the run measured nothing); 2 usage, config or data error."""


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
    p.add_argument(
        "--data", "-d", required=True, metavar="ROWS.jsonl", help="dataset rows (JSONL, one object per line)"
    )
    p.add_argument(
        "--outputs", "-o", metavar="OUTPUTS.jsonl",
        help="model outputs (JSONL); default: the data rows carry them under --output-field",
    )
    p.add_argument(
        "--output-field", default="output", help="field of an output row holding the output (default: output)"
    )
    p.add_argument("--id-field", default="id", help="field that joins outputs to rows when both have it (default: id)")
    p.add_argument("--out", metavar="RESULTS.jsonl", help="write one line per output with every grader's Grade")
    p.add_argument(
        "--report", metavar="REPORT.json",
        help="save the full report (rft.load_report, rft.compare and suite baselines read it)",
    )
    p.add_argument("--trust-code", action="store_true", help="allow graders that run Python source from their config")
    p.add_argument("--batch-size", type=_positive_int, default=64, help="outputs graded per call (default: 64)")
    p.add_argument("--min-score", type=float, metavar="X", help="exit 1 if any grader's mean score is below X")
    p.add_argument(
        "--min-pass-rate", type=_fraction, metavar="X", help="exit 1 if any grader's pass rate is below X (0..1)"
    )
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
    outputs = (
        Outputs(args.outputs, field=args.output_field, id_field=args.id_field)
        if args.outputs
        else Outputs(column=args.output_field, id_field=args.id_field)
    )
    suite = Suite(
        name="rft grade",
        data=args.data,
        graders=list(args.grader),
        target=outputs,
        thresholds={"*": Threshold(min_score=args.min_score, min_pass_rate=args.min_pass_rate)},
        generation={"batch_size": args.batch_size},
        id_field=args.id_field,
    )
    # Like tqdm's disable=None: a progress bar only on a terminal.
    result = suite.run(progress=not args.no_progress and sys.stderr.isatty(), trust_code=args.trust_code)
    report = result.report
    if outputs.skipped:
        print(f"rft grade: note: {outputs.skipped} outputs in {args.outputs} have an {args.id_field} no row has; "
              "they were not graded", file=sys.stderr)
    if args.out:
        write_jsonl(args.out, _result_lines(report, outputs, args.id_field))
    if args.report:
        report.save(args.report)
    if args.json:
        print(json.dumps([s.to_dict() for s in report.stats], indent=2))
    else:
        print(report.table())
    problems = _problems(report, result.failures, {"min_score": args.min_score, "min_pass_rate": args.min_pass_rate})
    for problem in problems:
        print(f"rft grade: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _result_lines(report: Any, outputs: Any, id_field: str) -> list[dict[str, Any]]:
    """One line per output, in the order of the outputs file, with every grader's Grade."""
    lines = []
    for item in report.items:
        for j, origin in enumerate(outputs.origin(item.index)):
            grades = {name: item.grades[name][j].to_dict() for name in report.graders}
            lines.append({"index": origin, id_field: item.id, "grades": grades})
    lines.sort(key=lambda line: line["index"])
    return lines


_LABELS = {"min_score": "mean score", "min_pass_rate": "pass rate"}


def _problems(report: Any, failures: list[Any], thresholds: dict[str, float | None]) -> list[str]:
    """Why the run fails: graders that scored nothing, then thresholds missed (the suite's checks)."""
    problems = []
    measured_nothing = set()
    for s in report.stats:
        if s.depth == 0 and s.n and not s.scored:
            measured_nothing.add(s.grader)
            kinds = ", ".join(f"{kind}: {count}" for kind, count in s.unscored.items())
            problems.append(
                f"{s.grader}: nothing was scored: all {s.n} grades are unscored ({kinds}); this run measured "
                "nothing (see the reasons in --out, or run `rft validate` on the grader and data)"
            )
    for c in failures:
        if c.grader in measured_nothing:
            continue
        flag = "--" + c.check.replace("_", "-")
        label = _LABELS.get(c.check, c.check)
        problems.append(f"{c.grader}: {label} {c.actual} is below {flag} {thresholds[c.check]:g}")
    return problems
