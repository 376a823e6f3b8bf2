"""notebooks/quickstart.ipynb runs headless through a real Jupyter kernel (nbclient + ipykernel)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.ipynb"


def _execute(tiny: bool, monkeypatch) -> object:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("RFT_NOTEBOOK_TINY", "1" if tiny else "0")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("PYTHONPATH", str(NOTEBOOK.parents[1]) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=600 if not tiny else 180,
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    return nb


def _outputs(nb, kind: str) -> list:
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", []) if kind in o.get("data", {})]


def _check(nb) -> None:
    text = "".join(o.get("text", "") for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", []))
    assert os.path.realpath(sys.executable) in {os.path.realpath(p) for p in text.split() if p.endswith(("python", "python3"))}, (
        "the kernel must run this venv's python"
    )
    assert "score=1.00" in text and "score=0.00" in text  # the hand-graded outputs
    html = [o["data"]["text/html"] for o in _outputs(nb, "text/html")]
    assert any("rft evaluation of" in h and "<table>" in h for h in html)  # the report's HTML
    assert any("verdict" in h for h in html)  # the comparison's HTML
    assert len(_outputs(nb, "image/png")) >= 2  # report.plot() and comparison.plot()
    errors = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


def test_quickstart_notebook_with_the_tiny_model(monkeypatch):
    _check(_execute(True, monkeypatch))


@pytest.mark.slow
def test_quickstart_notebook_with_the_embedded_model(monkeypatch):
    _check(_execute(False, monkeypatch))
