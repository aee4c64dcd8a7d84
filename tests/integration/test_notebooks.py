"""The example notebooks run headless on the embedded model (nbclient), as a user would run them."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "examples" / "notebooks"


def outputs(notebook) -> list[dict]:
    return [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]


@pytest.mark.parametrize("name", ["attention_and_entropy.ipynb", "sampling.ipynb"])
def test_the_repository_keeps_notebooks_without_outputs(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    assert not outputs(notebook) and all(c.get("execution_count") is None for c in notebook.cells
                                         if c.cell_type == "code")


@pytest.mark.integration
def test_both_notebooks_run_headless_and_show_their_figures():
    started, ran = time.perf_counter(), {}
    for name in ["attention_and_entropy.ipynb", "sampling.ipynb"]:
        notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
        NotebookClient(notebook, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()  # raises on a failing cell
        ran[name] = outputs(notebook)
    seconds = time.perf_counter() - started
    images = {name: sum("image/png" in out.get("data", {}) for out in outs) for name, outs in ran.items()}
    assert images == {"attention_and_entropy.ipynb": 3, "sampling.ipynb": 1}, images
    text = "".join(out.get("text", "") for out in ran["attention_and_entropy.ipynb"])
    assert "4 records; the first: 30 layers x 9 heads" in text
    text = "".join(out.get("text", "") for out in ran["sampling.ipynb"])
    assert "top_k=5" in text and "continuation" in text
    assert seconds < 180, f"{seconds:.0f} s"  # 90 s on a quiet 2-core machine; room for a busy one
