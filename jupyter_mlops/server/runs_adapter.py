"""The sidebar's runs API over one tracking store: experiments, run pages, details, artifacts.

A thin adapter: pages and keys come from ``core.runs`` (the queries the widgets use), artifact
listing and typing from ``server.artifacts``; run details and metric histories through the
``MlflowClient`` that ``core.store.get_client`` opens. Nothing here imports mlflow itself.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import jupyter_mlops.server.artifacts as artifacts
from jupyter_mlops.core.errors import NotFound
from jupyter_mlops.core.store import get_client

MAX_HISTORY_POINTS = 2000


class RunsAdapter:
    """Experiments, runs and artifacts of one tracking store, as plain dicts for the handlers."""

    def __init__(
        self,
        tracking_uri: str,
        *,
        max_artifact_bytes: int,
        max_entries: int,
        read_uri: str | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.read_uri = read_uri  # None: JUPYTER_MLOPS_READ_URI, if set
        self.max_artifact_bytes = max_artifact_bytes
        self.max_entries = max_entries
        self.ready = False

    @property
    def client(self) -> Any:
        """An MLflow client on this store (opened by core, prepared once per process)."""
        return get_client(self.tracking_uri)

    # --- experiments and runs ---------------------------------------------------------
    def experiments(self) -> list[dict[str, Any]]:
        """Active experiments, most recently updated first."""
        from jupyter_mlops.core.runs.summaries import list_experiments

        return list_experiments(self.tracking_uri)

    def runs(
        self,
        experiment_id: str,
        *,
        filter_string: str | None,
        order_by: list[str] | None,
        offset: int,
        limit: int,
    ) -> dict[str, Any]:
        """One page of an experiment's runs, by the core run query the widgets use."""
        from jupyter_mlops.core.runs.summaries import query_runs

        self.experiment(experiment_id)
        page = query_runs(
            self.tracking_uri,
            [experiment_id],
            filter_string=filter_string,
            order_by=order_by,
            offset=offset,
            limit=limit,
            read_uri=self.read_uri,
        )
        return page.to_dict()

    def keys(self, experiment_id: str) -> dict[str, Any]:
        """Metric and param names of an experiment's runs, and the metric to sort by default."""
        from jupyter_mlops.core.models.champion import default_primary_metric
        from jupyter_mlops.core.runs.summaries import run_keys

        self.experiment(experiment_id)
        keys = run_keys(self.tracking_uri, [experiment_id], read_uri=self.read_uri)
        return {**keys, "primary_metric": default_primary_metric(keys["metrics"])}

    def warm(self) -> None:
        """Import the query code and open the store ahead of the first request (background)."""
        from jupyter_mlops.core.runs.summaries import query_runs

        found = self.client.search_experiments(max_results=1)
        if found:
            query_runs(self.tracking_uri, [found[0].experiment_id], limit=1, read_uri=self.read_uri)
        self.ready = True

    def experiment(self, experiment_id: str) -> dict[str, Any]:
        """One experiment; NotFound when the id is unknown."""
        from jupyter_mlops.core.runs.summaries import find_experiment

        exp = find_experiment(self.tracking_uri, experiment_id)
        if exp is None:
            raise NotFound(f"no experiment with id {experiment_id}")
        return {"experiment_id": exp["experiment_id"], "name": exp["name"]}

    def run(self, run_id: str) -> dict[str, Any]:
        """Details of one run (core's run summary) with its artifact list."""
        from jupyter_mlops.core.runs.summaries import summary_from_run

        run = self.client.get_run(run_id)
        detail = summary_from_run(run).to_dict()
        detail["artifact_uri"] = run.info.artifact_uri
        listing = self.artifact_list(run_id, run.info.artifact_uri)
        detail["artifacts"], detail["artifacts_truncated"] = listing
        return detail

    def metric_history(self, run_id: str, key: str) -> list[dict[str, Any]]:
        """All points of one metric (evenly thinned to at most 2,000)."""
        self.client.get_run(run_id)
        points = self.client.get_metric_history(run_id, key)
        if not points:
            raise NotFound(f"run {run_id} has no metric {key!r}")
        points = sorted(points, key=lambda m: (m.step, m.timestamp))
        if len(points) > MAX_HISTORY_POINTS:
            stride = len(points) / MAX_HISTORY_POINTS
            points = [points[int(i * stride)] for i in range(MAX_HISTORY_POINTS)] + [points[-1]]
        return [{"step": m.step, "value": m.value, "timestamp": m.timestamp} for m in points]

    # --- artifacts ----------------------------------------------------------------------
    def artifact_list(self, run_id: str, artifact_uri: str) -> tuple[list[dict[str, Any]], bool]:
        """Entries of a run (breadth first), capped at ``max_entries``; bad links skipped."""
        root = artifacts.local_artifact_root(artifact_uri)
        if root is not None:
            return artifacts.list_local(root, self.max_entries)
        return artifacts.list_remote(self.client, run_id, self.max_entries)

    def artifact(self, run_id: str, path: str) -> tuple[bytes, str]:
        """Content and media type of one artifact file, refused outside the run."""
        artifacts.check_artifact_path(path)
        run = self.client.get_run(run_id)
        root = artifacts.local_artifact_root(run.info.artifact_uri)
        limit = self.max_artifact_bytes
        if root is not None:
            return artifacts.read_file(root, root / path, path, limit)
        with tempfile.TemporaryDirectory(prefix="jupyter-mlops-") as tmp:
            try:
                local = self.client.download_artifacts(run_id, path, tmp)
            except Exception as error:
                raise NotFound(f"run {run_id} has no artifact {path!r}") from error
            return artifacts.read_file(Path(tmp), Path(local), path, limit)
