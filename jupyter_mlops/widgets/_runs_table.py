"""The comparison table's shape: its columns and display rows, sort choices and query clauses.

Pure functions over ``RunSummary`` pages, so the widget stays about controls and events and a
new column is added in one place.
"""

from __future__ import annotations

from jupyter_mlops.core.errors import UsageProblem
from jupyter_mlops.core.runs.page import RunSummary
from jupyter_mlops.widgets._html import fmt_duration, fmt_number, fmt_time

ATTRIBUTE_SORTS = {
    "start_time": "start",
    "end_time": "end",
    "run_name": "name",
    "status": "status",
}
MAX_PARAM_COLUMNS = 15
FIXED_COLUMNS = ["", "name", "status", "start", "duration"]


def table_columns(metric_keys: list[str], param_keys: list[str], primary: str) -> list[str]:
    """Attributes, params (capped), metrics (primary first), data version, stale mark."""
    metrics = list(metric_keys)
    if primary in metrics:
        metrics.remove(primary)
        metrics.insert(0, primary)
    return [*FIXED_COLUMNS, *param_keys[:MAX_PARAM_COLUMNS], *metrics, "data version", "stale"]


def table_rows(
    runs: list[RunSummary],
    metric_keys: list[str],
    param_keys: list[str],
    primary: str,
    best_id: str | None,
    stale: dict[str, str] | None = None,
) -> list[list[str]]:
    """Display strings of ``runs`` in ``table_columns`` order (★ marks the best run; ``stale``
    maps a run id to its stale mark)."""
    params = param_keys[:MAX_PARAM_COLUMNS]
    metrics = table_columns(metric_keys, param_keys, primary)[len(FIXED_COLUMNS) + len(params) : -2]
    stale = stale or {}
    out = []
    for run in runs:
        data = ", ".join(f"{d['name']}@{d['digest'][:8]}" for d in run.data_versions)
        out.append(
            [
                "★" if run.run_id == best_id else "",
                run.run_name or run.run_id[:8],
                run.status,
                fmt_time(run.start_time),
                fmt_duration(run.duration_ms),
                *[run.params.get(k, "") for k in params],
                *[fmt_number(run.metrics.get(k)) for k in metrics],
                data,
                stale.get(run.run_id, ""),
            ]
        )
    return out


def order_key(column: str) -> str:
    """The MLflow ``order_by`` key of a sort column (names quoted in backticks)."""
    kind, _, key = column.partition(".")
    if kind in ("metrics", "params"):
        return f"{kind}.`{key}`"
    return f"attributes.{column}"


def sort_options(metrics: list[str], params: list[str]) -> list[tuple[str, str]]:
    """(label, column) choices of the sort control."""
    sorts = [(label, key) for key, label in ATTRIBUTE_SORTS.items()]
    sorts += [(f"metrics.{k}", f"metrics.{k}") for k in metrics]
    return sorts + [(f"params.{k}", f"params.{k}") for k in params]


def id_filter(run_ids: list[str] | None) -> str | None:
    """The filter restricting a comparison to ``run_ids``; None for all runs."""
    if not run_ids:
        return None
    for run_id in run_ids:
        if not run_id.isalnum():
            raise UsageProblem(f"not a run id: {run_id!r}")
    return "attributes.run_id IN ({})".format(", ".join(f"'{r}'" for r in run_ids))
