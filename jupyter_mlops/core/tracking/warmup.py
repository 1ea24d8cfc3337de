"""Warming what the first tracked cell needs, in the background, right after ``%load_ext``.

Importing MLflow and opening the tracking store cost seconds; done on the first tracked cell's
path they made it take 3-5 s. ``warm_in_background`` does them in a daemon thread instead.
A cell about to use MLflow calls ``wait_for_imports`` first: importing ``mlflow.x`` on two
threads at once can deadlock in Python's per-module import locks, which Python breaks by
handing one thread a half-initialised module (``partially initialized module 'mlflow'``).
Only the import phase is waited for; opening the store is serialised by ``prepare_store``.
A sqlite store that does not exist yet is not created here (loading the extension leaves the
project untouched); ``JUPYTER_MLOPS_NO_WARMUP=1`` turns warming off.
"""

from __future__ import annotations

import importlib
import os
import threading

from jupyter_mlops.core import contracts as c
from jupyter_mlops.core import store

_thread: threading.Thread | None = None
_lock = threading.Lock()
_imported = threading.Event()


def warm(setting: str | None = None) -> None:
    """Import MLflow and our tracking modules; open the store of the tracking-URI rule (with
    ``setting`` as its explicit step) when it already exists."""
    try:
        store.import_mlflow()
        importlib.import_module("jupyter_mlops.core.tracking.cellrun")
    finally:
        _imported.set()
    from jupyter_mlops.core.tracking import context

    context.environment()  # the installed distributions, computed once per process
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


def wait_for_imports(timeout: float = 120.0) -> None:
    """Return once the warm-up thread (if any) is past its imports, and no other thread of
    ours is importing MLflow (see the module docstring)."""
    if _thread is not None and not _imported.is_set():
        _imported.wait(timeout)
    store.wait_for_mlflow_import(timeout)


def imports_pending() -> bool:
    """True while a started warm-up thread, or another thread of ours, is importing MLflow."""
    return (_thread is not None and not _imported.is_set()) or store.mlflow_importing()


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
