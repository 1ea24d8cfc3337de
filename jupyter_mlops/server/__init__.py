"""jupyter-server extension: the sidebar's authenticated REST API under ``/jupyter-mlops/api/``."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "jupyter_mlops.server"}]


SQLITE_SIDE_SUFFIXES = ("-journal", "-wal", "-shm")


def _hide_sqlite_side_files(serverapp: Any, uri: str) -> None:
    """Keep a sqlite store's journal/WAL files out of the file browser.

    SQLite creates and deletes ``mlflow.db-journal`` on every write; a directory listing that
    sees the name and then finds it gone fails as a whole with a 404 (jupyter-server's
    ``_dir_model``), which JupyterLab shows as "Directory not found" while runs are tracked.
    """
    from jupyter_mlops.core.store import sqlite_path

    db = sqlite_path(uri)
    manager = getattr(serverapp, "contents_manager", None)
    if db is None or manager is None or not hasattr(manager, "hide_globs"):
        return
    extra = [db.name + suffix for suffix in SQLITE_SIDE_SUFFIXES]
    manager.hide_globs = [*manager.hide_globs, *(g for g in extra if g not in manager.hide_globs)]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Build the settings and the runs and registry adapters once, then register every route."""
    from jupyter_server.utils import url_path_join

    from jupyter_mlops.core.store import redact_uri, resolve_tracking_uri
    from jupyter_mlops.server.config import JupyterMlops
    from jupyter_mlops.server.registry_adapter import RegistryAdapter
    from jupyter_mlops.server.routes import API_PREFIX, all_routes
    from jupyter_mlops.server.runs_adapter import RunsAdapter

    settings = JupyterMlops(parent=serverapp)
    uri = resolve_tracking_uri(settings.tracking_uri or None, start=serverapp.root_dir)
    runs = RunsAdapter(
        uri,
        max_artifact_bytes=settings.max_artifact_bytes,
        max_entries=settings.max_artifact_entries,
        read_uri=settings.read_uri or None,
    )
    pool = ThreadPoolExecutor(max_workers=settings.worker_threads, thread_name_prefix="mlops")
    registry = RegistryAdapter(uri)
    kwargs = {"runs": runs, "registry": registry, "settings": settings, "pool": pool}
    _hide_sqlite_side_files(serverapp, uri)
    web_app = serverapp.web_app
    base = url_path_join(web_app.settings["base_url"], API_PREFIX)
    handlers = [(url_path_join(base, path) + "/?", cls, kwargs) for path, cls in all_routes()]
    web_app.add_handlers(".*$", handlers)
    warming = pool.submit(runs.warm)
    warming.add_done_callback(
        lambda done: (
            done.exception()
            and serverapp.log.warning("jupyter-mlops: store warm-up failed: %s", done.exception())
        )
    )
    from jupyter_mlops.core.runs.fast_path import describe, fast_source

    pages = describe(fast_source(uri, settings.read_uri or None))
    serverapp.log.info(
        "jupyter-mlops: sidebar API at %s reading %s (run pages: %s)", base, redact_uri(uri), pages
    )
