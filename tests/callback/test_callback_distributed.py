"""EvalCallback under torchrun with two CPU processes (gloo): rank 0 evaluates, rank 1 waits, both
log the same metrics and stop at the same step; a failure on rank 0 ends both, without a hang.

``accelerate launch --cpu --num_processes 2`` silently runs one process on a CPU-only machine;
``torchrun --nproc_per_node 2`` starts two (as in tests/tuning/test_tune_distributed.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("trl")

_SCRIPT = """
import json, os, sys
from datasets import Dataset
from trl import SFTConfig, SFTTrainer
import rft
from rft.models import load_model

model_dir, out, mode = sys.argv[1], sys.argv[2], sys.argv[3]
rank = int(os.environ["RANK"])


def check(name, reference):
    return {"type": "string_check", "name": name, "input": "{{sample.output_text}}", "reference": reference,
            "operation": "like"}


# Before training the tiny model answers "??????" to these prompts; training on "yes" destroys that.
asks = {"name": "asks", "data": [{"prompt": f"What is {i} + 2?", "id": i} for i in range(12)],
        "graders": [check("has_q", "?")], "generation": {"max_new_tokens": 6}}
says_yes = {"name": "yes", "data": [{"prompt": f"What is {i} + 3?", "id": i} for i in range(12)],
            "graders": [check("says_yes", "yes")], "generation": {"max_new_tokens": 6}}
if mode == "error" and rank == 0:
    from rft.eval._suite import Suite

    run = Suite.run

    def failing_run(self, **kw):  # rank 0's second evaluation (step 2; two suites) fails: the disk is full
        failing_run.calls += 1
        if failing_run.calls > 2:
            raise OSError("No space left on device")
        return run(self, **kw)

    failing_run.calls = 0
    Suite.run = failing_run

cb = rft.EvalCallback([says_yes, asks], every_n_steps=2, guards={"asks": 0.1})
model, tok = load_model(model_dir)
rows = [{"prompt": f"What is {i} + 1?", "completion": " yes yes yes yes"} for i in range(16)]
args = SFTConfig(output_dir=os.path.join(out, "train"), max_steps=6, per_device_train_batch_size=2, learning_rate=5e-2,
                 use_cpu=True, bf16=False, report_to="none", save_strategy="no", logging_steps=1, seed=1,
                 disable_tqdm=True, max_length=32)
trainer = SFTTrainer(model=model, processing_class=tok, args=args, train_dataset=Dataset.from_list(rows),
                     callbacks=[cb])
try:
    trainer.train()
except Exception as exc:
    with open(os.path.join(out, f"rank{rank}.error"), "w") as f:
        f.write(f"{type(exc).__name__}: {exc}")
    if rank == 0:  # let rank 1 say what it got before torchrun ends it
        import time

        for _ in range(600):
            if os.path.exists(os.path.join(out, "rank1.error")):
                break
            time.sleep(0.1)
    raise
rft_logs = [e for e in trainer.state.log_history if any(k.startswith("rft/") for k in e)]
with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
    json.dump({"step": trainer.state.global_step, "rft": rft_logs, "stopped": cb.stopped,
               "world": int(os.environ["WORLD_SIZE"])}, f)
"""


def _torchrun(tmp_path, model_dir, mode):
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun not installed")
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(_SCRIPT))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.getcwd()}
    cmd = [torchrun, "--standalone", "--nproc_per_node", "2", str(script), str(model_dir), str(tmp_path), mode]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=420)


def test_two_processes_log_the_same_metrics_and_a_guard_stops_both(tmp_path, tiny_model_path):
    done = _torchrun(tmp_path, tiny_model_path, "guard")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world"] == 2
    assert ranks[0]["step"] == ranks[1]["step"] == 2  # both stopped after the guard failed at step 2
    assert ranks[0]["rft"] == ranks[1]["rft"]  # the same entries on both ranks (rank 0's, broadcast)
    assert [e["step"] for e in ranks[0]["rft"]] == [0, 2]
    assert ranks[0]["rft"][1]["rft/asks/has_q/holds"] == 0.0
    assert ranks[0]["stopped"] == ranks[1]["stopped"] and "guard asks" in ranks[0]["stopped"]
    reports = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.glob("train/rft-eval/*/*/report.json"))
    assert reports == [f"train/rft-eval/{s}/step-{n}/report.json" for s in ("asks", "yes") for n in (0, 2)]
    lines = (tmp_path / "train" / "rft-eval" / "evaluations.jsonl").read_text().splitlines()
    assert len(lines) == 2  # written by rank 0 alone


def test_a_failure_on_rank_0_ends_both_processes(tmp_path, tiny_model_path):
    done = _torchrun(tmp_path, tiny_model_path, "error")
    assert done.returncode != 0
    errors = {r: (tmp_path / f"rank{r}.error").read_text() for r in (0, 1)}
    assert errors[0] == "OSError: No space left on device"
    assert errors[1] == ("RftError: EvalCallback: the evaluation on rank 0 failed at step 2: "
                         "OSError: No space left on device")
    assert not list(tmp_path.glob("rank*.json"))  # neither trained on
