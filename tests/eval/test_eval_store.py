"""Runs that lose nothing: streaming results, resume, torn lines, SIGKILL halfway."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

import rft
from rft import ConfigError, DataError
from rft.eval import evaluate

ROWS = [{"id": f"r{i}", "prompt": f"q{i}", "answer": "yes" if i % 3 else "no"} for i in range(12)]
GRADERS = [
    rft.StringCheck(name="match", reference="{{item.answer}}"),
    rft.StringCheck(name="yes", reference="yes", operation="ilike"),
]


class Counting:
    def __init__(self):
        self.calls = 0
        self.prompts = 0

    def __call__(self, prompts):
        self.calls += 1
        self.prompts += len(prompts)
        return ["yes" if int(p[1:]) % 2 else "no" for p in prompts]


def _keys(folder: Path) -> Counter:
    lines = (folder / "results.jsonl").read_text().splitlines()
    return Counter(tuple(json.loads(line)["key"]) for line in lines if line.strip())


def _comparable(report: rft.Report) -> dict:
    data = report.to_dict()
    data["meta"] = {k: v for k, v in data["meta"].items() if k not in ("timing", "out")}
    return data


def test_results_stream_one_record_per_item_sample_grader(tmp_path):
    report = evaluate(Counting(), ROWS, GRADERS, samples_per_item=2, batch_size=5, out=tmp_path, progress=False)
    keys = _keys(tmp_path)
    assert len(keys) == 12 * 2 * 2 and set(keys.values()) == {1}
    record = json.loads((tmp_path / "results.jsonl").read_text().splitlines()[0])
    assert set(record) >= {"key", "index", "id", "sample", "grader", "output", "grade", "gen"}
    assert rft.load_report(tmp_path).to_dict() == report.to_dict()  # report.json written at the end


def test_rerun_resumes_without_generating_again(tmp_path):
    first = Counting()
    a = evaluate(first, ROWS, GRADERS, out=tmp_path, progress=False)
    second = Counting()
    b = evaluate(second, ROWS, GRADERS, out=tmp_path, progress=False)
    assert first.prompts == 12 and second.prompts == 0
    assert b.meta["timing"]["resumed_records"] == 24
    assert _comparable(a) == _comparable(b)
    assert set(_keys(tmp_path).values()) == {1}


def test_a_grader_added_later_only_grades(tmp_path):
    evaluate(Counting(), ROWS, GRADERS[:1], out=tmp_path / "run", progress=False)
    # Different graders = a different run: refused rather than mixed in...
    with pytest.raises(ConfigError, match=r"different run \(differs in: graders\)"):
        evaluate(Counting(), ROWS, GRADERS, out=tmp_path / "run", progress=False)
    # ...but records whose output exists are reused when only some graders are missing for a key.
    results = (tmp_path / "run" / "results.jsonl").read_text().splitlines()
    half = tmp_path / "half"
    evaluate(Counting(), ROWS, GRADERS, out=half, progress=False)
    lines = (half / "results.jsonl").read_text().splitlines()
    kept = [line for line in lines if json.loads(line)["grader"] == "match"]
    (half / "results.jsonl").write_text("\n".join(kept) + "\n")
    target = Counting()
    report = evaluate(target, ROWS, GRADERS, out=half, progress=False)
    assert target.prompts == 0 and report["yes"].n == 12
    assert len(results) == 12


def test_torn_last_line_is_dropped_and_redone(tmp_path):
    evaluate(Counting(), ROWS, GRADERS, out=tmp_path, progress=False)
    path = tmp_path / "results.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-3]) + lines[-3][: len(lines[-3]) // 2])  # process died mid-write
    target = Counting()
    evaluate(target, ROWS, GRADERS, out=tmp_path, progress=False)
    # Lines go item by item, graders within: the torn line is item 10's "yes" record. Item 10 keeps its
    # "match" record, so its output is reused and only regraded; item 11 (both lines lost) is generated again.
    assert target.prompts == 1
    keys = _keys(tmp_path)
    assert len(keys) == 24 and set(keys.values()) == {1}


def test_a_corrupt_complete_line_is_an_error_naming_it(tmp_path):
    evaluate(Counting(), ROWS, GRADERS, out=tmp_path, progress=False)
    path = tmp_path / "results.jsonl"
    lines = path.read_text().splitlines()
    lines[3] = "{not json"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"results.jsonl:4: not a result record"):
        evaluate(Counting(), ROWS, GRADERS, out=tmp_path, progress=False)


def test_no_resume_starts_over(tmp_path):
    evaluate(Counting(), ROWS, GRADERS, out=tmp_path, progress=False)
    target = Counting()
    evaluate(target, ROWS[:4], GRADERS, out=tmp_path, resume=False, progress=False)
    assert target.prompts == 4 and len(_keys(tmp_path)) == 8


_KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import rft
    rows = [{"id": f"r{i}", "prompt": f"q{i}", "answer": "yes" if i % 3 else "no"} for i in range(40)]
    graders = [rft.StringCheck(name="match", reference="{{item.answer}}"),
               rft.StringCheck(name="yes", reference="yes", operation="ilike")]
    def slow(prompts):
        time.sleep(float(sys.argv[2]))
        return ["yes" if int(p[1:]) % 2 else "no" for p in prompts]
    rft.evaluate(slow, rows, graders, samples_per_item=2, batch_size=2, out=sys.argv[1], progress=False)
    """
)


