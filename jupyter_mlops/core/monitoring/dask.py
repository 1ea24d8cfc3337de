"""Drift on Dask DataFrames: per-partition summaries computed where the data lives, then merged.

Each partition is summarised on its worker (``summaries.summarize``), summaries are merged in
a tree on the workers, and only the merged summaries travel to the client, which builds the
same ``DriftReport`` as in memory (``streaming.report_from_summaries``). It runs on whatever
scheduler is active: a ``dask.distributed.Client`` connected to an existing cluster, a
``LocalCluster``, or Dask's default threads.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import pandas as pd

from jupyter_mlops.core.errors import UsageProblem
from jupyter_mlops.core.monitoring import engine
from jupyter_mlops.core.monitoring.columns import as_frame
from jupyter_mlops.core.monitoring.report import DriftReport
from jupyter_mlops.core.monitoring.sources import HEAD_ROWS
from jupyter_mlops.core.monitoring.streaming import report_from_summaries
from jupyter_mlops.core.monitoring.summaries import Plan, Summary, merge, summarize

__all__ = ["detect_dask"]


def _frame(data: Any, side: str) -> Any:
    import dask.dataframe as dd

    if engine.is_dask(data):
        return data
    frame = as_frame(data, side)
    return dd.from_pandas(frame, npartitions=1)


def _partition_summary(part: pd.DataFrame, plan: Plan) -> tuple[int, dict[str, Summary]]:
    """Rows and summaries of one partition (runs on a worker)."""
    return len(part), summarize(part, plan)


def _merge_pair(
    a: tuple[int, dict[str, Summary]], b: tuple[int, dict[str, Summary]]
) -> tuple[int, dict[str, Summary]]:
    return a[0] + b[0], merge(a[1], b[1])


def _tree(frame: Any, plan: Plan) -> Any:
    """A delayed (rows, merged summaries) of every partition, merged pairwise."""
    from dask import delayed

    parts = [
        delayed(_partition_summary, pure=True)(part, plan)
        for part in frame[plan.tested()].to_delayed()
    ]
    while len(parts) > 1:
        pairs = [delayed(_merge_pair)(a, b) for a, b in zip(parts[::2], parts[1::2], strict=False)]
        parts = pairs + ([parts[-1]] if len(parts) % 2 else [])
    return parts[0]


def _heads(ref: Any, cur: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both sides' first rows in one round trip to the scheduler."""
    import dask

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "insufficient elements" when a partition is small
        heads = [frame.head(HEAD_ROWS, npartitions=1, compute=False) for frame in (ref, cur)]
        return tuple(dask.compute(*heads))  # type: ignore[return-value]


def detect_dask(
    reference: Any,
    current: Any,
    columns: list[str] | None,
    tests: str | Mapping[str, str] | None,
    threshold: float | Mapping[str, float] | None,
    column_types: Mapping[str, str] | None,
    drift_share: float,
    exact: bool,
) -> DriftReport:
    """``detect_drift`` on Dask DataFrames (either side may be pandas)."""
    import dask

    ref, cur = _frame(reference, "reference"), _frame(current, "current")
    names = engine.column_names(ref, cur, columns)
    plan = Plan.infer(*_heads(ref, cur), names, column_types)
    if plan.tested():
        (ref_rows, ref_sum), (cur_rows, cur_sum) = dask.compute(_tree(ref, plan), _tree(cur, plan))
    else:
        ref_rows, cur_rows = dask.compute(ref.shape[0], cur.shape[0])
        ref_sum, cur_sum = {}, {}
    if not ref_rows or not cur_rows:
        side = "reference" if not ref_rows else "current"
        raise UsageProblem(f"the {side} frame has no rows; drift needs data on both sides")

    def load(name: str) -> tuple[pd.Series, pd.Series]:
        return tuple(dask.compute(ref[name], cur[name]))  # type: ignore[return-value]

    options = (tests, threshold, drift_share)
    summaries = (ref_sum, cur_sum)
    return report_from_summaries(names, plan, summaries, (ref_rows, cur_rows), options, load, exact)
