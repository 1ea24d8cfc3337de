"""What a tracked cell is asked to do (``TrackOptions``, the flags of ``%%track``) and what it
reports back (``TrackResult``, the one-line summary)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrackOptions:
    """How one cell is tracked (the flags of ``%%track``)."""

    experiment: str | None = None
    run_name: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    metric_names: list[str] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    log_model: str | None = None
    register: str | None = None
    continue_run: bool = False
    nested: bool = False
    autolog: bool = True
    tracking_uri: str | None = None
    max_artifact_mb: float = 100.0
    notebook: str | None = None
    cell_id: str | None = None
    execution_count: int | None = None
    kernel_connection_file: str | None = None  # passed in by the adapter that knows the kernel


@dataclass
class TrackResult:
    """What a tracked cell logged, for the one-line summary."""

    run_id: str | None
    run_name: str | None
    experiment: str
    status: str
    params: int = 0
    metrics: int = 0
    artifacts: int = 0
    spooled: bool = False
    model_uri: str | None = None
    messages: list[str] = field(default_factory=list)
    local_id: str | None = None  # the journal entry, until delivered
    pending: int = 0  # entries of this kernel not delivered yet
    failing: str | None = None  # why delivery to this store fails, if it does

    def text(self) -> str:
        """The summary as one line of plain text."""
        if self.run_id is None and not self.spooled and self.local_id is None:
            return f"jupyter-mlops: not logged ({'; '.join(self.messages) or 'tracking failed'})"
        if self.spooled:
            where = "spooled offline"
        elif self.local_id is not None:
            more = f", {self.pending} pending" if self.pending > 1 else ""
            ident = f"run {self.run_id}" if self.run_id else f"local {self.local_id}"
            where = f"{ident}, delivering…{more}"
            if self.failing:
                where += f"; delivery failing: {self.failing}"
        else:
            where = f"run {self.run_id}"
        model = ", model logged" if self.model_uri else ""
        return (
            f"{self.status.lower()}: {self.run_name or ''} ({where}) in {self.experiment!r} — "
            f"{self.params} params, {self.metrics} metrics, {self.artifacts} artifacts{model}"
        )

    def html(self) -> str:
        """The summary as one escaped line of HTML."""
        from html import escape

        colour = {"FINISHED": "#2e7d32", "FAILED": "#c62828", "KILLED": "#ef6c00"}
        dot = colour.get(self.status, "#757575")
        return (
            f'<div class="jupyter-mlops-summary" style="font-size:12px;color:var(--jp-ui-font-'
            f'color2,#555)"><span style="color:{dot}">&#9679;</span> {escape(self.text())}</div>'
        )
