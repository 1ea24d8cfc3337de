"""jupyter-mlops: MLOps inside the notebook — tracked cells, versioned data, inline views.

Public names are imported lazily so ``%load_ext jupyter_mlops`` and the server extension stay
fast; ``from jupyter_mlops import compare_runs`` loads only what it needs.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "track": "jupyter_mlops.core.tracking.cellrun",
    "autotrack": "jupyter_mlops.magics.autotrack",
    "set_default_experiment": "jupyter_mlops.core.active",
    "TrackedRun": "jupyter_mlops.core.tracking.cellrun",
    "snapshot": "jupyter_mlops.core.data.snapshot",
    "Snapshot": "jupyter_mlops.core.data.snapshot",
    "checkout_data": "jupyter_mlops.core.data.checkout",
    "data_lineage": "jupyter_mlops.core.data.lineage",
    "compare_runs": "jupyter_mlops.widgets.compare",
    "registry": "jupyter_mlops.widgets.registry",
    "register": "jupyter_mlops.core.models.registry",
    "promote": "jupyter_mlops.core.models.promotion",
    "demote": "jupyter_mlops.core.models.promotion",
    "detect_drift": "jupyter_mlops.core.monitoring.drift",
    "DriftReport": "jupyter_mlops.core.monitoring.drift",
    "at_revision": "jupyter_mlops.core.monitoring.sources",
    "Monitor": "jupyter_mlops.core.monitoring.monitor",
    "drift": "jupyter_mlops.widgets.drift",
    "monitor_dashboard": "jupyter_mlops.widgets.drift",
    "run_notebook": "jupyter_mlops.core.pipeline.runner",
    "gate": "jupyter_mlops.core.pipeline.gates",
    "sync": "jupyter_mlops.core.team.sync",
    "wait_for_delivery": "jupyter_mlops.core.tracking.journal",
    "delivery_status": "jupyter_mlops.core.team.sync",
    "serve": "jupyter_mlops.widgets.serving",
    "servers": "jupyter_mlops.widgets.serving",
    "reproduce": "jupyter_mlops.core.reproduce.rerun",
}

# Core never imports an adapter; the adapter wires itself in when imported (a light import:
# ``jupyter_mlops.widgets`` registers the view behind ``Monitor.dashboard()``).
_WIRED_BY: dict[str, str] = {"Monitor": "jupyter_mlops.widgets"}

__all__ = [
    "__version__",
    "load_ipython_extension",
    "unload_ipython_extension",
    *_EXPORTS,
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'jupyter_mlops' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    if name in _WIRED_BY:
        importlib.import_module(_WIRED_BY[name])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupyter_mlops``: register the magics."""
    from jupyter_mlops.magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext jupyter_mlops``: stop any open tracked run cleanly."""
    from jupyter_mlops.magics import unload_ipython_extension as unload

    unload(ipython)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "jupyter_mlops.server"}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-mlops"}]
