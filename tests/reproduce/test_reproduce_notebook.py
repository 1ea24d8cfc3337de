"""notebooks/reproduce.ipynb runs for real in a kernel: slice shown, reproduced, iterated."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from jupyter_mlops.core.pipeline.kernel import execute

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "reproduce.ipynb"


def text_of(cell: nbformat.NotebookNode, media: str = "text/plain") -> str:
    parts = []
    for output in cell.outputs:
        parts.append(output.get("text", ""))
        parts.append(output.get("data", {}).get(media, ""))
    return "".join(parts)


@pytest.mark.slow
def test_reproduce_notebook_executes_in_its_scratch_project(tmp_path, tracking_uri, monkeypatch):
    # Given the example notebook pointed at a scratch folder
    nb = nbformat.read(NOTEBOOK, as_version=4)
    demo = tmp_path / "demo"
    nb.cells[1].source = f"demo_dir = {str(demo)!r}\nseed = 0"
    # When it runs top to bottom in a real kernel
    failure = execute(nb, tmp_path, dict(os.environ), timeout=600)
    # Then no cell raised, the slice leaves the data generator out, and both reproductions ran
    assert failure is None, failure.describe()
    by_source = {c.source.splitlines()[0]: c for c in nb.cells if c.cell_type == "code"}
    script = text_of(
        by_source['print(mlflow.artifacts.load_text(f"runs:/{run_id}/cell/slice.py"))']
    )
    assert "def features(frame):" in script and 'df["a"] = df["a"] * 2' in script
    assert "make_table(300, seed)" not in script  # DVC restores data/train.csv instead
    same = text_of(by_source["from jupyter_mlops import reproduce"])
    accuracy = next(line for line in same.splitlines() if line.startswith("accuracy"))
    assert accuracy.endswith("yes"), same
    latest = text_of(by_source["%mlops_reproduce {run_id} --data latest"])
    assert "(data: latest)" in latest and "data data/train.csv@" in latest
    assert (demo / "data" / "train.csv.dvc").is_file()
    table = text_of(by_source["from jupyter_mlops import compare_runs"], "text/html")
    assert "⚠ stale: data/train.csv changed" in table  # the original run's data moved on
