"""``python -m rft.demo`` (what ``make demo`` runs): rft end to end on its own example data.

The demo is a list of stages, each a function taking the shared :class:`DemoContext`; add a stage
by appending to :data:`STAGES`. Stage 2 evaluates the model (the embedded SmolLM2-135M-Instruct by
default) on held-out arithmetic with the same graders; stage 3 is the tuning loop of
:mod:`rft.demo.tune`: pre-flight, baseline and power check, then ``tune_until`` teaching strict
four-field JSON extraction while two guard suites (arithmetic, knowledge) must stay non-inferior;
report and plot.
Results go to ``results/demo``. Stage 1 grades the saved sample outputs in ``data/sample_outputs``
with catalogue graders: right answers, wrong ones, badly formatted ones and hostile ones (prompt
and template injection, hedged answers, NaN in JSON, 5000-deep nesting), and prints per-grader
summaries and a per-case breakdown, so you can see what each grader rewards.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rft._data import align_outputs, data_dir, read_jsonl
from rft._errors import RftError
from rft.eval import evaluate
from rft.eval._grades import grade_all, grades_report
from rft.graders._registry import load_grader

__all__ = ["STAGES", "DemoContext", "main", "stage_evaluate_model", "stage_grade_samples", "stage_tune"]


@dataclasses.dataclass
class DemoContext:
    """What stages share: where the data is, and what earlier stages produced."""

    data_dir: Path = dataclasses.field(metadata={"help": "The example datasets (data/)."})
    quick: bool = dataclasses.field(default=False, metadata={"help": "Smallest settings (used by tests)."})
    out: Path = dataclasses.field(default=Path("results/demo"), metadata={"help": "Where results are written."})
    model: Any = dataclasses.field(
        default="default", metadata={"help": "Model to evaluate and tune: 'default' (embedded) or a folder."}
    )
    minutes: float = dataclasses.field(default=15.0, metadata={"help": "Wall-clock budget of the tuning stage."})
    task: str = dataclasses.field(default="contacts", metadata={"help": "Tuning task: contacts, or orders (held out)."})
    results: dict[str, Any] = dataclasses.field(
        default_factory=dict, metadata={"help": "Stage name -> what it produced, for later stages."}
    )


def _load(ctx: DemoContext, dataset: str) -> tuple[list[Any], list[Mapping[str, Any]], list[dict[str, Any]]]:
    """(samples, items, output rows) of ``data/<dataset>.jsonl`` and its sample outputs, joined by id."""
    rows = read_jsonl(ctx.data_dir / f"{dataset}.jsonl")
    outputs = read_jsonl(ctx.data_dir / "sample_outputs" / f"{dataset}.jsonl")
    samples, items, _ = align_outputs(rows, outputs, source=f"sample_outputs/{dataset}.jsonl")
    return samples, items, outputs


def _by_kind(outputs: list[dict[str, Any]], grades: Sequence[Any]) -> str:
    """One line per kind of sample output: how many, and their mean score."""
    kinds: dict[str, list[float | None]] = {}
    for out, grade in zip(outputs, grades):
        kinds.setdefault(out.get("kind", "?"), []).append(grade.score)
    width = max(len(k) for k in kinds)
    lines = []
    for kind, scores in kinds.items():
        scored = [s for s in scores if s is not None]
        mean = f"{sum(scored) / len(scored):.2f}" if scored else "  - "
        unscored = len(scores) - len(scored)
        lines.append(
            f"  {kind.ljust(width)}  n={len(scores):<3d} mean={mean}" + (f" unscored={unscored}" if unscored else "")
        )
    return "\n".join(lines)


def stage_grade_samples(ctx: DemoContext) -> None:
    """Grade data/sample_outputs with catalogue graders and print the summaries."""
    produced: dict[str, Any] = {}

    # 1. Arithmetic: the target skill. Format, correctness, and the GRPO reward that mixes them.
    samples, items, outputs = _load(ctx, "arithmetic")
    graders = [load_grader(n) for n in ("answer_in_tags", "answer_matches_reference", "format_and_answer")]
    grades = grade_all(graders, samples, items)
    print("arithmetic.jsonl: 96 questions, one sample output each")
    print(grades_report(grades).table())
    print("\nanswer_matches_reference by kind of output (see data/README.md):")
    print(_by_kind(outputs, grades["answer_matches_reference"]))
    produced["arithmetic"] = grades

    # 2. JSON extraction: OpenAI's multi-grader example, and schemas that vary per row.
    samples, items, outputs = _load(ctx, "json_extraction")
    graders = [load_grader(n) for n in ("valid_json_object", "json_matches_item_schema", "contact_extraction")]
    grades = grade_all(graders, samples, items)
    print("\njson_extraction.jsonl: 32 texts, one sample output each")
    print(grades_report(grades).table())
    print("\ncontact_extraction by kind of output:")
    print(_by_kind(outputs, grades["contact_extraction"]))
    produced["json_extraction"] = grades

    # 3. Format following (the guard set): each row names the format grader that applies to it.
    samples, items, _ = _load(ctx, "format_following")
    print("\nformat_following.jsonl: each row is checked by the format its prompt asks for")
    answer_grader = {
        "answer_in_tags": "answer_matches_reference_text",
        "think_then_answer": "answer_matches_reference_text",
        "valid_json_object": "json_answer_matches_reference",
    }
    table: dict[str, list[Any]] = {}
    for fmt, correct in answer_grader.items():
        picked = [i for i, item in enumerate(items) if item["grader"] == fmt]
        sub_samples, sub_items = [samples[i] for i in picked], [items[i] for i in picked]
        part = grade_all([load_grader(fmt), load_grader(correct)], sub_samples, sub_items)
        table[fmt] = part[fmt]
        table[f"{correct} ({fmt} rows)"] = part[correct]
    print(grades_report(table).table())
    produced["format_following"] = table

    # 4. Unscored is not 0: a numeric grader on rows whose reference is a word cannot judge them.
    picked = [i for i, item in enumerate(items) if item["grader"] == "answer_in_tags"]
    misuse = grade_all(
        [load_grader("answer_matches_reference")], [samples[i] for i in picked], [items[i] for i in picked]
    )
    print("\nunscored is not 0: the numeric answer_matches_reference on the same answer_in_tags rows")
    print("(rows whose answer is a word, such as 'Paris', are unscored: the grader cannot judge them)")
    print(grades_report(misuse).table())
    ctx.results["grade_samples"] = produced


def stage_evaluate_model(ctx: DemoContext) -> None:
    """Evaluate the model on the held-out arithmetic split with the graders that later reward it."""
    rows = [r for r in read_jsonl(ctx.data_dir / "arithmetic.jsonl") if r.get("split") == "eval"]
    if ctx.quick:
        rows = rows[:8]
    out = ctx.out / "eval-arithmetic"
    print(f"model: {ctx.model}; {len(rows)} held-out arithmetic questions, greedy; results stream to {out}")
    print("(run `make demo` again and finished work is skipped: the evaluation resumes from its results file)\n")
    report = evaluate(
        ctx.model,
        rows,
        ["answer_in_tags", "answer_matches_reference"],
        max_new_tokens=48,
        out=out,
        progress=not ctx.quick,
    )
    print(report.to_markdown())
    ctx.results["evaluate_model"] = report


def stage_tune(ctx: DemoContext) -> None:
    """Pre-flight -> baseline and power check -> tune_until with two guards -> report and plot (rft.demo.tune)."""
    # Imported here, not at the top: `python -m rft.demo.tune` runs that module as __main__, and runpy
    # warns when the package has already imported it.
    from rft.demo.tune import stage as run_tune_stage

    summary = run_tune_stage(ctx.out / "tune", minutes=ctx.minutes, model=ctx.model, quick=ctx.quick, task=ctx.task)
    print(f"\nreport, plot and best model: {ctx.out / 'tune'} ({', '.join(sorted(summary['report']))})")
    ctx.results["tune"] = summary


#: (title, stage) in the order they run.
STAGES: list[tuple[str, Callable[[DemoContext], None]]] = [
    ("Grade saved sample outputs with catalogue graders", stage_grade_samples),
    ("Evaluate the model with the same graders", stage_evaluate_model),
    ("Tune a skill until it improves and the guards hold", stage_tune),
]


def main(argv: Sequence[str] | None = None) -> int:
    """Run every stage (or those named with ``--stage``) and return an exit code."""
    parser = argparse.ArgumentParser(prog="python -m rft.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--stage", action="append", metavar="N", type=int, help="run only stage N (1-based); repeatable"
    )
    parser.add_argument("--quick", action="store_true", help="smallest settings (for tests)")
    parser.add_argument("--data-dir", type=Path, help="example data folder (default: the repository's data/)")
    parser.add_argument("--out", type=Path, default=Path("results/demo"), help="results folder (default: %(default)s)")
    parser.add_argument(
        "--model", default="default", help="'default' (embedded SmolLM2-135M-Instruct) or a model folder"
    )
    parser.add_argument("--minutes", type=float, default=15.0, help="wall-clock budget of the tuning stage")
    parser.add_argument(
        "--task",
        default="contacts",
        choices=["contacts", "orders"],
        help="tuning task (orders: the held-out task of the same kind)",
    )
    args = parser.parse_args(argv)
    try:
        ctx = DemoContext(
            data_dir=args.data_dir or data_dir(),
            quick=args.quick,
            out=args.out,
            model=args.model,
            minutes=args.minutes,
            task=args.task,
        )
        for number, (title, stage) in enumerate(STAGES, start=1):
            if args.stage and number not in args.stage:
                continue
            print(f"\n=== {number}. {title} ===\n", flush=True)
            started = time.perf_counter()
            stage(ctx)
            print(f"\n({title}: {time.perf_counter() - started:.1f} s)", flush=True)
    except RftError as exc:
        print(f"rft demo: error: {exc}", file=sys.stderr)
        return 2
    return 0
