"""IPython adapter: one module of magics per theme, each a thin call of a core function."""

from __future__ import annotations

import contextlib
import importlib
from typing import Any

# Each module defines a ``Magics`` subclass listed here (module, class name).
MAGICS_CLASSES: list[tuple[str, str]] = [
    ("jupyter_mlops.magics.track", "MlopsMagics"),
    ("jupyter_mlops.magics.data", "DataMagics"),
    ("jupyter_mlops.magics.views", "ViewMagics"),
    ("jupyter_mlops.magics.monitoring", "MonitoringMagics"),
    ("jupyter_mlops.magics.team", "TeamMagics"),
    ("jupyter_mlops.magics.serving", "ServingMagics"),
    ("jupyter_mlops.magics.reproduce", "ReproduceMagics"),
    ("jupyter_mlops.magics.autotrack", "AutotrackMagics"),
]


def _magics_classes() -> list[type]:
    found = []
    for module_name, class_name in MAGICS_CLASSES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        found.append(getattr(module, class_name))
    return found


def load_ipython_extension(ipython: Any) -> None:
    """Register every magics class with the shell (idempotent)."""
    for cls in _magics_classes():
        ipython.register_magics(cls)
    _warm_tracking(ipython)  # first: the hooks' background work waits for its imports
    for module_name, _ in MAGICS_CLASSES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        hook = getattr(module, "on_load", None)
        if hook is not None:
            hook(ipython)


# words of MLflow and of our API whose use imports MLflow (promote, drift, serve, ...)
_MLFLOW_WORDS = (
    "mlflow", "mlops", "track", "dvc", "drift", "serve", "regist", "compare", "promote",
    "demote", "reproduce", "Monitor", "monitor", "gate", "sync", "lineage", "run_notebook",
    "delivery", "at_revision",
)  # fmt: skip


def _warm_tracking(ipython: Any) -> None:
    """Import MLflow and open the store in the background, so the first tracked cell is fast;
    until its imports are done, a cell that may import MLflow waits for them first."""
    from jupyter_mlops.core.tracking import warmup

    magics = ipython.magics_manager.registry.get("MlopsMagics")
    if warmup.warm_in_background(getattr(magics, "tracking_uri", "") or None) is None:
        return

    def before_cell(info: Any) -> None:
        if not warmup.imports_pending():
            with contextlib.suppress(ValueError):
                ipython.events.unregister("pre_run_cell", before_cell)
            return
        if _may_import_mlflow(getattr(info, "raw_cell", "") or ""):
            warmup.wait_for_imports()

    ipython.events.register("pre_run_cell", before_cell)


_LIVE_TRACK_FLAGS = ("--continue", "--nested", "--log-model", "--register")


def _may_import_mlflow(raw: str) -> bool:
    """Whether the cell may import MLflow on the kernel's thread: any magic (ours import MLflow:
    %dvc_snapshot, %mlops_*), MLflow itself or a word of our API. A ``%%track`` cell whose run
    is created at delivery needs nothing of MLflow, so only its body counts (auto-tracked cells
    are tracked the same way, so the rule on their code is the same)."""
    first, _, body = raw.lstrip().partition("\n")
    if first.startswith("%%track") and not any(flag in first for flag in _LIVE_TRACK_FLAGS):
        raw = body
    return "%" in raw or any(word in raw for word in _MLFLOW_WORDS)


def unload_ipython_extension(ipython: Any) -> None:
    """Let each theme module close anything it holds open (event hooks)."""
    for module_name, _ in MAGICS_CLASSES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        hook = getattr(module, "on_unload", None)
        if hook is not None:
            hook(ipython)
