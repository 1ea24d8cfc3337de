"""The "stale" mark and the "Reproduce" action of the run views (over ``core.reproduce``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

import ipywidgets as widgets

from jupyter_mlops.core.errors import MlopsError
from jupyter_mlops.widgets._html import notice


def stale_marks(uri: str, runs: Iterable[Any]) -> dict[str, str]:
    """``run_id -> "⚠ stale: <reasons>"`` for the stale runs among ``runs`` (hashes only)."""
    try:
        from jupyter_mlops.core.reproduce.staleness import stale_runs
        from jupyter_mlops.core.store import project_root

        found = stale_runs(uri, runs, project_root())
    except Exception:  # a mark is a hint: never break the table
        return {}
    return {k: "⚠ stale: " + "; ".join(s.reasons) for k, s in found.items() if s.stale}


class ReproduceAction(widgets.VBox):
    """A "Reproduce" button for the first selected run and the result table below it."""

    def __init__(self, uri: str, selected: Callable[[], list[str]]) -> None:
        self.uri = uri
        self.selected = selected
        self.button = widgets.Button(
            description="Reproduce",
            tooltip="re-run the first selected run's code slice in a temporary git worktree",
            disabled=True,
        )
        self.output = widgets.HTML()
        self.button.on_click(lambda _: self.start())
        self.thread: threading.Thread | None = None
        super().__init__(children=[self.button, self.output])

    def update(self) -> None:
        """Enable the button while a run is selected."""
        self.button.disabled = not self.selected()

    def start(self) -> None:
        """Reproduce the first selected run in a thread; its table replaces the output."""
        run_ids = self.selected()
        if not run_ids:
            self.output.value = notice("select a run to reproduce")
            return
        run_id = run_ids[0]
        self.output.value = notice(f"reproducing {run_id} in a temporary git worktree …")
        self.thread = threading.Thread(
            target=self._work, args=(run_id,), name="jupyter-mlops-reproduce", daemon=True
        )
        self.thread.start()

    def _work(self, run_id: str) -> None:
        from jupyter_mlops.core.reproduce.rerun import reproduce

        try:
            self.output.value = reproduce(run_id, tracking_uri=self.uri)._repr_html_()
        except MlopsError as exc:
            self.output.value = notice(str(exc), "error")
