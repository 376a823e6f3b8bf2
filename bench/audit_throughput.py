"""Audit time for 100 rows of every catalogue grader, against grading as many completions directly.

For each catalogue grader, rows are built from the field shapes of its own examples (numbers,
GSM8K solutions, capitals, contacts, schemas, summaries), ``rft.audit`` runs on N rows (default
100), and the same grader then grades, with one ``grade_batch`` call, as many completions as the
audit graded (its documented example outputs, cycled over the same rows). The ratio is audit time
over that direct grading time: what calibration, probe building and bookkeeping cost on top of
the grading itself. Both are timed best-of-R after a warm-up that loads the metric libraries.

Goal: a few seconds per deterministic grader for 100 rows.

    python bench/audit_throughput.py              # N=100, best of 3
    python bench/audit_throughput.py --rows 500 --repeat 1
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

import rft
from rft._catalogue import catalogue_entry

GOAL_S = 5.0

_CAPITALS = ["Paris", "Rome", "Madrid", "Berlin", "Lisbon", "Vienna", "Oslo", "New Delhi", "Buenos Aires", "Cairo"]
_PEOPLE = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson", "Edsger Dijkstra", "Barbara Liskov"]
_SENTENCES = [
    "The council approved the new park budget on Monday.",
    "Stocks fell sharply in early trading after the report.",
    "Heavy rain closed the coastal road for two days.",
    "The museum will open a new wing for modern art next spring.",
]
_SCHEMA = {"type": "object", "required": ["name", "email"], "additionalProperties": False,
           "properties": {"name": {"type": "string"}, "email": {"type": "string", "format": "email"}}}


def _number_like(value: Any) -> bool:
    text = str(value).rsplit("####", 1)[-1].strip().replace(",", "")
    try:
        float(text)
    except ValueError:
        return False
    return True


def make_rows(name: str, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` rows shaped like the items of catalogue grader ``name``'s examples."""
    rng = random.Random(seed)
    examples = catalogue_entry(name)["examples"]
    # Items whose example is unscored show rows the grader cannot judge ("x + 1" for a number).
    items = [ex.get("item") or {} for ex in examples if ex.get("expected_score", 0) is not None]
    keys = sorted({k for item in items for k in item})
    gsm8k = any("####" in str(item.get("answer", "")) for item in items)
    numeric = all(_number_like(item["answer"]) for item in items if "answer" in item)
    rows = []
    for i in range(n):
        row: dict[str, Any] = {"id": f"{name}-{i:03d}"}
        if "answer" in keys:
            if numeric:
                value = rng.choice([rng.randint(0, 100), rng.randint(-50, 5000), round(rng.uniform(0, 10), 1)])
                row["answer"] = f"Working: {value} in all.\n#### {value}" if gsm8k and i % 2 else str(value)
            else:
                row["answer"] = rng.choice(_CAPITALS)
        if "name" in keys or "email" in keys:
            person = rng.choice(_PEOPLE)
            row["name"] = person
            row["email"] = person.lower().replace(" ", ".") + "@example.com"
        if "schema" in keys:
            row["schema"] = _SCHEMA
        if "summary" in keys:
            row["summary"] = rng.choice(_SENTENCES)
        rows.append(row)
    return rows


def example_outputs(name: str) -> list[str]:
    return [str(ex["sample"]) for ex in catalogue_entry(name)["examples"] if isinstance(ex.get("sample"), str)]


def best_of(repeat: int, fn: Any, *args: Any) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    print(f"rft.audit on {args.rows} rows per catalogue grader (best of {args.repeat}); "
          "direct = grade_batch of as many completions")
    header = f"{'grader':32} {'audit s':>8} {'probes':>7} {'graded':>7} {'direct s':>9} {'ratio':>6}  result"
    print(header)
    print("-" * len(header))
    slowest = 0.0
    for name in rft.list_catalogue():
        grader = rft.load_grader(name)
        rows = make_rows(name, args.rows)
        rft.audit(grader, rows[:3])  # warm-up: metric libraries, compiled patterns
        audit_s, report = best_of(args.repeat, rft.audit, grader, rows)
        outputs = example_outputs(name)
        samples = [outputs[i % len(outputs)] for i in range(report.completions_graded)]
        items = [rows[i % len(rows)] for i in range(report.completions_graded)]
        direct_s, _ = best_of(args.repeat, grader.grade_batch, samples, items)
        slowest = max(slowest, audit_s)
        result = "clean" if report.ok else f"EXPLOITABLE: {', '.join(report.by_probe())}"
        print(f"{name:32} {audit_s:8.3f} {report.probes_run:7d} {report.completions_graded:7d} {direct_s:9.3f} "
              f"{audit_s / max(direct_s, 1e-9):6.1f}  {result}")
    print(f"\nslowest audit: {slowest:.2f} s for {args.rows} rows (goal: under {GOAL_S:.0f} s) -> "
          f"{'OK' if slowest < GOAL_S else 'MISSED'}")


if __name__ == "__main__":
    main()
