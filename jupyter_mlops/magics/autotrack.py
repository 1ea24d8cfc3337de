"""``%mlops_autotrack on|off`` and ``%%notrack``: cells that train or score a model become runs.

Auto-track mode adds an input transformer that rewrites every cell ``core.tracking.autotrack``
chooses into one call, ``get_ipython().magics_manager.registry['AutotrackMagics']
.run_autotracked(<the cell as a literal>)``: no magic users would see in ``%lsmagic`` or tab
completion, no name in their namespace. That method hands the cell to ``%%track`` itself
(``run_cell_magic("track", ...)``), so an auto-tracked cell is captured by exactly the code
path of a ``%%track`` cell, with the tag ``jupyter_mlops.autotracked=true``. A cell that
starts with any cell magic (``%%track`` with its own flags, ``%%notrack``, ``%%time``...) is
left alone. The choice is cached by the cell's text: other cells cost a dict lookup.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

from jupyter_mlops.core import contracts
from jupyter_mlops.core.tracking.autotrack import wants_run
from jupyter_mlops.core.tracking.liverun import mlflow_run_active

# the call a chosen cell becomes (through IPython's own handle, so nothing enters the namespace)
_RUN_AUTOTRACKED = "get_ipython().magics_manager.registry['AutotrackMagics'].run_autotracked"
TRACK_LINE = f"--tag {contracts.TAG_AUTOTRACKED}=true"
_USAGE = "usage: %mlops_autotrack on|off"


class _Mode:
    """Whether auto-track mode is on (and in which shell), and how deep we are inside our own
    cell magics."""

    def __init__(self) -> None:
        self.enabled = False
        self.inside = 0
        self.shell: Any = None

    def cell_running(self) -> bool:
        """Whether the shell executes a cell now: the text to transform is then a cell magic's
        body (``%%time``'s) or code run by the cell, not a cell the user typed. (IPython hands
        its display hook the running cell's result for exactly that time.)"""
        hook = getattr(self.shell, "displayhook", None)
        return getattr(hook, "exec_result", None) is not None


MODE = _Mode()


@contextlib.contextmanager
def _inside() -> Iterator[None]:
    """Our magics transform the cell body again: the transformer must pass it through."""
    MODE.inside += 1
    try:
        yield
    finally:
        MODE.inside -= 1


def transform_body(shell: Any, cell: str) -> str:
    """IPython's transformation of a cell magic's body (``%%track``'s): auto-track passes it
    through, its cell was already chosen or left alone as a whole."""
    with _inside():
        return shell.transform_cell(cell)


@functools.lru_cache(maxsize=4096)
def chooses(raw_cell: str) -> bool:
    """Auto-track's choice for a cell as typed (IPython syntax is translated when needed)."""
    decided = wants_run(raw_cell)
    if decided is None:  # magics, !commands, ?help: decide on IPython's Python translation
        from IPython.core.inputtransformer2 import TransformerManager

        try:
            decided = wants_run(TransformerManager().transform_cell(raw_cell))
        except Exception:
            decided = None
    return bool(decided)


def autotrack_transform(lines: list[str]) -> list[str]:
    """Input transformer: the cells auto-track mode makes runs of become one call that runs
    them as ``%%track`` does (the text is a Python literal: IPython's later transformers leave
    it alone, ``%%track`` transforms it itself)."""
    if not MODE.enabled or MODE.inside or not lines or lines[0].startswith("%%"):
        return lines
    if MODE.cell_running():
        return lines
    cell = "".join(lines)
    if contracts.tracking_disabled() or not chooses(cell):
        return lines
    return [f"{_RUN_AUTOTRACKED}({cell!r})\n"]


# check_complete (a console asking "is this input finished?") must judge the cell as typed
autotrack_transform.has_side_effects = True  # type: ignore[attr-defined]


def set_autotrack(shell: Any, enable: bool) -> None:
    """Switch auto-track mode of ``shell`` on or off (idempotent)."""
    transforms = shell.input_transformers_cleanup
    while autotrack_transform in transforms:
        transforms.remove(autotrack_transform)
    if enable:
        transforms.append(autotrack_transform)
    MODE.enabled = enable
    MODE.shell = shell if enable else None


def autotrack(enable: bool = True) -> None:
    """Function twin of ``%mlops_autotrack on|off`` for the running IPython shell."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise RuntimeError("autotrack() needs IPython (a notebook or an IPython shell)")
    if not isinstance(enable, bool):
        raise TypeError("autotrack(enable): True or False")
    if shell.magics_manager.registry.get("MlopsMagics") is None:
        shell.run_line_magic("load_ext", "jupyter_mlops")
    set_autotrack(shell, enable)


@magics_class
class AutotrackMagics(Magics):
    """Auto-track mode: cells that train or score a model are tracked without ``%%track``."""

    @line_magic
    def mlops_autotrack(self, line: str) -> None:
        """``%mlops_autotrack on|off``: track every cell that fits a model or binds a metric.

        Other cells run untracked. ``%%track`` on a cell still applies its own flags;
        ``%%notrack`` exempts one cell.
        """
        words = line.split()
        if len(words) != 1 or words[0].lower() not in {"on", "off"}:
            raise UsageError(_USAGE)
        enable = words[0].lower() == "on"
        set_autotrack(self.shell, enable)
        state = "on: cells that fit a model or bind a metric become runs" if enable else "off"
        print(f"jupyter-mlops: auto-track {state}")

    @cell_magic
    def notrack(self, line: str, cell: str) -> Any:
        """Run this cell untracked, even in auto-track mode."""
        __tracebackhide__ = True
        if line.strip():
            raise UsageError("%%notrack takes no arguments")
        with _inside():
            return self.shell.magics_manager.registry["MlopsMagics"]._execute(cell)

    def run_autotracked(self, cell: str) -> Any:
        """(Auto-track mode rewrites the cells it tracks to this call; not a magic, so
        ``%lsmagic`` does not list it.) Run the cell as ``%%track`` does; returns its value."""
        __tracebackhide__ = True
        with _inside():
            if mlflow_run_active():  # %%track would refuse; an auto-tracked cell just runs
                return self.shell.magics_manager.registry["MlopsMagics"]._execute(cell)
            return self.shell.run_cell_magic("track", TRACK_LINE, cell)


def on_unload(ipython: Any) -> None:
    """Auto-track mode ends with the extension."""
    set_autotrack(ipython, False)
