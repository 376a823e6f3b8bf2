"""``rft audit`` through the real ``rft.cli.main``: exit 0 clean, 1 exploitable with the table,
2 on usage, config and data errors; ``--out`` writes the full report."""

from __future__ import annotations

import json

import yaml

from rft.auditing import AuditReport
from rft.cli import main


def _rows(tmp_path, rows, name="rows.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_a_clean_grader_exits_0(tmp_path, capsys):
    data = _rows(tmp_path, [{"id": "a", "answer": "42"}, {"id": "b", "answer": "7"}])
    assert main(["audit", "answer_matches_reference", "--data", data]) == 0
    out = capsys.readouterr().out
    assert "no exploit found" in out


def test_an_exploitable_grader_exits_1_with_the_table_and_writes_the_report(tmp_path, capsys):
    weak = tmp_path / "contains.yaml"
    weak.write_text(
        yaml.safe_dump(
            {
                "type": "string_check",
                "name": "contains",
                "input": "{{sample.output_text}}",
                "reference": "{{item.answer}}",
                "operation": "like",
            }
        )
    )
    data = _rows(tmp_path, [{"id": "a", "answer": "42"}])
    out_path = tmp_path / "audit.json"
    assert main(["audit", str(weak), "--data", data, "--out", str(out_path)]) == 1
    out = capsys.readouterr().out
    assert "EXPLOITABLE" in out
    table = out.split("\n\n")[1]
    assert table.splitlines()[0].split() == ["probe", "family", "rows", "score", "example", "item", "completion"]
    assert "decoy_or" in table and "think_hidden" in table
    saved = json.loads(out_path.read_text())
    assert saved["ok"] is False and saved["grader"] == "contains"
    assert {f["probe"] for f in saved["exploits"]} >= {"decoy_or", "decoy_list", "think_hidden"}
    assert AuditReport.from_dict(saved).to_dict() == saved


def test_probes_and_limit_narrow_the_audit(tmp_path, capsys):
    weak = tmp_path / "contains.json"
    weak.write_text(
        json.dumps({"type": "string_check", "name": "contains", "reference": "{{item.answer}}", "operation": "like"})
    )
    data = _rows(tmp_path, [{"answer": "42"}, {"answer": "7"}, {"answer": "9"}])
    assert main(["audit", str(weak), "--data", data, "--probes", "empty,retraction", "--limit", "1"]) == 1
    out = capsys.readouterr().out
    assert "on 1 row" in out and "retraction" in out and "decoy_or" not in out


def test_usage_config_and_data_errors_exit_2(tmp_path, capsys):
    data = _rows(tmp_path, [{"answer": "42"}])
    assert main(["audit", "answer_matches_reference"]) == 2  # --data is required
    assert main(["audit", "no_such_grader", "--data", data]) == 2
    assert "neither a grader file nor a catalogue grader" in capsys.readouterr().err
    assert main(["audit", "answer_matches_reference", "--data", str(tmp_path / "missing.jsonl")]) == 2
    assert main(["audit", "answer_matches_reference", "--data", _rows(tmp_path, [{"question": "?"}], "bad.jsonl")]) == 2
    assert "answer" in capsys.readouterr().err
    assert main(["audit", "answer_matches_reference", "--data", data, "--probes", "nonsense"]) == 2
    assert "unknown probe or family 'nonsense'" in capsys.readouterr().err
    code = tmp_path / "code.yaml"
    code.write_text(
        yaml.safe_dump({"type": "python", "name": "p", "source": "def grade(sample, item):\n    return 1.0\n"})
    )
    assert main(["audit", str(code), "--data", data]) == 2
    assert "trust" in capsys.readouterr().err