def test_sigkill_halfway_then_resume_gives_one_record_per_key_and_the_same_report(tmp_path):
    script = tmp_path / "run_eval.py"
    script.write_text(_KILL_SCRIPT)
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(script), str(killed), "0.05"], cwd=Path(rft.__file__).parent.parent)
    results = killed / "results.jsonl"
    deadline = time.monotonic() + 120
    total = 40 * 2 * 2
    try:
        while time.monotonic() < deadline:
            if results.exists() and results.stat().st_size and len(results.read_bytes().split(b"\n")) > total // 3:
                break
            if proc.poll() is not None:
                pytest.fail("the evaluation finished before it could be killed; make the target slower")
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "report.json").exists()
    before = sum(_keys(killed).values())
    assert 0 < before < total  # it really was stopped halfway

    # Re-running the same command resumes.
    subprocess.run([sys.executable, str(script), str(killed), "0"], check=True, cwd=Path(rft.__file__).parent.parent)
    resumed = rft.load_report(killed)
    keys = _keys(killed)
    assert len(keys) == total and set(keys.values()) == {1}  # exactly one record per key

    clean = tmp_path / "clean"
    subprocess.run([sys.executable, str(script), str(clean), "0"], check=True, cwd=Path(rft.__file__).parent.parent)
    assert _comparable(resumed) == _comparable(rft.load_report(clean))
    assert resumed.meta["timing"]["resumed_records"] == before


# ----------------------------------------------------------------------------------- file modes


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_run_files_respect_the_umask(tmp_path, umask_022):
    """report.json and run.json were 0600 (mkstemp's mode): other users could not read them."""
    report = evaluate(Counting(), ROWS, GRADERS, out=tmp_path / "run", progress=False)
    for name in ("run.json", "report.json", "results.jsonl"):
        assert _mode(tmp_path / "run" / name) == 0o644, name
    assert _mode(report.save(tmp_path / "copy.json")) == 0o644
    os.umask(0o077)  # a stricter umask is honoured as well
    report.save(tmp_path / "private.json")
    assert _mode(tmp_path / "private.json") == 0o600


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    from rft.eval._store import atomic_write_text

    path = tmp_path / "report.json"
    atomic_write_text(path, "old")

    with pytest.raises(TypeError):
        atomic_write_text(path, 42)  # type: ignore[arg-type]
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_atomic_dir_respects_the_umask_and_appears_only_when_complete(tmp_path, umask_022):
    from rft.eval._store import atomic_dir

    target = tmp_path / "best"
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "half.bin").write_text("x")
        raise RuntimeError("killed halfway")
    assert not target.exists() and list(tmp_path.iterdir()) == []  # nothing half-written is left
    with atomic_dir(target) as tmp:
        (tmp / "config.json").write_text("{}")
    assert _mode(target) == 0o755 and [p.name for p in target.iterdir()] == ["config.json"]
    with atomic_dir(target) as tmp:  # replacing an existing folder
        (tmp / "other.json").write_text("{}")
    assert [p.name for p in target.iterdir()] == ["other.json"]


