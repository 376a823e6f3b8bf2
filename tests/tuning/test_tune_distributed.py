"""rft.tune under torchrun with two CPU processes (gloo): both ranks train, rewards are gathered.

``accelerate launch --cpu --num_processes 2`` silently runs one process on a CPU-only machine;
``torchrun --nproc_per_node 2`` starts two, which is what this test uses.
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
import rft
from rft.tuning import tune

out = sys.argv[2]
rank = int(os.environ["RANK"])


def rank_probe(completions, **kwargs):
    # Each rank scores only its own slice; rank 0 gives 0, rank 1 gives 1. TRL gathers the
    # rewards of all ranks before it logs, so the logged mean is 0.5 only if both were gathered.
    with open(os.path.join(out, f"rank{rank}.jsonl"), "a") as f:
        f.write(json.dumps({"n": len(completions)}) + "\\n")
    return [float(rank)] * len(completions)


rows = [{"prompt": f"Say {i}", "answer": str(i)} for i in range(8)]
result = tune(sys.argv[1], rows, [rank_probe, rft.StringCheck(name="has_e", reference="e", operation="ilike")],
              max_steps=2, num_generations=2, per_device_train_batch_size=2, max_completion_length=4,
              preflight=False, output_dir=os.path.join(out, "train"), learning_rate=1e-2)
if rank == 0:
    with open(os.path.join(out, "log.json"), "w") as f:
        json.dump({"log": result.log_history, "world": int(os.environ["WORLD_SIZE"])}, f)
"""


def test_two_processes_both_train_and_rewards_are_gathered(tmp_path, tiny_model_path):
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun not installed")
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(_SCRIPT))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.getcwd()}
    cmd = [torchrun, "--standalone", "--nproc_per_node", "2", str(script), str(tiny_model_path), str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=420)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    calls = {r: [json.loads(line) for line in (tmp_path / f"rank{r}.jsonl").read_text().splitlines()] for r in (0, 1)}
    assert len(calls[0]) == len(calls[1]) == 2  # one reward call per step on each rank
    assert all(c["n"] == 2 for r in calls for c in calls[r])
    saved = json.loads((tmp_path / "log.json").read_text())
    assert saved["world"] == 2
    steps = [e for e in saved["log"] if "rewards/rank_probe/mean" in e]
    assert len(steps) == 2
    assert all(e["rewards/rank_probe/mean"] == pytest.approx(0.5) for e in steps)
    assert all("rewards/has_e/mean" in e for e in steps)
