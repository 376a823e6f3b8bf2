"""The report (ok, exploits, probes_run, renderings, round trip), the graded mode for graders whose
pass threshold is out of reach, the ``probes=`` selection, and the probe catalogue's consistency."""

from __future__ import annotations

import json
import re

import pytest

import rft
from rft.auditing import FAMILIES, AuditReport, audit, family_names, probe_names
from rft.auditing._calibrate import calibrate
from rft.auditing._inspect import inspect_grader

ROWS = [{"id": "q1", "answer": "42"}, {"id": "q2", "answer": "17"}]
WEAK = rft.StringCheck(name="contains", reference="{{item.answer}}", operation="like")


def test_report_fields_and_renderings():
    report = audit(WEAK, ROWS)
    assert not report.ok and report.rows == 2 and report.calibrated_rows == 2
    assert report.probes_run == sum(fs.probes for fs in report.families) > 0
    assert report.completions_graded >= report.probes_run
    decoy = next(f for f in report.exploits if f.probe == "decoy_or")
    assert decoy.item_id == "q1" and decoy.family == "decoys" and decoy.arrangements == 2
    assert decoy.score == 1.0 and "42" in decoy.completion and "threshold 1" in decoy.why
    text = str(report)
    assert text.startswith("audit of grader 'contains': EXPLOITABLE")
    assert "decoy_or" in report.table() and "2/2" in report.table()
    md = report.to_markdown()
    assert md.startswith("### audit of grader") and "| probe | family |" in md
    html = report._repr_html_()
    assert "<table>" in html and "decoy_or" in html and "<script" not in html
    data = json.loads(report.to_json())
    assert data["ok"] is False and data["claims"] == "correctness"
    assert AuditReport.from_dict(data).to_dict() == data
    # Padding probes are the output cap long; the report keeps a cut copy and the full length.
    pad = next(f for f in audit(rft.PythonGrader(name="len", fn=_long_is_good), ROWS, probes=["padding"]).exploits)
    assert pad.length == 99_999 and len(pad.completion) < 2100


def _long_is_good(sample, item):
    return float(len(sample["output_text"]) > 1000)


def test_a_clean_report():
    report = audit("answer_matches_reference", ROWS)
    assert report.ok and report.exploits == [] and report.table() == ""
    assert "no exploit found" in str(report) and "no exploit found" in report._repr_html_()
    assert repr(report).startswith("<AuditReport 'answer_matches_reference': ok")


def test_html_escapes_completions():
    report = audit(WEAK, [{"answer": "<b>x</b>"}], probes=["decoy_or"])
    html = report._repr_html_()
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


# ------------------------------------------------------------------------------------------------
# Graded mode: no reachable pass threshold, so a probe counts when it beats the honest wrong answer


def partial_contains(sample, item):
    """0.6 for containing the answer, 0.1 otherwise: no output ever reaches the default 1.0."""
    return 0.6 if item["answer"] in sample["output_text"] else 0.1


def partial_exact(sample, item):
    return 0.6 if sample["output_text"].strip() == item["answer"] else 0.1


def test_graded_mode_compares_with_the_honest_wrong_answer():
    weak = audit(rft.PythonGrader(name="partial", fn=partial_contains), ROWS, probes=["decoys"])
    assert {"decoy_or", "decoy_list"} <= {f.probe for f in weak.exploits}
    assert "above the honest wrong answer's 0.1" in weak.exploits[0].why
    strong = audit(rft.PythonGrader(name="partial_exact", fn=partial_exact), ROWS)
    assert strong.ok and strong.calibrated_rows == 2, str(strong)
    # With a threshold set, the threshold decides instead (0.6 < 0.7: nothing passes, nothing counts).
    strict = audit(rft.PythonGrader(name="partial", fn=partial_contains, pass_threshold=0.7), ROWS)
    assert strict.ok and strict.calibrated_rows == 0


# ------------------------------------------------------------------------------------------------
# Selection and consistency


def test_probes_selects_families_and_single_probes():
    only = audit(WEAK, ROWS, probes=["decoy_or", "retraction"])
    assert {f.probe for f in only.exploits} == {"decoy_or", "retraction", "negation"}
    ran = {fs.family: fs.probes for fs in only.families}
    assert set(ran) == {"decoys", "retraction"}
    with pytest.raises(rft.ConfigError, match="unknown probe or family 'decoy'"):
        audit(WEAK, ROWS, probes=["decoy"])
    with pytest.raises(rft.ConfigError, match="positive number of rows"):
        audit(WEAK, ROWS, limit=0)
    assert audit(WEAK, ROWS, limit=1).rows == 1


def test_every_probe_a_family_builds_is_declared_and_named_once():
    assert family_names()[:3] == ["empty", "decoys", "sweep"]
    names = probe_names()
    assert len(names) == len(set(names))
    graders = [WEAK, rft.load_grader("json_answer_matches_reference"), rft.load_grader("boxed_math")]
    for grader in graders:
        info = inspect_grader(grader)
        info.judges.append(type("J", (), {"top": 10.0, "passing_labels": ("yes",)})())  # exercise injections
        info.has_python = True
        for target in calibrate(info, [{"answer": "42"}, {"answer": "Paris"}], [0, 1]):
            for fam in FAMILIES.values():
                if fam.needs_reference and not target.calibrated:
                    continue
                for probe in fam.build(target, info):
                    assert probe.name in fam.probes, (fam.name, probe.name)
                    assert probe.arrangements and all(isinstance(a, str) for a in probe.arrangements)
                    assert re.fullmatch(r"[a-z_]+", probe.name)


def test_rft_audit_stays_the_function_once_the_package_is_imported():
    import rft.auditing._runner  # noqa: F401 - importing the package must not shadow rft.audit

    assert rft.audit is rft.auditing.audit and callable(rft.audit)
    assert rft.AuditReport is AuditReport
