"""notebooks/callback.ipynb runs top to bottom on the tiny model in a real Jupyter kernel: a plain TRL
GRPO script with rft.EvalCallback added, its suite metrics plotted beside the reward curve."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("trl")

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "callback.ipynb"


def test_callback_notebook_runs_on_the_tiny_model(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.delenv("RFT_NOTEBOOK_FULL", raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    html = "\n".join(o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {}))
    # The log excerpt: one row per evaluation (steps 0, 2, 4, 6), the suites' pass rates as columns.
    assert "rft/tags/answer_in_tags/pass_rate" in html and "rft/plain_sum/states_sum/pass_rate" in html
    assert "rft/eval_seconds" in html
    # The plot of suite metrics beside the reward curve, and the comparison of the first and last step.
    assert any("image/png" in o.get("data", {}) for o in outputs)
    text = "\n".join(o.get("text", "") for o in outputs)
    assert "compare step-0 -> step-6" in text
    assert "verdict" in html
