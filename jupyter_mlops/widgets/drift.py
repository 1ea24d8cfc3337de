"""``drift(reference, current)``: per-column drift table, overlaid distributions, log to MLflow.

Python computes everything (the report and pre-binned histograms: never raw rows) and the
front end renders plain SVG. ``monitor_dashboard`` is the view behind ``Monitor.dashboard()``.
Both carry an escaped HTML and a text summary for nbconvert and terminals.
"""

from __future__ import annotations

import html
import itertools
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import numpy as np
import pandas as pd
import traitlets

from jupyter_mlops.core.errors import MlopsError, UsageProblem
from jupyter_mlops.core.monitoring.drift import DriftReport, detect_drift, finite
from jupyter_mlops.core.monitoring.sources import preview
from jupyter_mlops.widgets._display import StaticFallback

if TYPE_CHECKING:
    from jupyter_mlops.core.monitoring.monitor import Monitor

__all__ = ["DriftWidget", "MonitorDashboard", "distributions", "drift", "monitor_dashboard"]

_HERE = Path(__file__).parent
_COMMON_JS = (_HERE / "drift_common.js").read_text()
DRIFT_ESM = _COMMON_JS + (_HERE / "drift.js").read_text()
DASHBOARD_ESM = _COMMON_JS + (_HERE / "monitor.js").read_text()
MAX_CATEGORIES = 20  # bars per categorical chart; the rest are summed into "(other)"
CELL = "border:1px solid #ccc;padding:2px 6px;text-align:left"


def _numeric_hist(ref: np.ndarray, cur: np.ndarray, bins: int) -> dict[str, Any] | None:
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if not len(ref) or not len(cur):
        return None
    lo = min(ref.min(), cur.min())
    hi = max(ref.max(), cur.max())
    if hi == lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)

    def shares(x: np.ndarray) -> list[float]:
        k = np.minimum(((x - lo) * (bins / (hi - lo))).astype(np.intp), bins - 1)
        return (np.bincount(k, minlength=bins) / len(x)).round(6).tolist()

    labels = [f"{a:.4g} to {b:.4g}" for a, b in itertools.pairwise(edges)]
    return {
        "kind": "numeric",
        "edges": edges.tolist(),
        "labels": labels,
        "reference": shares(ref),
        "current": shares(cur),
    }


def _categorical_hist(ref: pd.Series, cur: pd.Series) -> dict[str, Any] | None:
    r = ref.astype(object).value_counts(dropna=True)
    c = cur.astype(object).value_counts(dropna=True)
    if not len(r) and not len(c):
        return None
    total = r.add(c, fill_value=0).sort_values(ascending=False)
    keys = list(total.index[:MAX_CATEGORIES])
    ref_share = [float(r.get(k, 0)) / max(r.sum(), 1) for k in keys]
    cur_share = [float(c.get(k, 0)) / max(c.sum(), 1) for k in keys]
    labels = [str(k) for k in keys]
    if len(total) > MAX_CATEGORIES:
        labels.append("(other)")
        ref_share.append(1.0 - sum(ref_share) if r.sum() else 0.0)
        cur_share.append(1.0 - sum(cur_share) if c.sum() else 0.0)
    return {
        "kind": "categorical",
        "labels": labels,
        "reference": [round(v, 6) for v in ref_share],
        "current": [round(v, 6) for v in cur_share],
    }


def distributions(
    reference: pd.DataFrame, current: pd.DataFrame, report: DriftReport, bins: int = 30
) -> dict[str, dict[str, Any]]:
    """Pre-binned shares of each tested column on both sides (what the chart draws)."""
    out = {}
    for name, col in report.columns.items():
        if not col.tested:
            continue
        r, c = reference[name], current[name]
        if col.column_type == "numeric" and col.test not in {"chisquare", "z"}:
            try:
                values = (
                    r.to_numpy(np.float64, na_value=np.nan),
                    c.to_numpy(np.float64, na_value=np.nan),
                )
            except (TypeError, ValueError):
                continue
            hist = _numeric_hist(*values, bins)
        else:
            hist = _categorical_hist(r, c)
        if hist is not None:
            out[name] = hist
    return out


def _rows(report: DriftReport) -> list[dict[str, Any]]:
    keep = ("column", "column_type", "test", "score", "threshold", "drift", "note")
    rows = []
    for col in report.columns.values():
        row = {k: getattr(col, k) for k in keep}
        row["reference_missing"] = round(col.reference_missing, 4)
        row["current_missing"] = round(col.current_missing, 4)
        rows.append(finite(row))
    return rows


class _StaticAnyWidget(StaticFallback, anywidget.AnyWidget):
    """An anywidget carrying its static HTML/text summary (see ``StaticFallback``)."""


