"""Data drift between a reference and a current frame: per-column tests and a dataset verdict.

``detect_drift`` infers each column's type, picks Evidently's default test (or the one asked
for), and returns a ``DriftReport`` of plain, JSON-serialisable dataclasses. Columns are
processed one at a time (in a small thread pool for large frames; numpy releases the GIL), so
memory stays close to the input frames.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from jupyter_mlops.core.errors import UsageProblem
from jupyter_mlops.core.monitoring import columns as dc
from jupyter_mlops.core.monitoring import fused, sources
from jupyter_mlops.core.monitoring import statistics as dt

__all__ = ["ColumnDrift", "DriftReport", "detect_drift"]

DRIFT_SHARE = 0.5  # the dataset drifts when at least this share of tested columns drifts
PARALLEL_CELLS = 400_000  # frames with more cells than this are tested in a thread pool
COLUMN_TYPES = ("numeric", "categorical", "text", "datetime", "skip")  # column_types= values


@dataclass
class ColumnDrift:
    """The drift result of one column. ``test`` is None when the column was skipped (see note)."""

    column: str
    column_type: str  # numeric | categorical | text | datetime | unsupported
    test: str | None = None
    kind: str | None = None  # p_value: drift when small; distance: drift when large
    statistic: float | None = None
    p_value: float | None = None
    score: float | None = None  # the value compared with the threshold
    threshold: float | None = None
    drift: bool = False
    reference_size: int = 0  # non-missing values
    current_size: int = 0
    reference_missing: float = 0.0  # share of missing (NaN, None, inf) values
    current_missing: float = 0.0
    note: str = ""

    @property
    def tested(self) -> bool:
        """Whether a test ran on this column."""
        return self.test is not None


@dataclass
class DriftReport:
    """Per-column drift results and the dataset-level verdict."""

    columns: dict[str, ColumnDrift]
    drift_share: float = DRIFT_SHARE
    reference_rows: int = 0
    current_rows: int = 0
    dataset_drift: bool = field(init=False)

    def __post_init__(self) -> None:
        tested = self.tested_columns
        self.dataset_drift = bool(tested) and self.share_drifted >= self.drift_share

    @property
    def tested_columns(self) -> list[str]:
        """Names of the columns a test ran on."""
        return [name for name, col in self.columns.items() if col.tested]

    @property
    def drifted_columns(self) -> list[str]:
        """Names of the columns flagged as drifted."""
        return [name for name, col in self.columns.items() if col.drift]

    @property
    def share_drifted(self) -> float:
        """Drifted share of the tested columns (0 when none was tested)."""
        tested = self.tested_columns
        return len(self.drifted_columns) / len(tested) if tested else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (non-finite floats become None)."""
        return {
            "dataset_drift": self.dataset_drift,
            "drift_share": self.drift_share,
            "share_drifted_columns": self.share_drifted,
            "number_of_columns": len(self.tested_columns),
            "number_of_drifted_columns": len(self.drifted_columns),
            "drifted_columns": self.drifted_columns,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "columns": {name: finite(asdict(col)) for name, col in self.columns.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftReport:
        """Inverse of ``to_dict``."""
        columns = {name: ColumnDrift(**col) for name, col in data["columns"].items()}
        return cls(
            columns=columns,
            drift_share=data.get("drift_share", DRIFT_SHARE),
            reference_rows=data.get("reference_rows", 0),
            current_rows=data.get("current_rows", 0),
        )

    def metrics(self, prefix: str = "drift.") -> dict[str, float]:
        """Flat numeric metrics for MLflow: dataset share/flag and each tested column's score."""
        out = {
            f"{prefix}share_drifted_columns": self.share_drifted,
            f"{prefix}dataset_drift": float(self.dataset_drift),
            f"{prefix}drifted_columns": float(len(self.drifted_columns)),
        }
        for name, col in self.columns.items():
            if col.tested and col.score is not None and math.isfinite(col.score):
                out[f"{prefix}{metric_safe(name)}.score"] = float(col.score)
        return out

    def summary(self) -> str:
        """One line: drifted k of n columns and the dataset verdict."""
        verdict = "dataset drift" if self.dataset_drift else "no dataset drift"
        drifted = ", ".join(self.drifted_columns[:8]) or "none"
        more = "" if len(self.drifted_columns) <= 8 else ", ..."
        return (
            f"Drift: {len(self.drifted_columns)} of {len(self.tested_columns)} columns drifted "
            f"({verdict}; threshold {self.drift_share:.0%}): {drifted}{more}"
        )

    def __repr__(self) -> str:
        return f"<DriftReport {self.summary()}>"


def metric_safe(name: str) -> str:
    """A column name reduced to the characters MLflow allows in metric keys."""
    safe = "".join(ch if ch.isalnum() or ch in "_-. /" else "_" for ch in str(name))
    return safe.strip() or "_"


def finite(data: dict[str, Any]) -> dict[str, Any]:
    """The same mapping with non-finite floats replaced by None (strict JSON has no NaN)."""
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in data.items()
    }


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
    _check_tests(tests)
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
    ref = _str_columns(dc.as_frame(reference, "reference"))
    cur = _str_columns(dc.as_frame(current, "current"))
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


def is_dask(data: Any) -> bool:
    """Whether ``data`` is a Dask DataFrame (without importing dask when it is not loaded)."""
    module = type(data).__module__
    return module.startswith(("dask.", "dask_expr.")) and hasattr(data, "npartitions")


def _str_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Column labels as strings (results are keyed by name); no data is copied."""
    if all(isinstance(c, str) for c in frame.columns):
        return frame
    return frame.rename(columns=str)


def column_names(ref: Any, cur: Any, columns: list[str] | None) -> list[str]:
    """The columns to test: ``columns``, or every column of either side (anything with .columns)."""
    if columns is None:
        names = [str(c) for c in ref.columns]
        names += [str(c) for c in cur.columns if str(c) not in set(names)]
        return names
    if isinstance(columns, str):
        columns = [columns]
    missing = [c for c in columns if c not in ref.columns and c not in cur.columns]
    if missing:
        raise UsageProblem(f"no column named {missing[0]!r} in either frame")
    return [str(c) for c in columns]


def _check_tests(tests: str | Mapping[str, str] | None) -> None:
    names = [tests] if isinstance(tests, str) else list((tests or {}).values())
    for name in names:
        if name not in dt.TESTS:
            raise UsageProblem(
                f"unknown drift test {name!r}; choose one of {', '.join(sorted(dt.TESTS))}"
            )


def pick_test(tests: str | Mapping[str, str] | None, name: str) -> Any:
    """The test asked for ``name`` (a mapping left whole is looked up by column type later)."""
    if tests is None or isinstance(tests, str):
        return tests
    return tests.get(name, tests)  # a mapping left whole is looked up by column type later


def pick_option(option: Any, name: str) -> Any:
    """A per-column option: one value for all, or the mapping's entry for ``name``."""
    if option is None or isinstance(option, (str, int, float)):
        return option
    return option.get(name)


def column_drift(
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    name: str,
    test: str | Mapping[str, str] | None,
    threshold: float | None,
    column_type: str | None,
    present: tuple[set[str], set[str]],
    fast: bool = False,
) -> ColumnDrift:
    """Prepare one column of both frames and test it (see ``test_column``)."""
    if name not in present[0] or name not in present[1]:
        side = "reference" if name not in present[0] else "current"
        return ColumnDrift(name, "unsupported", note=f"column missing from the {side} frame")
    r, c = ref[name], cur[name]
    if isinstance(r, pd.DataFrame) or isinstance(c, pd.DataFrame):
        raise UsageProblem(f"column name {name!r} is duplicated; drift needs unique column names")
    ctype, note = (column_type, "") if column_type else dc.infer_type(r, c)
    if ctype not in {"numeric", "categorical"}:
        return ColumnDrift(name, ctype, note=note or f"{ctype} column not tested")
    if ctype == "numeric":
        col = fused.numeric_column(r, c) if fast else dc.numeric_column(r, c)
    else:
        col = dc.categorical_column(r, c)
    return test_column(name, ctype, note, col, test, threshold)


def test_column(
    name: str,
    ctype: str,
    note: str,
    col: Any,
    test: str | Mapping[str, str] | None,
    threshold: float | None,
) -> ColumnDrift:
    """Pick the test for a prepared column (numeric or categorical), run it, flag drift.

    ``col`` is any column with sizes, missing shares, ``n_values()`` and ``run(test)``: the
    in-memory columns, or the summaries of streamed and Dask data.
    """
    result = ColumnDrift(
        name,
        ctype,
        reference_size=col.n_reference,
        current_size=col.n_current,
        reference_missing=col.reference_missing,
        current_missing=col.current_missing,
        note=" ".join(filter(None, [note, col.note])),
    )
    if col.n_reference == 0 or col.n_current == 0:
        side = "reference" if col.n_reference == 0 else "current"
        result.note = f"no non-missing values in the {side} frame"
        return result
    chosen = test if isinstance(test, str) else (test or {}).get(ctype) if test else None
    chosen = chosen or dt.default_test(ctype, col.n_reference, col.n_values())
    if chosen in dt.NUMERIC_ONLY and ctype != "numeric":
        raise UsageProblem(f"test {chosen!r} needs a numeric column; {name!r} is {ctype}")
    if chosen in {"z"} and col.n_values() > 2:
        raise UsageProblem(f"the Z-test needs at most two categories; {name!r} has more")
    statistic, p_value = col.run(chosen)
    kind, default_threshold = dt.TESTS[chosen]
    thr = float(default_threshold if threshold is None else threshold)
    score = p_value if kind == "p_value" else statistic
    result.test, result.kind, result.threshold = chosen, kind, thr
    result.statistic, result.p_value, result.score = statistic, p_value, score
    result.drift = dt.is_drift(chosen, float(score if score is not None else np.nan), thr)
    return result
