"""Helpers for the %%track tests: run a tracked cell, read back the run it made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mlflow.entities import Run
from mlflow.tracking import MlflowClient


class Tracked:
    """Runs cells through a real shell and reads MLflow back with a real client."""

    def __init__(self, shell: Any, uri: str) -> None:
        self.shell = shell
        self.client = MlflowClient(tracking_uri=uri)

    def cell(self, body: str, line: str = "", cell_id: str | None = None) -> Any:
        """Run ``%%track line`` + body as a notebook would; return IPython's ExecutionResult."""
        return self.shell.run_cell(f"%%track {line}\n{body}", cell_id=cell_id)

    def magic(self, body: str, line: str = "") -> Any:
        """Call the magic directly, so UsageError and the cell's exception reach the test."""
        return self.shell.run_cell_magic("track", line, body)

    def runs(self) -> list[Run]:
        """All runs of the store, newest first (once the journal has delivered them)."""
        from jupyter_mlops.core.tracking.journal import wait_for_delivery

        assert wait_for_delivery(120), "tracked runs not delivered within 120 s"
        ids = [e.experiment_id for e in self.client.search_experiments()]
        return self.client.search_runs(ids, order_by=["attributes.start_time DESC"])

    def last(self) -> Run:
        runs = self.runs()
        assert runs, "no run was logged"
        return runs[0]

    def artifact_paths(self, run: Run, path: str | None = None) -> list[str]:
        """Every artifact file of ``run`` (recursively)."""
        found = []
        for item in self.client.list_artifacts(run.info.run_id, path):
            if item.is_dir:
                found.extend(self.artifact_paths(run, item.path))
            else:
                found.append(item.path)
        return sorted(found)

    def artifact_text(self, run: Run, path: str) -> str:
        local = self.client.download_artifacts(run.info.run_id, path)
        return Path(local).read_text(encoding="utf-8")


@pytest.fixture
def tracked(shell: Any, tracking_uri: str) -> Tracked:
    return Tracked(shell, tracking_uri)
