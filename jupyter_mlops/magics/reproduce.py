"""``%mlops_reproduce`` and the code slice of tracked cells: the IPython side of ``core.reproduce``.

The kernel's input history (``In``) and the cell ids the front end sends are handed to
``core.reproduce.history``; ``%%track`` calls ``attach_slice`` so each run stores its slice.
This module owns the one ``pre_run_cell`` hook that learns which cell runs: ``%%track`` reads
it with ``running_cell_id`` and numbers its run with ``execution_count``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from jupyter_mlops.core.errors import MlopsError


def execution_count(shell: Any) -> int | None:
    """The number the front end shows beside the running cell (``In [N]``, the execute_reply's
    ``execution_count``); None before any cell was numbered.

    IPython 9 counts the running cell before ``pre_run_cell`` (8.x after it ends), so
    ``shell.execution_count`` is one ahead or not; the display hook numbers ``Out[N]`` with
    this count in either version.
    """
    count = getattr(getattr(shell, "displayhook", None), "prompt_count", None)
    return count if isinstance(count, int) and count > 0 else None


def running_cell_id(shell: Any) -> str | None:
    """The nbformat id of the cell running now, as the front end sent it (None if unknown)."""
    magics = shell.magics_manager.registry.get("ReproduceMagics")
    return getattr(magics, "cell_id", None)


def _history(shell: Any) -> list[str]:
    manager = getattr(shell, "history_manager", None)
    return list(getattr(manager, "input_hist_raw", []) or [])


def attach_slice(shell: Any, record: Any, cell_id: str | None = None) -> None:
    """Add ``cell/slice.py`` and ``cell/slice.json`` to a tracked cell's run record.

    Never raises: a slice that cannot be computed is left out with a note on stderr.
    """
    try:
        from jupyter_mlops.core.data.dvc_files import is_dvc_tracked
        from jupyter_mlops.core.reproduce.hazards import add_file_hazards
        from jupyter_mlops.core.reproduce.history import SESSION
        from jupyter_mlops.core.reproduce.slicing import compute_slice
        from jupyter_mlops.core.store import project_root

        inputs = _history(shell)
        count = len(inputs) - 1  # IPython stores the running cell's input before it runs
        SESSION.note_cell_id(count, cell_id)
        SESSION.sync(inputs)
        target = SESSION.position_of(count)
        if target is None:
            return
        cwd = Path.cwd()
        root = project_root(str(cwd))
        try:
            rel = cwd.resolve().relative_to(root).as_posix()
        except ValueError:
            rel = None
        versioned = lambda path: is_dvc_tracked(cwd / path)  # noqa: E731
        code_slice = compute_slice(SESSION, target, cwd=rel, versioned=versioned)
        code_slice.root = str(root)
        add_file_hazards(code_slice, cwd)
        record.texts.update(code_slice.texts())
    except Exception as exc:  # the slice is extra information: never break the cell
        print(f"jupyter-mlops: code slice not recorded: {exc}", file=sys.stderr)


@magics_class
class ReproduceMagics(Magics):
    """Re-run a tracked run's code slice in a clean checkout, on the same or newer data."""

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.cell_id: str | None = None  # the cell running now (``running_cell_id``)

    def pre_run_cell(self, info: Any) -> None:
        """Remember which cell each execution came from (front ends send the id)."""
        from jupyter_mlops.core.reproduce.history import SESSION

        self.cell_id = getattr(info, "cell_id", None) or None
        if getattr(info, "store_history", False) and not getattr(info, "silent", False):
            SESSION.note_cell_id(execution_count(self.shell), self.cell_id)

    @magic_arguments()
    @argument("run_id", help="the run to reproduce")
    @argument(
        "--data",
        default="same",
        help="same (the run's data version), latest (newest committed), or a git revision",
    )
    @argument("--tolerance", type=float, default=1e-9, help="allowed metric difference")
    @argument("--gate", action="append", default=[], metavar="EXPR", help="quality gate")
    @argument("--model", help="registered model for champion gates / comparison")
    @line_magic
    def mlops_reproduce(self, line: str) -> Any:
        """Re-run the code slice of RUN_ID in a temporary git worktree and compare metrics.

        ``--data latest`` re-trains on the newest committed data version (iterate) and compares
        with the model's @champion; your working tree, index and branch are never touched.
        """
        try:
            args = parse_argstring(self.mlops_reproduce, line)
        except UsageError as exc:
            raise UsageError(f"%mlops_reproduce: {exc}") from None
        from jupyter_mlops.core.reproduce.rerun import reproduce

        track = self.shell.magics_manager.registry.get("MlopsMagics")
        uri = getattr(track, "tracking_uri", None) or None
        try:
            result = reproduce(
                args.run_id.strip("'\""),
                data=args.data,
                tolerance=args.tolerance,
                gates=args.gate,
                model=args.model,
                tracking_uri=uri,
                cwd=Path(os.getcwd()),
            )
        except MlopsError as exc:
            raise UsageError(f"%mlops_reproduce: {exc}") from None
        return result  # shown as the comparison table


def on_load(ipython: Any) -> None:
    """Follow cell ids of executions (JupyterLab sends them with each request): the one hook
    that learns them, for the session history and for ``%%track``."""
    magics = ipython.magics_manager.registry.get("ReproduceMagics")
    if magics is None:
        return
    on_unload(ipython)
    ipython.events.register("pre_run_cell", magics.pre_run_cell)


def on_unload(ipython: Any) -> None:
    """Stop following cell ids."""
    magics = ipython.magics_manager.registry.get("ReproduceMagics")
    if magics is not None:
        try:
            ipython.events.unregister("pre_run_cell", magics.pre_run_cell)
        except ValueError:
            pass
