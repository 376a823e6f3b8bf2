"""Every probe family finds the hole it targets in a deliberately weak grader, and the position
rule keeps a grader that reads the *last* answer from being blamed for hedges.

Each weak grader is a few lines a hurried author could write; each case says which probes must
score against it (and, where it matters, which must not)."""

from __future__ import annotations

import json
import re
import unicodedata

import pytest

import rft
from rft.auditing import audit

NUMBERS = [{"id": "q1", "answer": "42"}, {"id": "q2", "answer": "17"}, {"id": "q3", "answer": "305"}]
WORDS = [{"id": "c1", "answer": "Paris"}, {"id": "c2", "answer": "Rome"}, {"id": "c3", "answer": "Madrid"}]


def fn_grader(name, fn, **kw):
    return rft.PythonGrader(name=name, fn=fn, **kw)


def found(report, family=None):
    return {f.probe for f in report.exploits if family is None or f.family == family}


# ------------------------------------------------------------------------------------------------
# Weak graders (each a module-level function so the grader is a normal PythonGrader)


def no_wrong_number(sample, item):
    """Passes unless the output states a number other than the answer: empty output passes."""
    return float(all(n == item["answer"] for n in re.findall(r"-?\d+", sample["output_text"])))


def any_number_matches(sample, item):
    """Passes if any number in the output equals the answer."""
    return float(item["answer"] in re.findall(r"-?\d+", sample["output_text"]))


def first_answer_tag(sample, item):
    """Reads the first <answer> block instead of the last."""
    m = re.search(r"<answer>(.*?)</answer>", sample["output_text"], re.DOTALL)
    return float(bool(m) and m.group(1).strip() == item["answer"])


def length_reward(sample, item):
    """Rewards effort by length."""
    return min(1.0, len(sample["output_text"]) / 5000)


def ascii_digits_only(sample, item):
    """Keeps ASCII digits only; passes when the one number found is the answer."""
    return float(re.findall(r"[0-9]+", sample["output_text"]) == [item["answer"]])


def contains_without_hedge_words(sample, item):
    """A contains-check that tries to refuse hedges by looking for 'or' and list separators."""
    text = sample["output_text"]
    return float(item["answer"] in text and not re.search(r"\b(or|and)\b|[,;]", text))


_LOOKALIKES = str.maketrans("аеорсхуіАВЕНКМОРТХ", "aeopcxyiABEHKMOPTX")


def folds_lookalikes(sample, item):
    """Folds Cyrillic look-alikes to Latin before an exact, case-insensitive compare."""
    return float(sample["output_text"].translate(_LOOKALIKES).strip().lower() == item["answer"].lower())


def strips_accents(sample, item):
    """'Accent-insensitive': NFKD, then every combining mark dropped."""
    text = "".join(c for c in unicodedata.normalize("NFKD", sample["output_text"]) if not unicodedata.combining(c))
    return float(text.strip() == item["answer"])


def python_json_object(sample, item):
    """A format check with Python's json module: NaN, Infinity and duplicate keys get through."""
    try:
        return float(isinstance(json.loads(sample["output_text"]), dict))
    except ValueError:
        return 0.0


def first_braces(sample, item):
    """Grabs the first {...} anywhere in the text."""
    m = re.search(r"\{.*?\}", sample["output_text"], re.DOTALL)
    try:
        return float(bool(m) and isinstance(json.loads(m.group()), dict))
    except ValueError:
        return 0.0


def any_json_answer(sample, item):
    """Passes if any JSON object in the text, or any value of a repeated key, is the answer."""
    text, decoder = sample["output_text"], json.JSONDecoder(object_pairs_hook=lambda pairs: pairs)
    for i, c in enumerate(text):
        if c == "{":
            try:
                pairs, _ = decoder.raw_decode(text, i)
            except ValueError:
                continue
            if any(k == "answer" and v == item["answer"] for k, v in pairs):
                return 1.0
    return 0.0


# ------------------------------------------------------------------------------------------------
# The table: family, weak grader, rows, probes that must score, probes that must not


