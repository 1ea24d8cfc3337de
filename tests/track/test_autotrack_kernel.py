"""The auto-track example notebook in a real kernel (nbclient): the runs it makes are the ones
its text promises, each holding the cell as it was typed."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from mlflow.tracking import MlflowClient
from nbclient import NotebookClient

from jupyter_mlops.core.contracts import TAG_AUTOTRACKED, TAG_CELL_EXECUTION_COUNT

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "autotrack.ipynb"


@pytest.mark.slow
def test_autotrack_notebook_tracks_the_fit_and_metric_cells_only(tmp_path: Path, monkeypatch):
    # Given the example notebook in a fresh folder (it makes its own scratch project and store)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(NOTEBOOK, work)
    nb = nbformat.read(work / NOTEBOOK.name, as_version=4)
    # When a real kernel executes it
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(work)}}
    ).execute()
    # Then no cell failed
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert errors == []
    client = MlflowClient(f"sqlite:///{work / 'demo-project' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("autotrack-example")
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    # and exactly three runs exist: the fit cell, the metric cell (auto), the %%track cell
    assert len(runs) == 3
    fit, metric, explicit = runs
    fit_nb_cell = next(c for c in nb.cells if c.source.startswith("C = 0.5"))
    fit_cell = fit_nb_cell.source
    assert fit.data.tags[TAG_AUTOTRACKED] == "true"
    # numbered as the notebook shows it (nbclient sends no cell id, and this notebook lies
    # outside the project it makes, so the cell id is not known here)
    assert fit.data.tags[TAG_CELL_EXECUTION_COUNT] == str(fit_nb_cell.execution_count)
    stored = Path(client.download_artifacts(fit.info.run_id, "cell/source.py")).read_text()
    assert stored.rstrip("\n") == fit_cell  # the cell as typed, no magic line
    assert fit.data.params["C"] == "0.5" and fit.data.params["max_iter"] == "300"
    assert fit.data.tags["estimator_name"] == "LogisticRegression"
    assert fit.data.metrics["training_accuracy_score"] > 0.9
    assert metric.data.tags[TAG_AUTOTRACKED] == "true"
    assert metric.data.metrics["test_accuracy"] > 0.9
    assert explicit.info.run_name == "explicit-run"
    assert TAG_AUTOTRACKED not in explicit.data.tags
    assert explicit.data.params["C"] == "1.0"
    assert explicit.data.metrics["test_accuracy"] > 0.9  # its body is captured as typed