def test_tune_until_saves_model_folders_with_the_umask(tmp_path, umask_022, tiny):
    pytest.importorskip("trl")
    from rft.tuning._until import _save_model

    model, tok = tiny
    saved = _save_model(model, tok, tmp_path / "rounds" / "best")
    assert _mode(saved) == 0o755 and (saved / "config.json").is_file()
    assert all(_mode(p) == 0o644 for p in saved.iterdir() if p.is_file())


# ----------------------------------------------------------------------------------- Ctrl-C


class InterruptedAfter:
    """A callable target that answers until it has been asked for more than ``limit`` prompts in
    all, then raises KeyboardInterrupt, as Ctrl-C does in the middle of a generation batch."""

    def __init__(self, limit: int):
        self.limit = limit
        self.prompts = 0

    def __call__(self, prompts):
        if self.prompts + len(prompts) > self.limit:
            raise KeyboardInterrupt
        self.prompts += len(prompts)
        return ["yes" if int(p[1:]) % 2 else "no" for p in prompts]


def test_ctrl_c_in_the_first_batch_keeps_the_finished_samples(tmp_path, capsys):
    """Issue 8 item 13: 20 s of generation, then Ctrl-C, left results.jsonl empty: the first batch
    held every prompt. The first batches are now small (8, 16, ...), each graded and saved."""
    rows = [{"id": f"r{i}", "prompt": f"q{i}", "answer": "yes" if i % 3 else "no"} for i in range(40)]
    with pytest.raises(KeyboardInterrupt):
        evaluate(InterruptedAfter(20), rows, GRADERS, batch_size=32, out=tmp_path, progress=False)
    saved = _keys(tmp_path)
    assert len(saved) == 8 * len(GRADERS) and set(saved.values()) == {1}  # the first batch of 8 is on disk
    err = capsys.readouterr().err
    assert "interrupted" in err and f"{8 * len(GRADERS)} of {40 * len(GRADERS)} grades are saved" in err
    assert "run the same evaluation again to resume" in err

    again = InterruptedAfter(limit=10**6)  # the same target (its name is part of the run), not interrupted
    report = evaluate(again, rows, GRADERS, batch_size=32, out=tmp_path, progress=False)
    assert again.prompts == 40 - 8  # no finished sample is generated again
    keys = _keys(tmp_path)
    assert len(keys) == 40 * len(GRADERS) and set(keys.values()) == {1}
    never = InterruptedAfter(limit=10**6)
    clean = evaluate(never, rows, GRADERS, batch_size=32, out=tmp_path / "clean", progress=False)
    assert _comparable(report)["items"] == _comparable(clean)["items"]


def test_ctrl_c_while_a_real_model_generates_then_resume(tmp_path, tiny_model_path):
    """The same with the tiny Hugging Face model, interrupted inside its second generate() call."""
    from rft.models import load_model

    model, tok = load_model(tiny_model_path)
    real_generate = model.generate
    calls = []

    def interrupted_generate(*args, **kwargs):
        calls.append(kwargs.get("input_ids", args[0] if args else None).shape[0])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_generate(*args, **kwargs)

    model.generate = interrupted_generate
    rows = [{"id": i, "prompt": f"Say {i} " * (1 + i % 3), "answer": str(i)} for i in range(12)]
    grader = rft.StringCheck(name="has_e", reference="e", operation="ilike")
    settings = {"max_new_tokens": 3, "batch_size": 16, "progress": False}
    with pytest.raises(KeyboardInterrupt):
        evaluate((model, tok), rows, grader, out=tmp_path / "run", **settings)
    assert calls == [8, 4]  # the first batch (8 prompts) finished, the second was interrupted
    assert len(_keys(tmp_path / "run")) == 8

    model.generate = real_generate
    resumed = evaluate((model, tok), rows, grader, out=tmp_path / "run", **settings)
    assert resumed.meta["timing"]["resumed_records"] == 8 and resumed.meta["timing"]["generated_samples"] == 4
    clean = evaluate((model, tok), rows, grader, out=tmp_path / "clean", **settings)
    assert [i.outputs for i in resumed.items] == [i.outputs for i in clean.items]  # greedy: the same outputs
