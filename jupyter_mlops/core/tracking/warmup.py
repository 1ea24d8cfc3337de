"""Warming what the first tracked cell needs, in the background, right after ``%load_ext``.

Importing MLflow and opening the tracking store cost seconds; done on the first tracked cell's
path they made it take 3-5 s. ``warm_in_background`` does them in a daemon thread instead: a
cell that needs them meanwhile waits only for what is not ready yet (Python's import lock and
``store.prepare_store``'s lock make that safe), and nothing ever waits for the thread itself.
A sqlite store that does not exist yet is not created here (loading the extension leaves the
project untouched); ``JUPYTER_MLOPS_NO_WARMUP=1`` turns warming off.
"""

from __future__ import annotations

import importlib
import os
import threading

from jupyter_mlops.core import contracts as c
from jupyter_mlops.core import store

# what a tracked cell imports on its way (MLflow's fluent API, its run-context providers, ours)
MODULES = (
    "mlflow",
    "mlflow.tracking",
    "mlflow.tracking.context.registry",
    "mlflow.entities",
    "jupyter_mlops.core.tracking.cellrun",
)

_thread: threading.Thread | None = None
_lock = threading.Lock()


def warm(setting: str | None = None) -> None:
    """Import MLflow and our tracking modules; open the store of the tracking-URI rule (with
    ``setting`` as its explicit step) when it already exists."""
    for name in MODULES:
        importlib.import_module(name)
    uri = store.resolve_tracking_uri(setting)
    db = store.sqlite_path(uri)
    if db is not None and not db.exists():
        return
    store.prepare_store(uri)
    store.get_client(uri).search_experiments(max_results=1)


def _quietly(setting: str | None) -> None:
    try:
        warm(setting)
    except Exception:  # warming is an optimisation: the cell reports real problems itself
        return


def warm_in_background(setting: str | None = None) -> threading.Thread | None:
    """Start warming once per process (``setting``: an explicit tracking URI); the thread,
    None when ``JUPYTER_MLOPS_NO_WARMUP=1``. Returns at once."""
    global _thread
    if os.environ.get(c.ENV_NO_WARMUP, "").strip().lower() in {"1", "true", "yes"}:
        return None
    with _lock:
        if _thread is None:
            _thread = threading.Thread(
                target=_quietly, args=(setting,), name="jupyter-mlops-warmup", daemon=True
            )
            _thread.start()
    return _thread
