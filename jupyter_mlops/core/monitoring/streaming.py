"""Drift over data larger than memory: summaries streamed from parquet, then one report.

``detect_streamed`` reads each side by record batches (``sources``), summarises the batches in
a small thread pool (the kernels and pyarrow release the GIL) and merges them; memory holds a
few batches and the summaries, never a whole side. ``report_from_summaries`` (shared with the
Dask path) turns merged summaries into the same ``DriftReport`` as in memory: binned tests are
exact; KS, Wasserstein, Anderson-Darling and the Sturges-binned PSI, KL and Jensen-Shannon
come from the sketch with a bracket (``sketch``, ``sketch_tests``), and a column whose flag the
bracket leaves open, or whose test has no summary (Hellinger on numbers), is read whole and
tested exactly. ``exact=True`` does that for every numeric column.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from jupyter_mlops.core.errors import UsageProblem
from jupyter_mlops.core.monitoring import engine, fused
from jupyter_mlops.core.monitoring.columns import as_frame
from jupyter_mlops.core.monitoring.report import ColumnDrift, DriftReport
from jupyter_mlops.core.monitoring.sources import TableSource, is_source
from jupyter_mlops.core.monitoring.summaries import (
    NeedsExact,
    Plan,
    SketchColumn,
    Summary,
    merge,
    update,
)

__all__ = ["detect_streamed", "report_from_summaries"]

WORKERS = min(2, os.cpu_count() or 1)  # batches summarised at once
ColumnLoader = Callable[[str], tuple[pd.Series, pd.Series]]


def _source(data: Any, side: str) -> TableSource:
    if is_source(data):
        return TableSource(data, side)
    frame = as_frame(data, side)
    return TableSource(ds.dataset(pa.Table.from_pandas(frame, preserve_index=False)), side)


def _summaries(source: TableSource, plan: Plan) -> dict[str, Summary]:
    """Merged summaries of every batch of ``source``; at most 2 * WORKERS + 2 batches in memory.

    Each worker thread keeps running summaries of the batches it takes from a bounded queue;
    the workers' summaries are merged at the end.
    """
    batches: queue.Queue[pa.RecordBatch | None] = queue.Queue(maxsize=WORKERS)
    totals: list[dict[str, Summary]] = [{} for _ in range(WORKERS)]
    errors: list[BaseException] = []

    def work(total: dict[str, Summary]) -> None:
        while (batch := batches.get()) is not None:
            try:
                if not errors:
                    update(total, batch, plan)
            except BaseException as exc:  # re-raised in the reading thread
                errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(total,), name="drift-batch", daemon=True)
        for total in totals
    ]
    for thread in threads:
        thread.start()
    try:
        for batch in source.batches(plan.tested(), arrow=True):
            if errors:
                break
            batches.put(batch)
    finally:
        for _ in threads:
            batches.put(None)
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    merged: dict[str, Summary] = {}
    for total in totals:
        merged = merge(merged, total)
    return merged


def detect_streamed(
    reference: Any,
    current: Any,
    columns: list[str] | None,
    tests: str | Mapping[str, str] | None,
    threshold: float | Mapping[str, float] | None,
    column_types: Mapping[str, str] | None,
    drift_share: float,
    exact: bool,
) -> DriftReport:
    """``detect_drift`` on parquet files, folders, pyarrow datasets or DVC paths (any side)."""
    ref, cur = _source(reference, "reference"), _source(current, "current")
    rows = (ref.rows(), cur.rows())
    if not rows[0] or not rows[1]:
        side = "reference" if not rows[0] else "current"
        raise UsageProblem(f"the {side} data has no rows; drift needs data on both sides")
    names = engine.column_names(ref, cur, columns)
    plan = Plan.infer(ref.head(), cur.head(), names, column_types)
    if plan.tested():
        ref_sum, cur_sum = _summaries(ref, plan), _summaries(cur, plan)
    else:
        ref_sum, cur_sum = {}, {}

    def load(name: str) -> tuple[pd.Series, pd.Series]:
        return ref.column(name), cur.column(name)

    options = (tests, threshold, drift_share)
    return report_from_summaries(names, plan, (ref_sum, cur_sum), rows, options, load, exact)


def report_from_summaries(
    names: list[str],
    plan: Plan,
    summaries: tuple[dict[str, Summary], dict[str, Summary]],
    rows: tuple[int, int],
    options: tuple[Any, Any, float],
    load: ColumnLoader | None,
    exact: bool = False,
) -> DriftReport:
    """The report from merged summaries; ``load(name)`` reads a column whole when needed.

    Without ``load`` (a monitor's model outputs, which are never stored), a column the sketch
    cannot decide keeps its sketch estimate and says so in its note.
    """
    tests, threshold, drift_share = options
    ref_sum, cur_sum = summaries
    results = {}
    for name in names:
        ctype, note = plan.types[name], plan.notes.get(name, "")
        test, thr = engine.pick_test(tests, name), engine.pick_option(threshold, name)
        if ctype not in {"numeric", "categorical"}:
            results[name] = ColumnDrift(name, ctype, note=note or f"{ctype} column not tested")
        elif ctype == "categorical":
            column = ref_sum[name].column(cur_sum[name])  # type: ignore[union-attr]
            results[name] = engine.test_column(name, ctype, note, column, test, thr)
        else:
            sure = load is not None
            sketched = None if exact and sure else _sketched(name, note, summaries, test, thr, sure)
            results[name] = sketched or _exact(name, note, load, test, thr)
    return DriftReport(
        columns=results, drift_share=drift_share, reference_rows=rows[0], current_rows=rows[1]
    )


def _sketched(
    name: str,
    note: str,
    summaries: tuple[dict[str, Summary], dict[str, Summary]],
    test: Any,
    threshold: float | None,
    sure: bool = True,
) -> ColumnDrift | None:
    """The column tested on its summaries, or None when only the exact path can decide.

    ``sure=False`` keeps an undecided estimate (noted) instead of returning None.
    """
    column = SketchColumn(summaries[0][name], summaries[1][name])  # type: ignore[arg-type]
    try:
        result = engine.test_column(name, "numeric", note, column, test, threshold)
    except NeedsExact:
        if sure:
            return None
        return ColumnDrift(name, "numeric", note=f"{test} needs every value; not tested")
    if result.test is not None and result.threshold is not None:
        certain = column.certain(result.test, result.threshold)
        if not certain and sure:
            return None
        if column.interval is not None:
            low, high = column.interval
            bracket = f"sketch: score in [{low:.6g}, {high:.6g}]"
            if not certain:
                bracket += ", flag undecided"
            result.note = " ".join(filter(None, [result.note, bracket]))
    return result


def _exact(
    name: str, note: str, load: ColumnLoader | None, test: Any, threshold: float | None
) -> ColumnDrift:
    """The column read whole on both sides and tested in memory."""
    assert load is not None  # _sketched answers every column when there is no loader
    ref, cur = load(name)
    ref_frame, cur_frame = ref.to_frame(name), cur.to_frame(name)
    fast = fused.enabled(len(ref) + len(cur))
    present = ({name}, {name})
    result = engine.column_drift(
        ref_frame, cur_frame, name, test, threshold, "numeric", present, fast
    )
    result.note = " ".join(filter(None, [note, result.note, "exact: column read whole"]))
    return result
