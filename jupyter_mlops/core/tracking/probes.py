"""Context gathered beside the cell: a background git probe and the optional context module."""

from __future__ import annotations

import threading
from pathlib import Path
from types import ModuleType
from typing import Any


def context_module() -> ModuleType | None:
    """``core.tracking.context`` when importable (it always is in an installed package)."""
    try:
        from jupyter_mlops.core.tracking import context
    except ImportError:
        return None
    return context


class GitProbe:
    """Reads the git state in a thread started before the cell runs, so it costs no wall time."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._value: Any = None
        self._thread = threading.Thread(target=self._run, name="jupyter-mlops-git", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        ctx = context_module()
        if ctx is None:
            return
        try:
            self._value = ctx.git_state(self._folder)
        except Exception:
            self._value = None

    def result(self, timeout: float = 10.0) -> Any:
        """The ``GitState`` (or None when unknown), waiting at most ``timeout`` seconds."""
        self._thread.join(timeout)
        return self._value


def start_git_probe(folder: Path) -> GitProbe:
    """Start reading the git state of ``folder`` now."""
    return GitProbe(folder)
