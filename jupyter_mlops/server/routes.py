"""Every route of the sidebar API, gathered from the handler modules (one list, one prefix).

A new handler module adds its name to ``HANDLER_MODULES``; each module exports ``ROUTES``, a list
of (path relative to ``API_PREFIX``, handler class) pairs.
"""

from __future__ import annotations

import importlib

API_PREFIX = "jupyter-mlops/api"
HANDLER_MODULES = (
    "jupyter_mlops.server.runs_handlers",
    "jupyter_mlops.server.models_handlers",
    "jupyter_mlops.server.serving_handlers",
    "jupyter_mlops.server.reproduce_handlers",
    "jupyter_mlops.server.delivery_handlers",
)


def all_routes() -> list[tuple[str, type]]:
    """Every (path relative to ``API_PREFIX``, handler class) pair the extension serves."""
    routes: list[tuple[str, type]] = []
    for name in HANDLER_MODULES:
        routes.extend(importlib.import_module(name).ROUTES)
    return routes
