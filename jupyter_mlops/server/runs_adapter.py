"""What the sidebar reads and changes, as plain dicts: one object over one tracking store.

Runs pages come from ``core.runs.query_runs`` and promotions go through ``core.registry`` —
the same functions the widgets use. The rest (experiments, run details, artifacts, models)
goes through the ``MlflowClient`` that ``core.store.get_client`` opens; nothing here imports
mlflow itself.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from jupyter_mlops.core.store import get_client
from jupyter_mlops.server.errors import BadRequest, NotFound, TooLarge, Unsupported

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
MAX_HISTORY_POINTS = 2000


def check_artifact_path(path: str) -> str:
    """Refuse artifact paths that could leave the run: absolute, ``..``, backslashes, NUL."""
    if not isinstance(path, str) or not path or len(path) > 1024:
        raise BadRequest("artifact path must be a non-empty relative path")
    if "\x00" in path or "\\" in path:
        raise BadRequest("artifact path must not contain NUL or backslashes")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise BadRequest("artifact path must be relative to the run's artifacts")
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise BadRequest("artifact path must not contain '..', '.' or empty segments")
    return path


def local_artifact_root(artifact_uri: str) -> Path | None:
    """The folder behind a run's artifact URI when it is on this machine, else None."""
    parsed = urlparse(artifact_uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        return Path(artifact_uri)
    return None


def inside(root: Path, target: Path) -> Path:
    """``target`` with symlinks resolved, if it stays within ``root``; else BadRequest."""
    real_root = root.resolve()
    real = target.resolve()
    if real != real_root and real_root not in real.parents:
        raise BadRequest("artifact path leaves the run's artifact folder")
    return real


class StoreView:
    """Read (and promote in) one tracking store on behalf of the REST handlers."""

    def __init__(self, tracking_uri: str, *, max_artifact_bytes: int, max_entries: int) -> None:
        self.tracking_uri = tracking_uri
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
        )
        return page.to_dict()

    def keys(self, experiment_id: str) -> dict[str, Any]:
        """Metric and param names of an experiment's runs, and the metric to sort by default."""
        from jupyter_mlops.core.models.registry import default_primary_metric
        from jupyter_mlops.core.runs.summaries import run_keys

        self.experiment(experiment_id)
        keys = run_keys(self.tracking_uri, [experiment_id])
        return {**keys, "primary_metric": default_primary_metric(keys["metrics"])}

    def warm(self) -> None:
        """Import the query code and open the store ahead of the first request (background)."""
        from jupyter_mlops.core.runs.summaries import query_runs

        found = self.client.search_experiments(max_results=1)
        if found:
            query_runs(self.tracking_uri, [found[0].experiment_id], limit=1)
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
        detail["artifacts"], detail["artifacts_truncated"] = self.artifact_list(run_id)
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
    def artifact_list(self, run_id: str) -> tuple[list[dict[str, Any]], bool]:
        """Files of a run (recursively, breadth first), capped at ``max_entries``."""
        files: list[dict[str, Any]] = []
        pending: list[str | None] = [None]
        while pending:
            folder = pending.pop(0)
            for entry in self.client.list_artifacts(run_id, folder):
                if len(files) >= self.max_entries:
                    return files, True
                files.append({"path": entry.path, "is_dir": entry.is_dir, "size": entry.file_size})
                if entry.is_dir:
                    pending.append(entry.path)
        return files, False

    def artifact(self, run_id: str, path: str) -> tuple[bytes, str]:
        """Content and media type of one text or image artifact, refused outside the run."""
        check_artifact_path(path)
        run = self.client.get_run(run_id)
        root = local_artifact_root(run.info.artifact_uri)
        if root is not None:
            return self._read(root, root / path, path)
        with tempfile.TemporaryDirectory(prefix="jupyter-mlops-") as tmp:
            try:
                local = self.client.download_artifacts(run_id, path, tmp)
            except Exception as error:
                raise NotFound(f"run {run_id} has no artifact {path!r}") from error
            return self._read(Path(tmp), Path(local), path)

    def _read(self, root: Path, target: Path, path: str) -> tuple[bytes, str]:
        if not target.exists() and not target.is_symlink():
            raise NotFound(f"no artifact {path!r} in this run")
        real = inside(root, target)
        if not real.is_file():
            raise BadRequest(f"artifact {path!r} is a folder, not a file")
        size = real.stat().st_size
        if size > self.max_artifact_bytes:
            limit = self.max_artifact_bytes
            raise TooLarge(f"artifact {path!r} is {size} bytes; the limit is {limit}")
        data = real.read_bytes()
        media = IMAGE_TYPES.get(real.suffix.lower()) or IMAGE_TYPES.get(Path(path).suffix.lower())
        if media:
            return data, media
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise Unsupported(f"artifact {path!r} is neither UTF-8 text nor an image") from error
        return data, "text/plain; charset=utf-8"
