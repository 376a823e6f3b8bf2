"""Grader throughput on TRL's reward path, against the function a TRL user would write by hand.

Every grader is called the way GRPOTrainer calls a reward function,
``grader(prompts=..., completions=..., **columns)``, on N completions (default 100 000): a mix of
right answers, wrong answers and hostile ones (look-alike characters, several answers, a
catastrophic-regex bait, over-long outputs, NaN / duplicate keys / deep nesting for JSON). The
hand-written baseline for the same check runs on the same data in the same process; both are
timed best-of-R. Also measured: ``import rft`` in a fresh interpreter (and that it does not
import torch).

Goals: string_check and exact_match within 2.5x of the hand-written function; ``import rft``
under 0.3 s.

    python bench/grader_throughput.py            # N=100000, best of 3
    python bench/grader_throughput.py --n 20000 --repeat 5
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

RATIO_GOAL = 2.5
IMPORT_GOAL_S = 0.3

# ------------------------------------------------------------------------------------------------
# Data


_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def answer_completions(n: int) -> tuple[list[str], list[str]]:
    """Completions in ``<answer>N</answer>`` form and their reference answers."""
    completions, answers = [], []
    for i in range(n):
        a = str(i % 1000)
        kind = i % 20
        if kind < 8:
            c = f"<think>easy</think>\n<answer>{a}</answer>"  # right
        elif kind < 14:
            c = f"<think>hmm</think>\n<answer>{int(a) + 1}</answer>"  # wrong
        elif kind == 14:
            c = f"<answer>{a} or {int(a) + 1}</answer>"  # hedged
        elif kind == 15:
            c = f"<answer>{a}</answer> no wait <answer>{int(a) + 1}</answer>"  # several answers: last counts
        elif kind == 16:
            c = "<answer>\u200b" + a.translate(_FULLWIDTH) + "\u00a0</answer>"  # look-alike characters
        elif kind == 17:
            c = "a" * 40 + "!"  # catastrophic-backtracking bait
        elif kind == 18:
            c = ""
        else:
            c = f"<answer>{a}</answer>" + ("x" * 150_000 if i % 1000 == 19 else "")  # rare over-long output
        completions.append(c)
        answers.append(a)
    return completions, answers


def json_completions(n: int) -> tuple[list[str], list[int]]:
    """JSON outputs ``{"answer": N, "reason": ...}`` (right, wrong, hostile) and the answers."""
    completions, answers = [], []
    for i in range(n):
        a = i % 1000
        kind = i % 20
        if kind < 8:
            c = json.dumps({"answer": a, "reason": "because"})
        elif kind < 12:
            c = json.dumps({"answer": a + 1, "reason": "because"})
        elif kind == 12:
            c = f'Here you go:\n```json\n{{"answer": {a}, "reason": "fenced"}}\n```'
        elif kind == 13:
            c = json.dumps({"answer": str(a), "reason": "wrong type"})
        elif kind == 14:
            c = json.dumps({"answer": a, "reason": "extra", "confidence": 0.9})
        elif kind == 15:
            c = '{"answer": NaN, "reason": "nan"}'
        elif kind == 16:
            c = f'{{"answer": {a + 1}, "answer": {a}, "reason": "duplicate keys"}}'
        elif kind == 17:
            c = "[" * 5000 + "]" * 5000  # deep nesting
        elif kind == 18:
            c = "{'answer': %d}" % a  # Python, not JSON
        else:
            c = '{"answer": %s, "reason": "huge int"}' % ("9" * 3000)
        completions.append(c)
        answers.append(a)
    return completions, answers


# ------------------------------------------------------------------------------------------------
# Hand-written baselines: what a TRL user writes for the same check


def hand_string_check(prompts: Any, completions: list[str], answer: list[str], **kwargs: Any) -> list[float]:
    return [1.0 if c == a else 0.0 for c, a in zip(completions, answer)]


def hand_string_check_tagged(prompts: Any, completions: list[str], answer: list[str], **kwargs: Any) -> list[float]:
    return [1.0 if c == f"<answer>{a}</answer>" else 0.0 for c, a in zip(completions, answer)]


_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def hand_exact_match(prompts: Any, completions: list[str], answer: list[str], **kwargs: Any) -> list[float]:
    out = []
    for c, a in zip(completions, answer):
        found = _ANSWER.findall(c)
        out.append(1.0 if found and found[-1].strip() == a else 0.0)
    return out


_NUMBER = re.compile(r"<answer>\s*(-?\d+)\s*</answer>")


def hand_regex(prompts: Any, completions: list[str], answer: list[str], **kwargs: Any) -> list[float]:
    out = []
    for c, a in zip(completions, answer):
        found = _NUMBER.findall(c)
        out.append(1.0 if found and found[-1] == a else 0.0)
    return out


SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "integer"}, "reason": {"type": "string", "maxLength": 200}},
    "required": ["answer", "reason"],
    "additionalProperties": False,
}


def make_hand_json_schema() -> Callable[..., list[float]]:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(SCHEMA)

    def hand_json_schema(prompts: Any, completions: list[str], answer: list[int], **kwargs: Any) -> list[float]:
        out = []
        for c, a in zip(completions, answer):
            try:
                value = json.loads(c)
            except (ValueError, RecursionError):  # a first version catching only ValueError crashes training
                out.append(0.0)
                continue
            out.append(1.0 if validator.is_valid(value) and value.get("answer") == a else 0.0)
        return out

    return hand_json_schema


# ------------------------------------------------------------------------------------------------
# Timing


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def import_time(repeat: int) -> tuple[float, bool]:
    code = (
        "import sys, time\n"
        "t = time.perf_counter()\n"
        "import rft\n"
        "dt = time.perf_counter() - t\n"
        "print(dt, 'torch' in sys.modules)\n"
    )
    best, torch_loaded = float("inf"), False
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
        best = min(best, float(out[0]))
        torch_loaded = torch_loaded or out[1] == "True"
    return best, torch_loaded


def build_graders() -> dict[str, tuple[Any, str]]:
    """rft graders by name, each with the data set it runs on; types not in this rft are skipped."""
    import rft

    graders: dict[str, tuple[Any, str]] = {
        # The common form: the whole output equals a column.
        "string_check": (rft.StringCheck(name="string_check", reference="{{item.answer}}"), "bare"),
        # A reference template with literal text around the placeholder.
        "string_check*": (
            rft.StringCheck(name="string_check_tagged", reference="<answer>{{item.answer}}</answer>"),
            "answers",
        ),
    }
    types = rft.grader_types()
    if "exact_match" in types:
        graders["exact_match"] = (
            rft.load_grader({"type": "exact_match", "reference": "{{item.answer}}", "extract": "answer_tags"}),
            "answers",
        )
    else:
        print("exact_match: not in this version of rft, skipped")
    if "regex" in types:
        graders["regex"] = (
            rft.load_grader(
                {"type": "regex", "pattern": r"<answer>\s*(-?\d+)\s*</answer>", "reference": "{{item.answer}}"}
            ),
            "answers",
        )
    else:
        print("regex: not in this version of rft, skipped")
    graders["json_schema"] = (
        rft.JsonSchema(name="json_schema", schema=SCHEMA, fields={"answer": "{{item.answer}}"}),
        "json",
    )
    return graders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="completions per grader")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best counts")
    args = parser.parse_args()

    seconds, torch_loaded = import_time(max(args.repeat, 3))
    status = "OK" if seconds < IMPORT_GOAL_S else "OVER GOAL"
    print(f"import rft: {seconds:.3f} s in a fresh interpreter (goal < {IMPORT_GOAL_S} s: {status})")
    print(f"torch imported by import rft: {torch_loaded}")
    assert not torch_loaded, "import rft must not import torch"

    answers_data = answer_completions(args.n)
    bare_data = ([re.sub("</?answer>", "", c) for c in answers_data[0]], answers_data[1])
    data_sets = {"answers": answers_data, "bare": bare_data, "json": json_completions(args.n)}
    baselines: dict[str, Callable[..., list[float]]] = {
        "string_check": hand_string_check,
        "string_check*": hand_string_check_tagged,
        "exact_match": hand_exact_match,
        "regex": hand_regex,
        "json_schema": make_hand_json_schema(),
    }
    print(f"\n{args.n} completions per grader, best of {args.repeat}\n")
    print(f"{'grader':<14}{'rft s':>9}{'hand s':>9}{'ratio':>8}{'rft grades/s':>15}{'agree':>8}  note")
    for name, (grader, data) in build_graders().items():
        completions, answers = data_sets[data]
        prompts = ["Solve it."] * len(completions)
        hand = baselines[name]
        grader(prompts=prompts[:50], completions=completions[:50], answer=answers[:50])  # lazy imports, caches
        columns = {"prompts": prompts, "completions": completions, "answer": answers}
        rft_s, rft_scores = best_of(args.repeat, functools.partial(grader, **columns))
        hand_s, hand_scores = best_of(args.repeat, functools.partial(hand, **columns))
        assert len(rft_scores) == len(completions)
        ratio = rft_s / hand_s
        agree = sum(r == h for r, h in zip(rft_scores, hand_scores)) / len(completions)
        note = ""
        if name.startswith(("string_check", "exact_match")):
            note = f"goal <= {RATIO_GOAL}x: {'OK' if ratio <= RATIO_GOAL else 'OVER GOAL'}"
        rate = len(completions) / rft_s
        print(f"{name:<14}{rft_s:>9.3f}{hand_s:>9.3f}{ratio:>7.2f}x{rate:>15,.0f}{agree:>8.1%}  {note}")
    print("\nstring_check: reference '{{item.answer}}' on bare answers;")
    print("string_check*: reference '<answer>{{item.answer}}</answer>' on tagged answers.")
    print(
        "agree < 100% is expected where rft's hostile-input policy differs from the naive function "
        "(look-alike digits, hedged or several answers, over-long outputs, fenced JSON, duplicate keys)."
    )


if __name__ == "__main__":
    main()
