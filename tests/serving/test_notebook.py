"""notebooks/serving.ipynb executes end to end in a real kernel with static summaries kept."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow
NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "serving.ipynb"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        parts.append(out.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def test_serving_notebook_runs_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_MLOPS_SERVING_DIR", str(tmp_path / "serving"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])
    )
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells[1].source = f"demo_dir = {str(tmp_path / 'demo')!r}"
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    served = next(c for c in code if "server\n" in c.source or c.source.endswith("server"))
    data = served.outputs[0]["data"]
    assert (
        WIDGET_VIEW in data and "models:/iris-classifier@champion v1 serving" in data["text/plain"]
    )
    assert "<b>models:/iris-classifier@champion v1 serving" in data["text/html"]
    bad_input = _text(next(c for c in code if "def post" in c.source))
    assert "(200, {'predictions':" in bad_input
    assert "(400, {'error': 'ValueError: The feature names should match" in bad_input
    swap = _text(next(c for c in code if "now serving version" in c.source))
    assert "serving 2 right after promote(); servers that could not swap: []" in swap
    assert "now serving version 2 - replies by version: {'2': 45}" in swap
    assert "errors so far: 1 of" in swap  # only the deliberate bad request
    assert "versions served: ['1', '2']" in swap
    final = code[-1].outputs[0]["data"]["text/plain"]
    assert "v2 stopped" in final and "92 requests, 1 errors" in final
