"""notebooks/tuning.ipynb runs top to bottom on the tiny model in a real Jupyter kernel."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("trl")

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "tuning.ipynb"


def test_tuning_notebook_runs_on_the_tiny_model(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    resources = {"metadata": {"path": str(tmp_path)}}
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources=resources)
    client.execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "pre-flight:" in text and "# Tuning report" in text and "Verdict:" in text
    # On the tiny model the notebook shows a rejected round and the replay remedy.
    assert "rolled back" in text and "## Remedies tried" in text and "replay digits" in text
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in outputs)
