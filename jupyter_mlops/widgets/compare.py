"""``compare_runs()``: an inline table of runs that sorts, filters and pages on the store.

Python computes every page with ``core.runs.query_runs`` (SQL on sqlite stores), so only the
visible page is loaded; metric histories are fetched only for selected runs. The front end only
renders: ipywidgets controls, escaped HTML tables and plotly JSON figures.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from jupyter_mlops.core.errors import MlopsError
from jupyter_mlops.core.models.champion import default_primary_metric
from jupyter_mlops.core.runs import summaries as core_runs
from jupyter_mlops.core.store import resolve_tracking_uri
from jupyter_mlops.widgets import _plots
from jupyter_mlops.widgets._diff import run_diff_html
from jupyter_mlops.widgets._display import StaticFallback
from jupyter_mlops.widgets._html import BEST_STYLE, esc, fmt_number, html_table, notice, text_table
from jupyter_mlops.widgets._reproduce import ReproduceAction, stale_marks
from jupyter_mlops.widgets._runs_table import (
    id_filter,
    order_key,
    sort_options,
    table_columns,
    table_rows,
)

STATIC_ROWS = 25


class CompareRuns(StaticFallback, widgets.VBox):
    """Runs table + selection views; every control re-queries the store (no stale cache)."""

    def __init__(
        self,
        experiment: str | None = None,
        run_ids: list[str] | None = None,
        filter_string: str | None = None,
        max_runs: int = 1000,
        *,
        page_size: int = 100,
        tracking_uri: str | None = None,
    ) -> None:
        self.uri = resolve_tracking_uri(tracking_uri)
        self.max_runs = max(1, int(max_runs))
        self.page_size = max(1, min(int(page_size), self.max_runs))
        self.base_filter = id_filter(run_ids)
        self.run_ids = list(dict.fromkeys(run_ids or []))
        given = [core_runs.get_run_summary(self.uri, r) for r in self.run_ids]
        if given and experiment is None:
            self.experiment_ids = sorted({r.experiment_id for r in given})
        else:
            self.experiment_ids = core_runs.experiment_ids_for(self.uri, experiment)
        self.metric_keys, self.param_keys = self._keys(given)
        primary = default_primary_metric(self.metric_keys)
        self.offset = 0
        self.page: core_runs.RunPage = core_runs.RunPage([], 0, 0, self.page_size)
        self.best: core_runs.RunSummary | None = None
        self.selected: list[str] = []
        self.stale: dict[str, str] = {}  # run id -> "⚠ stale: reasons"
        self.reproduce = ReproduceAction(self.uri, lambda: self.selected)
        self._build_controls(primary, filter_string or "")
        super().__init__(children=self._layout())
        self.refresh(strict=True)  # a bad initial filter is the caller's error, raised

    # --- construction ------------------------------------------------------------------
    def _build_controls(self, primary: str | None, filter_string: str) -> None:
        self.header = widgets.HTML()
        self.primary_metric = widgets.Dropdown(
            options=[("(none)", "")] + [(k, k) for k in self.metric_keys],
            value=primary or "",
            description="Primary metric",
            style={"description_width": "initial"},
        )
        self.higher_is_better = widgets.ToggleButtons(
            options=[("higher is better", True), ("lower is better", False)],
            value=core_runs.higher_is_better(primary) if primary else True,
        )
        sorts = sort_options(self.metric_keys, self.param_keys)
        self.sort_column = widgets.Dropdown(options=sorts, description="Sort by")
        self.sort_column.value = f"metrics.{primary}" if primary else "start_time"
        self.sort_ascending = widgets.ToggleButtons(
            options=[("desc", False), ("asc", True)],
            value=bool(primary) and not self.higher_is_better.value,
        )
        self.filter_text = widgets.Text(
            value=filter_string,
            placeholder="MLflow filter, e.g. metrics.accuracy > 0.9 and params.lr = '0.01'",
            layout=widgets.Layout(width="60%"),
            continuous_update=False,
        )
        self.apply_filter = widgets.Button(description="Filter")
        self.reload_button = widgets.Button(description="↻ Refresh", tooltip="re-read the store")
        self.status = widgets.HTML()
        self.table = widgets.HTML()
        self.prev_button = widgets.Button(description="◀ prev", layout={"width": "80px"})
        self.next_button = widgets.Button(description="next ▶", layout={"width": "80px"})
        self.page_label = widgets.Label()
        self.run_select = widgets.SelectMultiple(
            description="Select", rows=8, layout=widgets.Layout(width="90%")
        )
        self.charts = widgets.Output()
        self.diff = widgets.HTML()
        self._quiet = False  # set while one change moves several controls: one query only
        self.primary_metric.observe(self._on_primary, "value")
        self.higher_is_better.observe(lambda _: self._go(self.offset), "value")
        self.sort_column.observe(lambda _: self._go(0), "value")
        self.sort_ascending.observe(lambda _: self._go(0), "value")
        self.apply_filter.on_click(lambda _: self._go(0))
        self.reload_button.on_click(lambda _: self.reload())
        self.filter_text.observe(lambda _: self._go(0), "value")  # on Enter / leaving the box
        self.prev_button.on_click(lambda _: self._go(self.offset - self.page_size))
        self.next_button.on_click(lambda _: self._go(self.offset + self.page_size))
        self.run_select.observe(self._on_select, "value")

    def _layout(self) -> list[widgets.Widget]:
        return [
            self.header,
            widgets.HBox([self.primary_metric, self.higher_is_better]),
            widgets.HBox([self.sort_column, self.sort_ascending]),
            widgets.HBox([self.filter_text, self.apply_filter, self.reload_button]),
            self.status,
            self.table,
            widgets.HBox([self.prev_button, self.page_label, self.next_button]),
            self.run_select,
            self.reproduce,
            self.charts,
            self.diff,
        ]

    # --- queries -----------------------------------------------------------------------
    @property
    def filter_string(self) -> str | None:
        """The user's filter combined with the run-id restriction."""
        parts = [p for p in (self.base_filter, self.filter_text.value.strip()) if p]
        return " and ".join(parts) or None

    @property
    def order_by(self) -> str:
        """The MLflow ``order_by`` clause of the current sort control."""
        direction = "ASC" if self.sort_ascending.value else "DESC"
        return f"{order_key(self.sort_column.value)} {direction}"

    def _go(self, offset: int) -> None:
        if self._quiet:
            return
        self.offset = max(0, min(offset, max(self.reachable - 1, 0)))
        self.offset -= self.offset % self.page_size
        self.refresh()

    @property
    def reachable(self) -> int:
        """Runs the table can page through: the matches, capped at ``max_runs``."""
        return min(self.page.total, self.max_runs)

    def _keys(self, runs: list[core_runs.RunSummary] | None = None) -> tuple[list[str], list[str]]:
        """Metric and param names: of the given runs, else of the experiments' active runs."""
        if self.run_ids:  # not the whole experiment's (a pipeline parent's params, say)
            runs = runs or [core_runs.get_run_summary(self.uri, r) for r in self.run_ids]
            return sorted({k for r in runs for k in r.metrics}), sorted(
                {k for r in runs for k in r.params}
            )
        keys = core_runs.run_keys(self.uri, self.experiment_ids)
        return keys["metrics"], keys["params"]

    def reload(self) -> None:
        """Re-read the metric and param names (new runs may add some), then the page."""
        self.metric_keys, self.param_keys = self._keys()
        self._quiet = True
        try:
            primary, sort = self.primary_metric.value, self.sort_column.value
            self.primary_metric.options = [("(none)", "")] + [(k, k) for k in self.metric_keys]
            self.primary_metric.value = primary if primary in self.metric_keys else ""
            self.sort_column.options = sort_options(self.metric_keys, self.param_keys)
            values = [v for _, v in self.sort_column.options]
            self.sort_column.value = sort if sort in values else "start_time"
        finally:
            self._quiet = False
        self.refresh()

    def refresh(self, strict: bool = False) -> None:
        """Query the current page and the best run, then redraw; errors show in the widget."""
        try:
            limit = min(self.page_size, self.max_runs - self.offset)
            self.page = core_runs.query_runs(
                self.uri,
                self.experiment_ids,
                filter_string=self.filter_string,
                order_by=self.order_by,
                offset=self.offset,
                limit=max(limit, 0),
            )
            self.best = self._best_run()
            self.stale = stale_marks(self.uri, self.page.runs)
            self.status.value = ""
        except MlopsError as exc:
            if strict:
                raise
            self.status.value = notice(str(exc), "error")
        self._render()

    def _best_run(self) -> core_runs.RunSummary | None:
        metric = self.primary_metric.value
        if not metric:
            return None
        direction = "DESC" if self.higher_is_better.value else "ASC"
        if self.offset == 0 and self.order_by == f"metrics.`{metric}` {direction}":
            best = self.page.runs[:1]  # the first page is already sorted best-first
        else:
            best = core_runs.query_runs(
                self.uri,
                self.experiment_ids,
                filter_string=self.filter_string,
                order_by=f"metrics.`{metric}` {direction}",
                limit=1,
            ).runs
        if best and best[0].metrics.get(metric) is not None:
            return best[0]
        return None

    # --- rendering ---------------------------------------------------------------------
    def columns(self) -> list[str]:
        """Table columns: attributes, params (capped), metrics (primary first), data version."""
        return table_columns(self.metric_keys, self.param_keys, self.primary_metric.value)

    def rows(self) -> list[list[str]]:
        """The current page as display strings, in the table's column order."""
        best_id = self.best.run_id if self.best else None
        primary = self.primary_metric.value
        return table_rows(
            self.page.runs, self.metric_keys, self.param_keys, primary, best_id, self.stale
        )

    def _summary_line(self) -> str:
        page = self.page
        shown = f"{page.offset + 1 if page.runs else 0}-{page.offset + len(page.runs)}"
        cap = f" (first {self.max_runs} reachable)" if page.total > self.max_runs else ""
        return f"runs {shown} of {page.total}{cap}, sorted by {self.order_by}"

    def _best_line(self) -> str:
        metric = self.primary_metric.value
        if not metric or self.best is None:
            return "no best run: pick a primary metric logged by these runs"
        value = fmt_number(self.best.metrics.get(metric))
        word = "highest" if self.higher_is_better.value else "lowest"
        return f"best run ({word} {metric}): {self.best.run_name or self.best.run_id} = {value}"

    def _render(self) -> None:
        best_id = self.best.run_id if self.best else None
        styles = [BEST_STYLE if r.run_id == best_id else "" for r in self.page.runs]
        self.header.value = (
            f"<b>Run comparison</b> — {esc(self._summary_line())}<br>★ {esc(self._best_line())}"
        )
        self.table.value = html_table(self.columns(), self.rows(), row_styles=styles)
        self.page_label.value = self._summary_line().split(",")[0]
        self.prev_button.disabled = self.offset == 0
        self.next_button.disabled = self.offset + self.page_size >= self.reachable
        options = [(self._label(r), r.run_id) for r in self.page.runs]
        with self.run_select.hold_trait_notifications():
            self.run_select.options = options
            self.run_select.value = tuple(r for _, r in options if r in self.selected)
        self._render_selection()

    def _label(self, run: core_runs.RunSummary) -> str:
        metric = self.primary_metric.value
        value = f" · {metric}={fmt_number(run.metrics.get(metric))}" if metric else ""
        return f"{run.run_name or '(unnamed)'}{value} · {run.run_id[:8]}"

    def _on_primary(self, change: dict[str, Any]) -> None:
        """A new primary metric: default its direction and sort by it, best first."""
        metric = change["new"]
        self._quiet = True
        try:
            if metric:
                self.higher_is_better.value = core_runs.higher_is_better(metric)
                self.sort_column.value = f"metrics.{metric}"
                self.sort_ascending.value = not self.higher_is_better.value
        finally:
            self._quiet = False
        self._go(0)

    def _on_select(self, change: dict[str, Any]) -> None:
        page_ids = {r.run_id for r in self.page.runs}
        kept = [r for r in self.selected if r not in page_ids]
        self.select([*kept, *change["new"]])

    def select(self, run_ids: list[str]) -> None:
        """Select runs (any page) and redraw the charts and the diff for them."""
        self.selected = list(dict.fromkeys(run_ids))
        wanted = tuple(r.run_id for r in self.page.runs if r.run_id in self.selected)
        if tuple(self.run_select.value) != wanted:
            self.run_select.value = wanted
        self._render_selection()

    def selected_runs(self) -> list[core_runs.RunSummary]:
        """Summaries of the selected runs (loaded by id, so off-page selections count)."""
        if not self.selected:
            return []
        quoted = ", ".join(f"'{r}'" for r in self.selected)
        page = core_runs.query_runs(
            self.uri,
            self.experiment_ids,
            filter_string=f"attributes.run_id IN ({quoted})",
            order_by=self.order_by,
            limit=len(self.selected),
        )
        return page.runs

    def _render_selection(self) -> None:
        self.reproduce.update()
        runs = self.selected_runs()
        metric = self.primary_metric.value or None
        self.charts.outputs = tuple(
            _plots.selection_figures(
                self.uri,
                runs,
                self.param_keys,
                self.metric_keys,
                metric,
                self.higher_is_better.value,
            )
        )
        if not runs:
            self.diff.value = notice("select runs to compare them; two for a side-by-side diff")
        elif len(runs) == 1:
            self.diff.value = notice("select a second run for a side-by-side diff")
        else:
            a, b = runs[0], runs[1]
            sources = [core_runs.cell_source(self.uri, r.run_id) for r in (a, b)]
            self.diff.value = run_diff_html(a, b, *sources)

    # --- static fallback ---------------------------------------------------------------
    def static_html(self) -> str:
        """Header, best run and the first rows of the current page, all escaped."""
        rows = self.rows()[:STATIC_ROWS]
        more = len(self.page.runs) - len(rows)
        tail = notice(f"… {more} more rows in the live widget") if more > 0 else ""
        return (
            f"<div><b>Run comparison</b> — {esc(self._summary_line())}"
            f"<br>★ {esc(self._best_line())}{html_table(self.columns(), rows)}{tail}</div>"
        )

    def static_text(self) -> str:
        """The same summary as plain text."""
        columns = self.columns()[1:5] + [c for c in self.columns()[5:] if c in self.metric_keys]
        idx = [self.columns().index(c) for c in columns]
        rows = [[row[i] for i in idx] for row in self.rows()[:STATIC_ROWS]]
        table = text_table(columns, rows)
        return f"Run comparison — {self._summary_line()}\n{self._best_line()}\n{table}"


COMPARE_DELIVERY_WAIT_S = 5.0  # never longer: the view shows what has arrived


def compare_runs(
    experiment: str | None = None,
    run_ids: list[str] | None = None,
    filter_string: str | None = None,
    max_runs: int = 1000,
    *,
    page_size: int = 100,
    tracking_uri: str | None = None,
) -> CompareRuns:
    """Inline comparison of the runs of ``experiment`` (default: the current one) or ``run_ids``.

    It shows delivered runs: this kernel's journaled runs get a few seconds to arrive first."""
    from jupyter_mlops.core.tracking.journal import wait_for_delivery

    wait_for_delivery(COMPARE_DELIVERY_WAIT_S)
    return CompareRuns(
        experiment,
        run_ids,
        filter_string,
        max_runs,
        page_size=page_size,
        tracking_uri=tracking_uri,
    )
