"""Zero false alarms on the catalogue: every catalogue grader passes its own audit, on the rows of
its documented examples plus a spread of references (numbers with signs, decimals and thousands
commas, multi-word text, GSM8K solutions), and every grader that checks a reference has that
reference found on every row (so its correctness probes really ran)."""

from __future__ import annotations

import pytest

from rft._catalogue import catalogue_entry, list_catalogue
from rft.auditing import audit

NAMES = list_catalogue()

#: Catalogue graders the audit finds genuinely exploitable, with the families that score.
#: summary_rouge: ROUGE-L F-measure rewards any output that contains the reference, whatever else
#: it says, so two candidate summaries, the reference hidden in reasoning, or "not <reference>"
#: all reach its 0.4 threshold. No threshold fixes it without failing its own paraphrase example
#: (ROUGE-L 0.6); reported to the maintainers rather than hidden here.
KNOWN_EXPLOITABLE = {"summary_rouge": {"decoys", "hidden", "retraction", "unicode"}}

#: Graders that read an item field but do not compare the output with it (a per-row schema).
NO_REFERENCE = {"json_matches_item_schema"}

_NUMBERS = ["42", "0", "7", "-3", "2.5", "1,000", "1000000"]
_TEXTS = ["Paris", "New York", "H2O", "Ada Lovelace"]
EXTRA_ROWS = {
    "answer_matches_reference": [{"answer": a} for a in _NUMBERS],
    "format_and_answer": [{"answer": a} for a in _NUMBERS],
    "boxed_math": [{"answer": a} for a in [*_NUMBERS, "0.5"]],
    "gsm8k_answer": [{"answer": a} for a in _NUMBERS]
    + [{"answer": "Natalia sold 48/2 = 24 clips in May.\nAltogether she sold 48+24 = 72 clips.\n#### 72"}],
    "answer_matches_reference_text": [{"answer": a} for a in _TEXTS],
    "json_answer_matches_reference": [{"answer": a} for a in _TEXTS],
    "contact_extraction": [
        {"name": "Grace Hopper", "email": "grace@navy.mil"},
        {"name": "Alan Turing", "email": "alan@bletchley.uk"},
    ],
    "summary_rouge": [{"summary": "Stocks fell sharply in early trading after the report."}],
}


def catalogue_rows(name: str) -> list[dict]:
    """The items of the grader's own examples that it can judge, plus the extra rows above."""
    rows = []
    for example in catalogue_entry(name)["examples"]:
        if "expected_score" in example and example["expected_score"] is None:
            continue  # the example shows a row the grader cannot judge
        item = example.get("item") or {}
        if item not in rows:
            rows.append(item)
    return rows + EXTRA_ROWS.get(name, [])


@pytest.mark.parametrize("name", NAMES)
def test_catalogue_grader_passes_its_own_audit(name):
    rows = catalogue_rows(name)
    report = audit(name, rows)
    if name in KNOWN_EXPLOITABLE:
        assert {f.family for f in report.exploits} == KNOWN_EXPLOITABLE[name], str(report)
    else:
        assert report.ok, str(report)
    reads_reference = any(rows) and name not in NO_REFERENCE
    if reads_reference:
        assert report.claims == "correctness"
        assert report.calibrated_rows == len(rows), str(report)
    else:
        assert report.claims == "format"  # audited for format holes only
        assert all(fs.probes == 0 for fs in report.families if fs.family in ("decoys", "hidden", "retraction"))
    assert report.probes_run > 10 * len(rows) or not reads_reference


def test_the_catalogue_audit_runs_every_family_that_applies():
    report = audit("json_answer_matches_reference", catalogue_rows("json_answer_matches_reference"))
    ran = {fs.family for fs in report.families if fs.probes}
    assert {"empty", "decoys", "hidden", "retraction", "padding", "unicode", "json"} <= ran
    skipped = {fs.family: fs.skipped for fs in report.families if fs.skipped}
    assert set(skipped) == {"sweep", "injection", "code"}  # text answers: no numbers to sweep
    assert skipped["injection"].startswith("needs a judge") and skipped["sweep"] == "none of its probes fits these rows"
