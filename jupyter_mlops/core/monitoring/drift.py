"""Data drift between a reference and a current frame: per-column tests and a dataset verdict.

``detect_drift`` infers each column's type, picks Evidently's default test (or the one asked
for), and returns a ``DriftReport`` of plain, JSON-serialisable dataclasses. Columns are
processed one at a time (in a small thread pool for large frames; numpy releases the GIL), so
memory stays close to the input frames.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from jupyter_mlops.core.errors import UsageProblem
from jupyter_mlops.core.monitoring import columns as dc
from jupyter_mlops.core.monitoring import fused, sources
from jupyter_mlops.core.monitoring import statistics as dt
from jupyter_mlops.core.monitoring.engine import (
    COLUMN_TYPES,
    PARALLEL_CELLS,
    check_tests,
    column_drift,
    column_names,
    is_dask,
    pick_option,
    pick_test,
    str_columns,
)
from jupyter_mlops.core.monitoring.report import (
    DRIFT_SHARE,
    ColumnDrift,
    DriftReport,
    finite,
    metric_safe,
)

__all__ = ["ColumnDrift", "DriftReport", "detect_drift", "finite", "metric_safe"]

__all__ = ["ColumnDrift", "DriftReport", "detect_drift"]


def detect_drift(
    reference: Any,
    current: Any,
    columns: list[str] | None = None,
    tests: str | Mapping[str, str] | None = None,
    threshold: float | Mapping[str, float] | None = None,
    column_types: Mapping[str, str] | None = None,
    drift_share: float = DRIFT_SHARE,
    exact: bool = False,
) -> DriftReport:
    """Test each column of ``current`` against ``reference`` for drift.

    Each side is a pandas DataFrame (or Series, mapping, 2-D array), a parquet file or folder,
    a ``pyarrow.dataset.Dataset``, a DVC-tracked parquet path at a git revision
    (``sources.at_revision``), or a Dask DataFrame. Parquet and Dask data are summarised a
    batch or partition at a time (see ``streaming``, ``dask``): binned tests stay exact, KS and
    Wasserstein use a sketch whose error bound decides the flag or sends the column to the
    exact path; ``exact=True`` reads every numeric column whole instead.
    ``tests``: one test name for every column, or a mapping of column name (or column type,
    ``numeric``/``categorical``) to test name; default: Evidently's choice per column.
    ``threshold``: one value or a mapping column -> value; default: the test's own.
    ``column_types``: override inference (``numeric``, ``categorical``, ``text``, ``skip``).
    """
    if not 0 < drift_share <= 1:
        raise UsageProblem(f"drift_share must be in (0, 1], got {drift_share!r}")
    check_tests(tests)
    for name, kind in (column_types or {}).items():
        if kind not in COLUMN_TYPES:
            raise UsageProblem(
                f"column type {kind!r} for {name!r}: choose one of {', '.join(COLUMN_TYPES)}"
            )
    options = (columns, tests, threshold, column_types, drift_share, exact)
    if is_dask(reference) or is_dask(current):
        from jupyter_mlops.core.monitoring.dask import detect_dask

        return detect_dask(reference, current, *options)
    if sources.is_source(reference) or sources.is_source(current):
        from jupyter_mlops.core.monitoring.streaming import detect_streamed

        return detect_streamed(reference, current, *options)
    ref = str_columns(dc.as_frame(reference, "reference"))
    cur = str_columns(dc.as_frame(current, "current"))
    if len(ref) == 0 or len(cur) == 0:
        side = "reference" if len(ref) == 0 else "current"
        raise UsageProblem(f"the {side} frame has no rows; drift needs data on both sides")
    names = column_names(ref, cur, columns)
    jobs = [
        (name, pick_test(tests, name), pick_option(threshold, name), (column_types or {}).get(name))
        for name in names
    ]

    present = (set(map(str, ref.columns)), set(map(str, cur.columns)))
    fast = fused.enabled(len(ref) + len(cur))

    def run(job: tuple[str, str | None, float | None, str | None]) -> ColumnDrift:
        name, test, thr, ctype = job
        return column_drift(ref, cur, name, test, thr, ctype, present, fast)

    cells = (len(ref) + len(cur)) * len(names)
    workers = min(4, os.cpu_count() or 1, len(jobs))
    if cells > PARALLEL_CELLS and workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(run, jobs))
    else:
        try:
            results = [run(job) for job in jobs]
        finally:
            dt.release_scratch()
    fused.after_call(len(ref) + len(cur))
    return DriftReport(
        columns={r.column: r for r in results},
        drift_share=drift_share,
        reference_rows=len(ref),
        current_rows=len(cur),
    )
