"""`rft tune CONFIG.yaml` end to end on the tiny model, and its config errors."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("trl")

from rft._cli.tune import load_tune_config, register  # noqa: F401  (register is what rft.cli lists)


def _main(argv):
    import argparse

    from rft._errors import RftError

    parser = argparse.ArgumentParser(prog="rft")
    sub = parser.add_subparsers(dest="command")
    register(sub)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except RftError as exc:
        return exc


def _write(tmp_path, body):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"id": i, "prompt": f"Say {i}"}) + "\n" for i in range(4)))
    path = tmp_path / "tune.yaml"
    path.write_text(body)
    return path


@pytest.mark.parametrize(
    "body, message",
    [
        pytest.param("data: rows.jsonl\n", "missing 'graders'", id="no graders"),
        pytest.param("data: rows.jsonl\ngraders: [answer_in_tags]\nepochs: 3\n", "unknown keys ['epochs']", id="unknown top-level key"),
        pytest.param("data: rows.jsonl\ngraders: [answer_in_tags]\nguards: []\n", "need a 'target'", id="guards without target"),
        pytest.param("data: rows.jsonl\ngraders: [answer_in_tags]\nconfig: {max_stepz: 2}\n", "config.max_stepz", id="bad TuneConfig key"),
    ],
)
def test_config_errors_name_the_key(tmp_path, body, message):
    err = _main(["tune", str(_write(tmp_path, body))])
    assert message in str(err)


def test_tune_cli_trains_and_saves(tmp_path, tiny_model_path, capsys):
    path = _write(tmp_path, f"""
model: {tiny_model_path}
data: rows.jsonl
graders:
  - {{type: string_check, name: has_e, reference: e, operation: ilike}}
output_dir: {tmp_path / 'out'}
config: {{max_steps: 1, num_generations: 2, per_device_train_batch_size: 2, max_completion_length: 4, preflight: false}}
""")
    assert _main(["tune", str(path)]) == 0
    assert (tmp_path / "out" / "final" / "config.json").is_file()
    assert "tuned 1 steps" in capsys.readouterr().out


def test_relative_data_paths_resolve_from_the_config_folder(tmp_path):
    spec = load_tune_config(_write(tmp_path, "data: rows.jsonl\ngraders: [answer_in_tags]\n"))
    assert spec["data"] == str(tmp_path / "rows.jsonl") and spec["model"] == "default"
