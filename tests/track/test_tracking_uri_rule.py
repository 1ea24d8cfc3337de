"""The tracking URI never sticks: resetting ``%config MlopsMagics.tracking_uri`` to "" brings
later cells back to the rule (env var, else the project db), whatever MLflow exported meanwhile."""

from __future__ import annotations

import os
from pathlib import Path

from mlflow.tracking import MlflowClient


def _run_count(uri: str) -> int:
    from jupyter_mlops.core.tracking.journal import wait_for_delivery

    assert wait_for_delivery(120)
    client = MlflowClient(tracking_uri=uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    return len(client.search_runs(ids)) if ids else 0


def test_reset_trait_goes_back_to_the_env_var(tracked, tracking_uri, tmp_path: Path) -> None:
    # Given a cell tracked into another store through the trait
    other = f"sqlite:///{tmp_path / 'other.db'}"
    tracked.shell.run_line_magic("config", f'MlopsMagics.tracking_uri = "{other}"')
    tracked.cell("a = 1\n", "--no-autolog")
    assert os.environ["MLFLOW_TRACKING_URI"] == tracking_uri  # the user's setting, untouched

    # When the trait is reset and another cell runs
    tracked.shell.run_line_magic("config", 'MlopsMagics.tracking_uri = ""')
    tracked.cell("b = 2\n", "--no-autolog")

    # Then that cell went to the env var's store, not to other.db
    assert _run_count(other) == 1
    assert _run_count(tracking_uri) == 1


def test_reset_trait_goes_back_to_the_project_db(tracked, project, monkeypatch, tmp_path) -> None:
    # Given no env var at all
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    other = f"sqlite:///{tmp_path / 'other.db'}"
    tracked.shell.run_line_magic("config", f'MlopsMagics.tracking_uri = "{other}"')
    tracked.cell("a = 1\n", "--no-autolog")
    assert "MLFLOW_TRACKING_URI" not in os.environ

    tracked.shell.run_line_magic("config", 'MlopsMagics.tracking_uri = ""')
    tracked.cell("b = 2\n", "--no-autolog")

    assert _run_count(other) == 1
    assert _run_count(f"sqlite:///{project.resolve() / 'mlflow.db'}") == 1


def test_in_cell_mlflow_calls_still_land_in_the_tracked_run(tracked, tmp_path) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    tracked.shell.run_line_magic("config", f'MlopsMagics.tracking_uri = "{other}"')
    tracked.cell("import mlflow\nmlflow.log_metric('inside', 3.0)\n", "--no-autolog")
    client = MlflowClient(tracking_uri=other)
    ids = [e.experiment_id for e in client.search_experiments()]
    (run,) = client.search_runs(ids)
    assert run.data.metrics["inside"] == 3.0
