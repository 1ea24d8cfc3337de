"""Plotly figures for the comparison view, delivered as plotly's own MIME bundle.

Figures travel as ``application/vnd.plotly.v1+json`` (data + layout only), which JupyterLab's
bundled plotly renderer, Notebook 7 and VS Code draw with plotly.js loaded once by the front end.
Nothing like ``FigureWidget``'s multi-megabyte saved state ends up in the notebook. Run-supplied
text is HTML-escaped because plotly interprets a subset of HTML tags in labels.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from jupyter_mlops.core.runs.summaries import RunSummary, metric_histories
from jupyter_mlops.widgets._html import esc

PLOTLY_MIME = "application/vnd.plotly.v1+json"
MAX_AXES = 16  # parallel-coordinates axes: varying params, then varying metrics


def figure_output(fig: Any, summary: str) -> dict[str, Any]:
    """One ``display_data`` output for an ipywidgets ``Output``: plotly JSON + a text line."""
    spec = json.loads(fig.to_json())
    spec.setdefault("config", {})["displaylogo"] = False
    return {
        "output_type": "display_data",
        "data": {PLOTLY_MIME: spec, "text/plain": summary},
        "metadata": {},
    }


def axes(
    keys: list[str], values: list[dict[str, Any]], cap: int, keep: str | None = None
) -> list[str]:
    """Keys worth an axis: those that differ between the runs (all, for one run), capped."""
    present = [k for k in keys if any(k in v for v in values)]
    if len(values) > 1:
        present = [k for k in present if len({str(v.get(k)) for v in values}) > 1 or k == keep]
    if keep in present:  # the primary metric is always drawn, last
        present.remove(keep)
        return [*present[: cap - 1], keep]
    return present[:cap]


def _as_float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _dimension(label: str, values: list[Any]) -> dict[str, Any] | None:
    """A parcoords dimension: numeric when every present value is a number, else categories."""
    present = [v for v in values if v is not None and v != ""]
    if not present:
        return None
    numbers = [_as_float(v) for v in values]
    if all(_as_float(v) is not None for v in present):
        finite = [n for n in numbers if n is not None]
        low = min(finite)
        return {"label": esc(label[:40]), "values": [low if n is None else n for n in numbers]}
    categories = sorted({str(v) for v in present})
    index = {c: i for i, c in enumerate(categories)}
    return {
        "label": esc(label[:40]),
        "values": [index.get(str(v), 0) for v in values],
        "tickvals": list(range(len(categories))),
        "ticktext": [esc(c)[:30] for c in categories],
    }


def parallel_coordinates(
    runs: Sequence[RunSummary],
    params: Sequence[str],
    metrics: Sequence[str],
    primary: str | None,
    higher_is_better: bool,
) -> Any:
    """Parallel coordinates over the runs' params and metrics, coloured by the primary metric."""
    import plotly.graph_objects as go

    dims = []
    for key in params:
        dim = _dimension(key, [r.params.get(key) for r in runs])
        if dim is not None:
            dims.append(dim)
    for key in metrics:
        dim = _dimension(key, [r.metrics.get(key) for r in runs])
        if dim is not None:
            dims.append(dim)
    colour = [_as_float(r.metrics.get(primary)) if primary else None for r in runs]
    line: dict[str, Any] = {"color": [0.0 if c is None else c for c in colour]}
    if primary and any(c is not None for c in colour):
        scale = "Viridis" if higher_is_better else "Viridis_r"
        line.update(colorscale=scale, showscale=True, colorbar={"title": {"text": esc(primary)}})
    # long names side by side overlap (autolog's metric names are long): tilt them instead
    crowded = len(dims) > 6 or any(len(d["label"]) > 14 for d in dims)
    fig = go.Figure(go.Parcoords(dimensions=dims, line=line, labelangle=-25 if crowded else 0))
    fig.update_layout(height=400, margin={"l": 60, "r": 80, "t": 110 if crowded else 50, "b": 30})
    return fig


def metric_history(
    histories: dict[str, list[tuple[int, float]]], names: dict[str, str], metric: str
) -> Any:
    """One line per run: the metric's value at each step."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for run_id, points in histories.items():
        fig.add_trace(
            go.Scatter(
                x=[p[0] for p in points],
                y=[p[1] for p in points],
                mode="lines+markers",
                name=esc(names.get(run_id) or run_id[:8])[:40],
            )
        )
    fig.update_layout(
        height=320,
        margin={"l": 50, "r": 20, "t": 40, "b": 40},
        title={"text": f"{esc(metric)} by step"},
        xaxis_title="step",
        yaxis_title=esc(metric),
    )
    return fig


def selection_figures(
    uri: str,
    runs: Sequence[RunSummary],
    param_keys: list[str],
    metric_keys: list[str],
    metric: str | None,
    higher_is_better: bool,
) -> list[dict[str, Any]]:
    """Outputs for the selected runs: parallel coordinates, then the metric's history."""
    if not runs:
        return []
    params = axes(param_keys, [r.params for r in runs], MAX_AXES // 2)
    metrics = axes(metric_keys, [r.metrics for r in runs], MAX_AXES // 2, metric)
    chart = parallel_coordinates(runs, params, metrics, metric, higher_is_better)
    out = [figure_output(chart, f"parallel coordinates of {len(runs)} runs")]
    if metric:  # histories are read only for the selected runs
        histories = metric_histories(uri, [r.run_id for r in runs], metric)
        names = {r.run_id: r.run_name or r.run_id[:8] for r in runs}
        history = metric_history(histories, names, metric)
        out.append(figure_output(history, f"{metric} history of {len(runs)} runs"))
    return out