class DriftWidget(_StaticAnyWidget):
    """Drift summary, sortable per-column table, overlaid distributions, column picker, logging."""

    _esm = DRIFT_ESM
    summary = traitlets.Unicode("").tag(sync=True)
    rows = traitlets.List([]).tag(sync=True)
    hists = traitlets.Dict({}).tag(sync=True)
    selected = traitlets.Unicode("").tag(sync=True)
    log_clicks = traitlets.Int(0).tag(sync=True)
    log_status = traitlets.Unicode("").tag(sync=True)

    def __init__(self, report: DriftReport, hists: dict[str, dict[str, Any]], **kwargs: Any):
        drifted = [n for n in report.drifted_columns if n in hists]
        first = drifted[0] if drifted else next(iter(hists), "")
        super().__init__(
            summary=report.summary(), rows=_rows(report), hists=hists, selected=first, **kwargs
        )
        self.report = report
        self.logged_run_id: str | None = None

    @traitlets.observe("log_clicks")
    def _on_log(self, change: dict[str, Any]) -> None:
        if change["new"] > change["old"]:
            self.log_to_mlflow()

    def log_to_mlflow(self, run_id: str | None = None) -> str | None:
        """Log the report to the tracked run (running, else latest, else new); show the outcome."""
        from jupyter_mlops.core.monitoring.report_log import log_drift_report

        try:
            self.logged_run_id = log_drift_report(self.report, run_id=run_id)
        except MlopsError as exc:
            self.log_status = f"not logged: {exc}"
            return None
        self.log_status = f"logged to run {self.logged_run_id}"
        return self.logged_run_id

    def static_html(self) -> str:
        """Summary and per-column table, every name escaped."""
        head = "".join(
            f"<th style='{CELL}'>{h}</th>"
            for h in ("Column", "Type", "Test", "Score", "Threshold", "Drift", "Note")
        )
        body = []
        for r in self.rows:
            style = " style='background:#fde2e1'" if r["drift"] else ""
            cells = [r["column"], r["column_type"], r["test"], _num(r["score"])]
            cells += [_num(r["threshold"]), "yes" if r["drift"] else "", r["note"]]
            tds = "".join(f"<td style='{CELL}'>{html.escape(str(v or ''))}</td>" for v in cells)
            body.append(f"<tr{style}>{tds}</tr>")
        return (
            f"<div class='jm-drift-static'><b>{html.escape(self.summary)}</b>"
            f"<table style='border-collapse:collapse;font-size:12px'><tr>{head}</tr>"
            f"{''.join(body)}</table></div>"
        )

    def static_text(self) -> str:
        """Summary line plus one line per tested column."""
        lines = [self.summary]
        for r in self.rows:
            if r["test"]:
                mark = "DRIFT" if r["drift"] else "ok"
                score = _num(r["score"])
                lines.append(f"  {r['column']}: {r['test']} {score} ({mark})")
        return "\n".join(lines)


def _num(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def drift(
    reference: Any,
    current: Any,
    columns: list[str] | None = None,
    tests: Any = None,
    threshold: Any = None,
    column_types: dict[str, str] | None = None,
    report: DriftReport | None = None,
    bins: int = 30,
) -> DriftWidget:
    """Drift widget for two frames (``detect_drift`` runs unless a ``report`` is given).

    Either side may also be a parquet path, a pyarrow dataset, a DVC path at a revision or a
    Dask DataFrame: the report covers all of it, the charts its first 200,000 rows.
    """
    _check_thresholds(threshold)
    if report is None:
        report = detect_drift(
            reference,
            current,
            columns=columns,
            tests=tests,
            threshold=threshold,
            column_types=column_types,
        )
    ref, cur = preview(reference, "reference"), preview(current, "current")
    return DriftWidget(report, distributions(ref, cur, report, bins))


def _check_thresholds(threshold: Any) -> None:
    """UsageProblem for a threshold no test can use: negative, NaN or infinite."""
    values = threshold.values() if isinstance(threshold, dict) else [threshold]
    for value in values:
        if value is None:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise UsageProblem(f"threshold {value!r} is not a number") from None
        if not np.isfinite(number) or number < 0:
            raise UsageProblem(f"threshold must be a finite number >= 0, not {value!r}")


# --- monitor dashboard ------------------------------------------------------------------------


class MonitorDashboard(_StaticAnyWidget):
    """Timeline of the four monitored signals with threshold lines and alert markers."""

    _esm = DASHBOARD_ESM
    summary = traitlets.Unicode("").tag(sync=True)
    timeline = traitlets.Dict({}).tag(sync=True)

    def static_html(self) -> str:
        """The batches as an escaped table, alerts in red."""
        t = self.timeline
        head = "".join(
            f"<th style='{CELL}'>{h}</th>"
            for h in ("Batch", "Drift share", "Pred. drift", "Quality", "p95 ms", "Alerts")
        )
        body = []
        for i, batch in enumerate(t.get("batches", [])):
            values = [
                batch,
                _num(t["data_drift_share"][i]),
                _num(t["prediction_drift_score"][i]),
                _num(t["quality"][i]),
                _num(t["latency_p95_ms"][i]),
                ", ".join(t["alerts"][i]),
            ]
            style = " style='color:#b00'" if t["alerts"][i] else ""
            tds = "".join(f"<td style='{CELL}'>{html.escape(str(v))}</td>" for v in values)
            body.append(f"<tr{style}>{tds}</tr>")
        return (
            f"<div class='jm-monitor-static'><b>{html.escape(self.summary)}</b>"
            f"<table style='border-collapse:collapse;font-size:12px'><tr>{head}</tr>"
            f"{''.join(body)}</table></div>"
        )

    def static_text(self) -> str:
        """The monitor's status line."""
        return self.summary


def monitor_dashboard(monitor: Monitor) -> MonitorDashboard:
    """The dashboard widget of a ``Monitor`` (its ``timeline()`` plus its status line)."""
    return MonitorDashboard(summary=str(monitor.status()), timeline=monitor.timeline())
