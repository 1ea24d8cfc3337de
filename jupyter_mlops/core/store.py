"""Where runs live: the tracking-URI rule, a safely opened MLflow client, experiments, the user.

The rule, the same in kernel, server and CLI: (1) an explicit setting, (2) ``MLFLOW_TRACKING_URI``,
(3) ``sqlite:///<project root>/mlflow.db`` where the project root is the top of the git work tree
holding the notebook (the notebook's own folder outside git).
"""

from __future__ import annotations

import getpass
import importlib
import os
import re
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from jupyter_mlops.core import git
from jupyter_mlops.core.contracts import ENV_TRACKING_URI
from jupyter_mlops.core.errors import TrackingUnavailable, UsageProblem, first_line

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

T = TypeVar("T")

DB_NAME = "mlflow.db"
_LOCKED = ("database is locked", "database table is locked")

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


def project_root(start: str | os.PathLike[str] | None = None) -> Path:
    """Top of the git work tree holding ``start`` (default: cwd), else ``start`` itself."""
    folder = Path(start or os.getcwd()).resolve()
    if folder.is_file():
        folder = folder.parent
    return _work_tree_top(folder)


@lru_cache(maxsize=64)
def _work_tree_top(folder: Path) -> Path:
    """``project_root`` of an absolute folder, cached (the cwd is resolved before the cache: a
    default argument cached the first working directory for good)."""
    return git.top_level(folder) or folder


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


# what any thread of ours imports of MLflow before using it (the client, its run-context
# providers, the entities)
MLFLOW_MODULES = (
    "mlflow",
    "mlflow.tracking",
    "mlflow.tracking.context.registry",
    "mlflow.entities",
)
_mlflow_import = threading.Lock()
_mlflow_imported = threading.Event()


def import_mlflow() -> None:
    """Import ``MLFLOW_MODULES``, one thread at a time, once per process.

    Importing ``mlflow.x`` on two threads at once can deadlock in Python's per-module import
    locks, which Python breaks by handing one thread a half-initialised module (``partially
    initialized module 'mlflow'``); the journal's worker, the warm-up and the server's handler
    threads all come through here."""
    if _mlflow_imported.is_set():
        return
    with _mlflow_import:
        for name in MLFLOW_MODULES:
            importlib.import_module(name)
        _mlflow_imported.set()


def mlflow_importing() -> bool:
    """True while a thread is inside ``import_mlflow``."""
    return _mlflow_import.locked()


def wait_for_mlflow_import(timeout: float = 120.0) -> None:
    """Return once no thread is inside ``import_mlflow`` (at most ``timeout`` seconds)."""
    if _mlflow_import.acquire(timeout=timeout):
        _mlflow_import.release()


def get_client(uri: str | None = None) -> MlflowClient:
    """An ``MlflowClient`` on ``uri`` (default: the resolved rule), store prepared safely.

    A URI MLflow has no store for (``bogus://x``, a plain path, a driver not installed) is a
    UsageProblem: building the client talks to no server, so its failure is always the URI's.
    """
    import_mlflow()
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    resolved = uri or resolve_tracking_uri()
    prepare_store(resolved)
    try:
        return MlflowClient(tracking_uri=resolved)
    except (MlflowException, ImportError) as exc:
        raise UsageProblem(
            f"tracking URI {redact_uri(resolved)!r} cannot be used: {first_line(exc)}"
        ) from exc


def retry_locked(call: Callable[[], T], attempts: int = 8, first_wait: float = 0.05) -> T:
    """Run ``call``, retrying sqlite's transient "database is locked" errors with backoff."""
    wait = first_wait
    for attempt in range(attempts):
        try:
            return call()
        except Exception as exc:
            if attempt == attempts - 1 or not any(s in str(exc) for s in _LOCKED):
                raise
            time.sleep(wait)
            wait = min(wait * 2, 1.0)
    raise AssertionError("unreachable")


_experiments: dict[tuple[str, str], str] = {}


def ensure_experiment(client: MlflowClient, name: str, uri: str | None = None) -> str:
    """Id of experiment ``name``, created if missing (cached per process).

    A new experiment of a sqlite store keeps its artifacts beside the db (``artifact_location``);
    a deleted one is a ``UsageProblem``; one created meanwhile by another kernel is reused.
    """
    from mlflow.exceptions import MlflowException

    uri = uri or client.tracking_uri
    key = (uri, name)
    if key in _experiments:
        return _experiments[key]
    try:
        found = retry_locked(lambda: client.get_experiment_by_name(name))
        if found is None:
            try:
                exp_id = retry_locked(
                    lambda: client.create_experiment(name, artifact_location(uri, name))
                )
            except MlflowException:  # created meanwhile by another process
                found = client.get_experiment_by_name(name)
                if found is None:
                    raise
        if found is not None:
            if found.lifecycle_stage == "deleted":
                raise UsageProblem(
                    f"experiment {name!r} is deleted; restore it in MLflow or choose another name"
                )
            exp_id = found.experiment_id
    except MlflowException as exc:
        message = f"experiment {name!r} in {redact_uri(uri)}: {exc.message}"
        raise TrackingUnavailable(message) from exc
    _experiments[key] = str(exp_id)
    return _experiments[key]


def current_user() -> str:
    """Who runs and promotions are recorded as: the JupyterHub user, else the login name."""
    hub_user = os.environ.get("JUPYTERHUB_USER", "").strip()
    if hub_user:
        return hub_user
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def redact_uri(uri: str) -> str:
    """A URI fit to show: ``scheme://user:secret@host/x`` becomes ``scheme://user:***@host/x``."""
    head, sep, rest = uri.partition("://")
    authority, slash, path = rest.partition("/")
    creds, at, host = authority.rpartition("@")
    if not (sep and at and ":" in creds):
        return uri
    return f"{head}://{creds.split(':', 1)[0]}:***@{host}{slash}{path}"
