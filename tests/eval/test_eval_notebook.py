"""notebooks/quickstart.ipynb runs headless through a real Jupyter kernel (nbclient + ipykernel)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.ipynb"


def _execute(tiny: bool, monkeypatch, runs: Path) -> object:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("RFT_NOTEBOOK_TINY", "1" if tiny else "0")
    monkeypatch.setenv("RFT_NOTEBOOK_RUNS", str(runs))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("PYTHONPATH", str(NOTEBOOK.parents[1]) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=600 if not tiny else 180,
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    return nb


def _outputs(nb, kind: str) -> list:
    return [o for o in _cell_outputs(nb) if kind in o.get("data", {})]


def _cell_outputs(nb) -> list:
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]


def _text(nb) -> str:
    return "".join(o.get("text", "") for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", []))


def _check(nb) -> None:
    text = _text(nb)
    pythons = {os.path.realpath(p) for p in text.split() if p.endswith(("python", "python3"))}
    assert os.path.realpath(sys.executable) in pythons, (
        "the kernel must run this venv's python"
    )
    assert "score=1.00" in text and "score=0.00" in text  # the hand-graded outputs
    # A python grader around a function defined in a notebook cell grades, and evaluates (issue 8 item 17).
    assert "'The answer is 42.'" in text and "number=1.00" in text
    assert "of the answers end in the right number" in text
    html = [o["data"]["text/html"] for o in _outputs(nb, "text/html")]
    assert any("rft evaluation of" in h and "<table>" in h for h in html)  # the report's HTML
    assert any("verdict" in h for h in html)  # the comparison's HTML
    assert len(_outputs(nb, "image/png")) >= 2  # report.plot() and comparison.plot()
    errors = [o for o in _cell_outputs(nb) if o.get("output_type") == "error"]
    assert not errors


def test_quickstart_notebook_with_the_tiny_model_resumes_when_run_again(monkeypatch, tmp_path):
    """Issue 8 item 26: the notebook said re-running resumes, but made a new temp folder each time."""
    first = _execute(True, monkeypatch, tmp_path)
    _check(first)
    assert "0 grades resumed from" in _text(first)
    again = _execute(True, monkeypatch, tmp_path)  # a new kernel, the same folder
    _check(again)
    assert f"{6 * 4} grades resumed from {tmp_path / 'quickstart-tiny'}" in _text(again)  # 6 items x 4 graders


@pytest.mark.slow
def test_quickstart_notebook_with_the_embedded_model(monkeypatch, tmp_path):
    nb = _execute(False, monkeypatch, tmp_path)
    _check(nb)
    text = _text(nb)
    # The first model result means something: SmolLM2 gets some sums right without the tags.
    rate = int(text.split("% of the answers end in the right number")[0].split()[-1])
    assert rate > 0
