"""`rft tune CONFIG.yaml` end to end on the tiny model through the real `rft.cli.main`, and its config errors."""

from __future__ import annotations

import json
import re

import pytest
import yaml

pytest.importorskip("trl")

from rft._cli.tune import load_tune_config
from rft.cli import main

TINY_RUN = {"max_steps": 1, "num_generations": 2, "per_device_train_batch_size": 2, "max_completion_length": 4,
            "preflight_prompts": 2, "audit": False}  # toy graders, gameable on purpose (see test_tune_audit)
HAS_E = {"type": "string_check", "name": "has_e", "reference": "e", "operation": "ilike"}
PREFLIGHT_RAN = re.compile(r"pre-flight: \d+ prompts x \d+ completions")  # the head of its report
NEVER = {"type": "string_check", "name": "never", "reference": "IMPOSSIBLE TEXT", "operation": "like"}


def _write(tmp_path, body):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"id": i, "prompt": f"Say {i}"}) + "\n" for i in range(4)))
    path = tmp_path / "tune.yaml"
    path.write_text(body if isinstance(body, str) else yaml.safe_dump(body))
    return path


@pytest.mark.parametrize(
    "body, message",
    [
        pytest.param("data: rows.jsonl\n", "missing 'graders'", id="no graders"),
        pytest.param(
            "data: rows.jsonl\ngraders: [answer_in_tags]\nepochs: 3\n",
            "unknown keys ['epochs']",
            id="unknown top-level key",
        ),
        pytest.param(
            "data: rows.jsonl\ngraders: [answer_in_tags]\nguards: []\n", "need a 'target'", id="guards without target"
        ),
        pytest.param(
            "data: rows.jsonl\ngraders: [answer_in_tags]\nconfig: {max_stepz: 2}\n",
            "config.max_stepz",
            id="bad TuneConfig key",
        ),
        pytest.param(
            "data: rows.jsonl\ngraders: [answer_in_tags]\n"
            "target: {name: t, data: rows.jsonl, graders: [answer_in_tags]}\n"
            "until: {keep_if: sometimes}\n",
            "until.keep_if: unknown keep_if 'sometimes'",
            id="bad until value",
        ),
        pytest.param(
            "data: rows.jsonl\ngraders: [answer_in_tags]\ntarget: suites/none.yaml\n",
            "suites/none.yaml' does not exist",
            id="missing target suite file",
        ),
        pytest.param(
            "data: rows.jsonl\ngraders: [answer_in_tags]\nweights: {nope: 2}\n",
            "weights: weights name unknown graders",
            id="weights for an unknown grader",
        ),
    ],
)
def test_config_errors_name_the_key(tmp_path, capsys, body, message):
    path = _write(tmp_path, body)
    assert main(["tune", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err


def test_tune_cli_trains_and_saves(tmp_path, tiny_model_path, capsys):
    path = _write(tmp_path, {"model": str(tiny_model_path), "data": "rows.jsonl", "graders": [HAS_E],
                             "output_dir": "out", "config": {**TINY_RUN, "preflight": False}})
    assert main(["tune", str(path)]) == 0
    assert (tmp_path / "out" / "config.json").is_file()  # output_dir is relative to the config file
    out = capsys.readouterr().out
    assert "tuned 1 steps" in out and str(tmp_path / "out") in out


def test_relative_paths_resolve_from_the_config_folder_only(tmp_path, monkeypatch):
    (tmp_path / "graders").mkdir()
    (tmp_path / "graders" / "e.yaml").write_text(yaml.safe_dump(HAS_E))
    spec = load_tune_config(_write(tmp_path, "data: rows.jsonl\ngraders: [graders/e.yaml, answer_in_tags]\n"))
    assert spec["data"] == str(tmp_path / "rows.jsonl") and spec["model"] == "default"
    assert spec["graders"] == [str(tmp_path / "graders" / "e.yaml"), "answer_in_tags"]
    # A file that exists only in the current directory is not used: one rule, the config's folder.
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "tune.yaml"
    path.write_text("data: rows.jsonl\ngraders: [answer_in_tags]\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Exception) as info:
        load_tune_config(path)
    assert str(tmp_path / "conf" / "rows.jsonl") in str(info.value) and "data" in str(info.value)


def test_bad_guard_grader_is_found_before_the_preflight_and_named_by_its_path(tmp_path, tiny_model_path, capsys):
    path = _write(tmp_path, {
        "model": str(tiny_model_path), "data": "rows.jsonl", "graders": [HAS_E], "output_dir": "out",
        "target": {"name": "t", "data": "rows.jsonl", "graders": [HAS_E]},
        "guards": [
            {
                "name": "g",
                "data": "rows.jsonl",
                "graders": [{"type": "string_check", "name": "x", "operation": "sideways"}],
            }
        ],
        "config": TINY_RUN,
    })
    assert main(["tune", str(path)]) == 2
    captured = capsys.readouterr()
    assert "guards[0].graders[0].operation: unknown operation 'sideways'" in captured.err
    assert not PREFLIGHT_RAN.search(captured.out)  # nothing slow ran


@pytest.mark.parametrize("with_target", [False, True], ids=["plain tune", "with target"])
def test_no_signal_exits_1_with_or_without_a_target(tmp_path, tiny_model_path, capsys, with_target):
    body = {
        "model": str(tiny_model_path), "data": "rows.jsonl", "graders": [NEVER], "output_dir": "out", "config": TINY_RUN
    }
    if with_target:
        body["target"] = {"name": "t", "data": "rows.jsonl", "graders": [HAS_E]}
    assert main(["tune", str(_write(tmp_path, body))]) == 1  # the work ran and found the bar cannot be met
    out = capsys.readouterr().out
    assert "NO SIGNAL" in out and "few-shot" in out
    assert not any((tmp_path / "out" / name).exists() for name in ("config.json", "rounds", "best"))  # nothing trained


def test_a_suite_file_is_a_target_and_a_finished_run_is_not_preflighted_again(tmp_path, tiny_model_path, capsys):
    (tmp_path / "suites").mkdir()
    suite = {"name": "t", "data": "../rows.jsonl", "graders": [HAS_E]}
    (tmp_path / "suites" / "t.yaml").write_text(yaml.safe_dump(suite))
    path = _write(tmp_path, {
        "model": str(tiny_model_path), "data": "rows.jsonl", "graders": [NEVER], "output_dir": "out",
        "target": "suites/t.yaml", "until": {"rounds": 1, "steps_per_round": 1}, "config": TINY_RUN,
    })
    assert main(["tune", str(path), "--no-preflight"]) == 0  # NEVER has no signal: the pre-flight would stop it
    state = json.loads((tmp_path / "out" / "state.json").read_text())
    assert state["stopped"] and len(state["rounds"]) == 1
    capsys.readouterr()
    assert main(["tune", str(path)]) == 0  # finished: no pre-flight, no new round
    out = capsys.readouterr().out
    assert not PREFLIGHT_RAN.search(out) and "NO SIGNAL" not in out
    assert len(json.loads((tmp_path / "out" / "state.json").read_text())["rounds"]) == 1
