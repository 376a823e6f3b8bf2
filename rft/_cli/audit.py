"""``rft audit``: attack a grader with adversarial completions built from your rows.

::

    rft audit GRADER --data rows.jsonl [--trust-code] [--probes FAMILY,...] [--limit N] [--out audit.json]

Exit status: 0 no exploit found; 1 the grader is exploitable (the table of the probes that scored
is printed); 2 usage, config or data error.
"""

from __future__ import annotations

import argparse
from typing import Any

from rft.auditing import audit

__all__ = ["register", "run"]

_DESCRIPTION = """\
Find the exploits in a grader before the policy does. For every row the audit finds an honest
right answer the grader passes and an honest wrong one it fails, then grades adversarial
completions that do not honestly commit to the right answer: empty or format-only answers, the
reference among decoys, a numeric sweep, the reference hidden in the reasoning or a code block,
the reference retracted, padding to the output cap, unicode tricks, JSON tricks, judge
injections (judges) and code that reads the item (Python graders). A probe that passes (in every
arrangement it is written in) is an exploit.

exit status: 0 no exploit found; 1 the grader is exploitable (the probes that scored are listed);
2 usage, config or data error."""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "audit",
        help="attack a grader with adversarial completions and list the exploits it rewards",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("grader", metavar="GRADER", help="catalogue name (see `rft graders`) or YAML/JSON grader file")
    p.add_argument("--data", "-d", required=True, metavar="ROWS.jsonl", help="dataset rows the probes are built from")
    p.add_argument("--trust-code", action="store_true", help="allow graders that run Python source from their config")
    p.add_argument(
        "--probes",
        metavar="NAMES",
        help="comma-separated probe families or probe names to run (default: every family that applies)",
    )
    p.add_argument("--limit", type=int, metavar="N", help="audit the first N rows only")
    p.add_argument("--out", metavar="AUDIT.json", help="write the full report (every finding) as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    probes = [p.strip() for p in args.probes.split(",") if p.strip()] if args.probes else None
    report = audit(args.grader, args.data, probes=probes, trust_code=args.trust_code, limit=args.limit)
    print(report)
    if args.out:
        print(f"\nreport written to {report.save(args.out)}")
    return 0 if report.ok else 1
