"""``rft eval`` (evaluate a model ad hoc) and ``rft test`` (run unit-benchmark suites).

::

    rft eval --model default --data data/arithmetic.jsonl --grader answer_in_tags --out runs/base
    rft eval --outputs outputs.jsonl --data rows.jsonl --grader exact.yaml
    rft test suites/*.yaml

``rft eval`` prints the report table and, with ``--out FOLDER``, streams every grade to
``FOLDER/results.jsonl`` and writes ``FOLDER/report.json``; running the same command again
resumes where it stopped.

``rft test`` runs every suite given, even after one fails or cannot run, and prints a table per
suite saying which grader missed which threshold by how much (the ``margin`` column). Each error
(a bad suite file, a missing data or baseline file) goes to stderr naming the suite file and the
resolved path; relative paths in a suite file are relative to that file's folder. Exit status: the
worst over the suites: 2 if any suite could not run, else 1 if any missed a threshold, else 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rft._errors import RftError
from rft.eval import Outputs, Suite, evaluate

__all__ = ["register", "run_eval", "run_test"]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def register(subparsers: Any) -> None:
    description = __doc__.split("\n\n", 1)[1] if __doc__ else None
    p = subparsers.add_parser(
        "eval",
        help="evaluate a model (or saved outputs) on a dataset with graders; print and save a report",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--model", "-m", default=None, metavar="NAME|DIR|openai:MODEL@URL",
        help=(
            "'default' (embedded SmolLM2-135M), a local model folder, or an OpenAI-compatible endpoint "
            "(default: default)"
        ),
    )
    src.add_argument("--outputs", metavar="OUTPUTS.jsonl", help="grade precomputed outputs instead of generating")
    p.add_argument("--data", "-d", required=True, metavar="ROWS.jsonl", help="dataset rows (JSONL)")
    p.add_argument(
        "--grader", "-g", action="append", required=True, metavar="NAME|FILE",
        help="catalogue name or YAML/JSON grader file; repeat for several",
    )
    p.add_argument("--out", "-o", metavar="FOLDER", help="stream results here and write report.json (resumable)")
    p.add_argument("--no-resume", action="store_true", help="discard results already in --out and start over")
    p.add_argument("--samples", "-n", type=_positive_int, default=1, help="samples per item (default: 1)")
    p.add_argument("--max-new-tokens", type=_positive_int, default=128, help="default: 128")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=_positive_int, default=64, help="prompts per generation batch (default: 64)")
    p.add_argument("--limit", type=_positive_int, help="evaluate the first N rows only")
    p.add_argument("--prompt-field", default="prompt", help="column holding the prompt (default: prompt)")
    p.add_argument("--output-field", default="output", help="field of an --outputs line holding the text")
    p.add_argument("--trust-code", action="store_true", help="allow graders that run Python source from their config")
    p.add_argument("--format", choices=("table", "markdown", "json"), default="table", help="how to print the report")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run_eval)

    t = subparsers.add_parser(
        "test",
        help="run unit-benchmark suites (YAML); exit 1 if a threshold is not met",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument("suites", nargs="+", metavar="SUITE.yaml", help="suite files")
    t.add_argument(
        "--model", "-m", metavar="NAME|DIR|openai:MODEL@URL", help="evaluate this target instead of each suite's"
    )
    t.add_argument(
        "--out", "-o", metavar="FOLDER", help="keep each suite's results in FOLDER/<suite name>/ (resumable)"
    )
    t.add_argument("--trust-code", action="store_true", help="allow graders that run Python source from their config")
    t.add_argument("--progress", action="store_true", help="show a progress bar per suite")
    t.set_defaults(func=run_test)


def run_eval(args: argparse.Namespace) -> int:
    target: Any = Outputs(args.outputs, field=args.output_field) if args.outputs else (args.model or "default")
    report = evaluate(
        target,
        args.data,
        args.grader,
        samples_per_item=args.samples,
        prompt_field=args.prompt_field,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
        batch_size=args.batch_size,
        limit=args.limit,
        out=args.out,
        resume=not args.no_resume,
        progress=not args.no_progress,
        trust_code=args.trust_code,
    )
    if args.format == "json":
        print(json.dumps({"meta": report.meta, "stats": [s.to_dict() for s in report.stats]}, indent=1))
    elif args.format == "markdown":
        print(report.to_markdown())
    else:
        print(report)
    if args.out:
        print(f"results: {args.out}/results.jsonl  report: {args.out}/report.json", file=sys.stderr)
    return 0


def run_test(args: argparse.Namespace) -> int:
    passed = failed = errors = 0
    for path in args.suites:
        try:
            suite = Suite.load(path)
            out = Path(args.out) / suite.name if args.out else None
            result = suite.run(target=args.model, out=out, progress=args.progress, trust_code=args.trust_code)
        except (RftError, OSError) as exc:  # report it and go on: every suite gets its verdict
            errors += 1
            if isinstance(exc, RftError):
                text = str(exc)
            else:
                text = f"{getattr(exc, 'filename', '') or ''} {exc.strerror or exc}"
            print(f"rft test: error: {text if str(path) in text else f'{path}: {text}'}", file=sys.stderr)
            continue
        print(result.table())
        print()
        if result.passed:
            passed += 1
        else:
            failed += 1
    total = len(args.suites)
    if passed == total:
        print(f"{total} of {total} suites passed")
    else:
        print(f"FAILED: {total - passed} of {total} suites: {passed} passed, {failed} failed, {errors} errors")
    return 2 if errors else 1 if failed else 0
