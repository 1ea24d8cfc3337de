"""Which tracked cells need their MLflow run to exist before their code runs.

Every other cell runs with a local id only: its run is created when the journal delivers it,
so the cell never waits on the tracking store.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Container

from jupyter_mlops.core.tracking.autolog import live_frameworks
from jupyter_mlops.core.tracking.options import TrackOptions

LIVE_AUTOLOG_FRAMEWORKS: frozenset[str] = live_frameworks()
"""Frameworks whose MLflow autolog writes into the active run while a tracked cell runs (those
our own capture does not cover, see ``autolog``). A cell with autolog on, in a kernel that
imported one of these (or a cell naming it), gets a live run."""

_USES_MLFLOW = re.compile(r"\bmlflow\b|\bjupyter_mlops\b|\brun_line_magic\b|\brun_cell_magic\b")


def live_run_reason(
    source: str, options: TrackOptions, imported: Container[str] | None = None
) -> str | None:
    """Why the cell's run must be live before its code runs, or None when it can wait.

    An MLflow run the user started is active (the cell is refused without ``--nested``), the
    cell's code (after IPython's transforms) calls MLflow or one of our magics or APIs,
    a flag needs the run now (``--continue``, ``--nested``, ``--log-model``), or autolog of an
    imported framework in ``LIVE_AUTOLOG_FRAMEWORKS`` would write into the run.
    """
    if options.continue_run:
        return "--continue"
    if options.nested:
        return "--nested"
    if options.log_model:
        return "--log-model"
    if not source.strip():  # track() without ``source=``: the block's code is not known
        return "the block's code is not known (track() without source=)"
    if _USES_MLFLOW.search(source):
        return "the cell calls MLflow or jupyter-mlops"
    modules = sys.modules if imported is None else imported
    if "mlflow" in modules and mlflow_run_active():
        return "an MLflow run is active"  # the cell nests under it, or is refused
    if options.autolog:
        for framework in sorted(LIVE_AUTOLOG_FRAMEWORKS):
            if framework in modules or re.search(rf"\b{re.escape(framework)}\b", source):
                return f"{framework} autolog"
    return None


def mlflow_run_active() -> bool:
    """Whether the user left an MLflow run active (only asked when MLflow is imported).

    Never imports: while the warm-up thread is still importing MLflow, ``import mlflow`` here
    would wait for it, and no run of the user's can be active yet; ``active_run`` appears on the
    package only once ``mlflow.tracking.fluent`` is fully loaded."""
    active_run = getattr(sys.modules.get("mlflow"), "active_run", None)
    if active_run is None:
        return False
    try:
        return active_run() is not None
    except Exception:
        return False
