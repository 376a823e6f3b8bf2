"""judge_agreement: accuracy and Cohen's kappa against the human labels in data/."""

from pathlib import Path

import pytest

from rft import judge_agreement
from rft.graders._model import LabelModel, rubric_judge
from rft.judge import ScriptedBackend
from rft.judge._agreement import cohen_kappa, load_labelled_rows

DATA = Path(__file__).resolve().parents[2] / "data" / "judge_labels.jsonl"
INPUT = [{"role": "user", "content": "Q: {{item.question}}\nRef: {{item.answer}}\nA: {{sample.output_text}}"}]

KAPPA = [
    ([1, 1, 0, 0], [1, 1, 0, 0], 1.0, "perfect agreement"),
    ([1, 0, 1, 0], [1, 1, 0, 0], 0.0, "chance-level agreement"),
    ([1, 1, 0, 0], [0, 0, 1, 1], -1.0, "perfect disagreement"),
    ([1, 1, 1], [1, 1, 1], None, "one class only: kappa undefined, not 1"),
    ([], [], None, "no items"),
]


@pytest.mark.parametrize("a,b,kappa,why", KAPPA, ids=[k[-1] for k in KAPPA])
def test_cohen_kappa(a, b, kappa, why):
    assert cohen_kappa(a, b) == (pytest.approx(kappa) if kappa is not None else None)


def oracle(text):
    """A judge that reads the reference and the answer: right on every row of the data set."""
    ref = text.split("Ref: ", 1)[1].split("\n", 1)[0].lower()
    answer = text.split("<candidate-", 1)[1].split("\n", 1)[1].rsplit("\n</candidate-", 1)[0].lower()
    words = {"8": "eight", "7": "seven", "carbon dioxide": "co2"}
    wrong_number = any(ch.isdigit() for ch in answer) and ref.isdigit() and ref not in answer.replace("10", "")
    ok = (ref in answer or words.get(ref, "\0") in answer or ref.split()[-1] in answer) and not wrong_number
    return "Verdict: correct" if ok else "Verdict: incorrect"


def test_data_file_is_balanced_and_labelled():
    rows = load_labelled_rows(DATA)
    assert len(rows) >= 30
    assert {r["label"] for r in rows} == {"correct", "incorrect"}
    assert all({"question", "answer", "output", "label"} <= set(r) for r in rows)


def test_agreement_of_a_good_and_a_constant_judge():
    good = LabelModel(name="good", labels=["correct", "incorrect"], passing_labels=["correct"], input=INPUT,
                      backend=ScriptedBackend(oracle), cache=False)
    report = judge_agreement(good, DATA)
    assert report["scored"] == report["n"] >= 30
    assert report["accuracy"] >= 0.9 and report["kappa"] >= 0.8
    constant = rubric_judge("Is it right?", reference="{{item.answer}}", backend=ScriptedBackend(["Score: 5"]),
                            cache=False)
    report = judge_agreement(constant, DATA)  # always passes: right half the time, kappa 0
    assert report["accuracy"] == pytest.approx(0.5) and report["kappa"] == pytest.approx(0.0)


def test_unscored_rows_are_counted_apart():
    flaky = LabelModel(name="f", labels=["correct", "incorrect"], passing_labels=["correct"], input=INPUT,
                       backend=ScriptedBackend(["Verdict: correct", "no idea"]), cache=False)
    report = judge_agreement(flaky, load_labelled_rows(DATA)[:4])
    assert report["unscored"] == 2 and report["scored"] == 2