CASES = [
    # empty: a format regex that allows nothing between the tags
    (
        "empty",
        rft.Regex(name="tags", pattern=r"<answer>[\s\S]*</answer>"),
        NUMBERS[:1],
        {"empty_tags", "blank_tags", "invisible_tags"},
        {"empty"},
    ),
    # empty: a correctness check that only punishes wrong numbers passes nothing at all
    ("empty", fn_grader("no_wrong_number", no_wrong_number), NUMBERS, {"empty", "whitespace", "junk_answer"}, set()),
    # decoys: OpenAI's contains-check
    (
        "decoys",
        rft.StringCheck(name="like", reference="{{item.answer}}", operation="like"),
        NUMBERS,
        {"decoy_or", "decoy_list", "decoy_blocks"},
        {"decoy_range"},
    ),  # the range passes only with 42 at an end
    # sweep: any number may match
    ("sweep", fn_grader("any_number", any_number_matches), NUMBERS, {"sweep_list", "sweep_blocks"}, set()),
    # hidden: answers inside <think> are read
    (
        "hidden",
        rft.ExactMatch(name="no_strip", reference="{{item.answer}}", extract="answer_tags"),
        NUMBERS,
        {"reasoning_no_final"},
        {"think_hidden", "code_block"},
    ),
    # hidden: the first answer block counts, wherever it is
    ("hidden", fn_grader("first_tag", first_answer_tag), NUMBERS, {"think_answer_block", "code_answer_block"}, set()),
    # hidden: a contains-check reads the reasoning and code too
    (
        "hidden",
        rft.StringCheck(name="like", reference="{{item.answer}}", operation="like"),
        NUMBERS,
        {"think_hidden", "code_block"},
        set(),
    ),
    # retraction: the last number is the answer, whatever the words around it say
    (
        "retraction",
        rft.ExactMatch(name="last_number", reference="{{item.answer}}", extract="last_number", numeric=True),
        NUMBERS,
        {"retraction", "negation"},
        set(),
    ),
    # padding: length is rewarded
    ("padding", fn_grader("length", length_reward), NUMBERS, {"pad_filler", "pad_wrong", "repeat_wrong"}, set()),
    # unicode: only ASCII digits are seen
    ("unicode", fn_grader("ascii_digits", ascii_digits_only), NUMBERS, {"unicode_minus", "fullwidth_decoy"}, set()),
    # unicode: a hedge detector on the raw text
    ("unicode", fn_grader("no_hedge_words", contains_without_hedge_words), NUMBERS, {"zero_width_hedge"}, set()),
    # unicode: look-alike letters folded onto Latin
    ("unicode", fn_grader("folds", folds_lookalikes), WORDS, {"confusable"}, set()),
    # unicode: combining marks dropped
    ("unicode", fn_grader("accents", strips_accents), NUMBERS, {"strikethrough"}, set()),
    # json: Python's json module as a format check
    (
        "json",
        fn_grader("py_json", python_json_object),
        NUMBERS,
        {"json_nan", "json_infinity", "json_duplicate_keys"},
        {"json_trailing_prose"},
    ),
    # json: the first {...} in the text
    (
        "json",
        fn_grader("first_braces", first_braces),
        NUMBERS,
        {"json_trailing_prose", "json_leading_prose", "json_several_objects"},
        set(),
    ),
    # json: any object (or any value of a repeated key) in the text may carry the answer
    (
        "json",
        fn_grader("any_json", any_json_answer),
        WORDS,
        {"json_objects_hedge", "json_duplicate_hedge", "json_fenced_plus_bare"},
        set(),
    ),
]


@pytest.mark.parametrize(
    ("family", "grader", "rows", "must", "must_not"), CASES, ids=[f"{c[0]}-{c[1].name}" for c in CASES]
)
def test_family_finds_the_hole_in_a_weak_grader(family, grader, rows, must, must_not):
    report = audit(grader, rows, probes=[family])
    hits = found(report, family)
    assert must <= hits, str(report)
    assert not (must_not & hits), str(report)
    assert not report.ok
    for f in report.exploits:
        assert f.why and f.probe in hits and f.item_id in {r["id"] for r in rows}


# ------------------------------------------------------------------------------------------------
# The position rule


def test_a_grader_reading_the_last_answer_is_not_blamed_for_hedges():
    last = rft.ExactMatch(name="last_number", reference="{{item.answer}}", extract="last_number", numeric=True)
    report = audit(last, NUMBERS, probes=["decoys", "sweep"])
    # "41 or 42" passes when 42 comes last, but not when it comes first: no exploit.
    assert report.ok, str(report)


def test_strong_graders_are_clean_on_the_families_that_catch_the_weak_ones():
    strong = rft.ExactMatch(
        name="strict", reference="{{item.answer}}", extract="answer_tags", strip_think=True, numeric=True
    )
    report = audit(strong, NUMBERS)
    assert report.ok, str(report)
    assert report.claims == "correctness" and report.calibrated_rows == 3
