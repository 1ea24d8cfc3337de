"""Where runs live: the tracking-URI rule of DESIGN.md and a safely opened MLflow client.

The rule, the same in kernel, server and CLI: (1) an explicit setting, (2) ``MLFLOW_TRACKING_URI``,
(3) ``sqlite:///<project root>/mlflow.db`` where the project root is the top of the git work tree
holding the notebook (the notebook's own folder outside git).
"""

from __future__ import annotations

import os
import subprocess
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_mlops.core.contracts import ENV_TRACKING_URI

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

DB_NAME = "mlflow.db"

# MLflow's HTTP client retries for minutes by default; a cell must never wait that long.
HTTP_BOUNDS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",  # an int in MLflow
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.2",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "3",  # seconds, an int in MLflow
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # no "View run" line after every cell
}

_opened: set[str] = set()
_opened_lock = threading.Lock()


def bound_http_timeouts() -> None:
    """Cap MLflow's HTTP retries/timeouts unless the user has set them explicitly."""
    for name, value in HTTP_BOUNDS.items():
        os.environ.setdefault(name, value)


@lru_cache(maxsize=64)
def project_root(start: str | os.PathLike[str] | None = None) -> Path:
    """Top of the git work tree holding ``start`` (default: cwd), else ``start`` itself."""
    folder = Path(start or os.getcwd()).resolve()
    if folder.is_file():
        folder = folder.parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return folder
    top = out.stdout.strip()
    return Path(top).resolve() if out.returncode == 0 and top else folder


def default_tracking_uri(start: str | os.PathLike[str] | None = None) -> str:
    """``sqlite:///<project root>/mlflow.db`` for the folder ``start`` (default: cwd)."""
    return f"sqlite:///{project_root(start) / DB_NAME}"


def resolve_tracking_uri(
    explicit: str | None = None, start: str | os.PathLike[str] | None = None
) -> str:
    """Apply the tracking-URI rule: explicit setting, else the env var, else the project db."""
    if explicit:
        return explicit
    from_env = os.environ.get(ENV_TRACKING_URI, "").strip()
    if from_env:
        return from_env
    return default_tracking_uri(start)


def sqlite_path(uri: str) -> Path | None:
    """The database file behind a ``sqlite:///`` URI, or None for any other store."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return None
    return Path(uri[len(prefix) :].split("?", 1)[0])


def artifact_location(uri: str, experiment: str) -> str | None:
    """Where a new experiment keeps its artifacts: beside a sqlite store's file
    (``<db dir>/mlruns/exp-<name>``), not under whatever folder the kernel runs in; None (the
    server's default) for any other store."""
    import re

    db = sqlite_path(uri)
    if db is None:
        return None
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", experiment).strip("-") or "experiment"
    return (db.parent / "mlruns" / f"exp-{slug}").as_uri()


def prepare_store(uri: str) -> None:
    """Open a store once per process; a fresh sqlite file is created under a file lock.

    Several processes creating the same fresh ``mlflow.db`` at once race in MLflow's schema
    migration and can leave the file broken, so the first open is serialised here.
    """
    with _opened_lock:
        if uri in _opened:
            return
        bound_http_timeouts()
        db = sqlite_path(uri)
        if db is not None:
            from filelock import FileLock
            from mlflow.tracking import MlflowClient

            db.parent.mkdir(parents=True, exist_ok=True)
            with FileLock(str(db) + ".lock", timeout=120):
                # Constructing a client's store runs (or verifies) the schema migrations.
                MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
        _opened.add(uri)


def get_client(uri: str | None = None) -> MlflowClient:
    """An ``MlflowClient`` on ``uri`` (default: the resolved rule), store prepared safely."""
    from mlflow.tracking import MlflowClient

    resolved = uri or resolve_tracking_uri()
    prepare_store(resolved)
    return MlflowClient(tracking_uri=resolved)
