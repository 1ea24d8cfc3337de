"""Mergeable per-column summaries: drift over data seen a batch (or a partition) at a time.

A ``Plan`` fixes, from a first batch, each column's type and (numeric) sketch grid; then
``summarize`` turns any batch or Dask partition into summaries that ``merge`` adds up in any
order. Numeric columns keep a ``QuantileSketch`` plus their distinct values while there are at
most 20 (so per-value tests stay exact); categorical columns keep exact value counts, so
chi-squared, Z, Jensen-Shannon, PSI and KL on them are exact. ``SketchColumn`` runs tests on
merged numeric summaries and says how sure each score is (``interval``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from jupyter_mlops.core.errors import UsageProblem
from jupyter_mlops.core.monitoring import columns as dc
from jupyter_mlops.core.monitoring import fused, sketch
from jupyter_mlops.core.monitoring import statistics as dt
from jupyter_mlops.core.monitoring.sketch import Grid, QuantileSketch, ks_bounds, wasserstein_bounds
from jupyter_mlops.core.monitoring.sketch_tests import (
    anderson_bounds,
    anderson_pvalue,
    sturges_bounds,
)

__all__ = [
    "CategoricalSummary",
    "NeedsExact",
    "NumericSummary",
    "Plan",
    "SketchColumn",
    "merge",
    "summarize",
    "update",
]


class NeedsExact(Exception):
    """A test the summaries cannot answer exactly enough: the caller reads the column whole."""


@dataclass
class Plan:
    """Each column's type (numeric, categorical, or another type with a note) and sketch grid."""

    types: dict[str, str]
    notes: dict[str, str] = field(default_factory=dict)
    grids: dict[str, Grid] = field(default_factory=dict)
    raw_limit: int = field(default_factory=lambda: sketch.RAW_LIMIT)  # travels to Dask workers

    @classmethod
    def infer(
        cls,
        reference: pd.DataFrame,
        current: pd.DataFrame,
        names: Iterable[str],
        column_types: Mapping[str, str] | None = None,
    ) -> Plan:
        """Types from both sides' first batches (or ``column_types``); grids from the reference."""
        plan = cls(types={})
        for name in names:
            if name not in reference.columns or name not in current.columns:
                side = "reference" if name not in reference.columns else "current"
                plan.types[name] = "unsupported"
                plan.notes[name] = f"column missing from the {side} frame"
                continue
            given = (column_types or {}).get(name)
            ctype, note = (given, "") if given else dc.infer_type(reference[name], current[name])
            plan.types[name], plan.notes[name] = ctype, note
            if ctype == "numeric":
                plan.grids[name] = Grid.around(dc.float_values(reference[name], name))
        return plan

    def tested(self) -> list[str]:
        """The columns the summaries cover (numeric and categorical)."""
        return [n for n, t in self.types.items() if t in {"numeric", "categorical"}]


class NumericSummary:
    """Rows, sketch and (up to 20) distinct values with counts of one numeric column."""

    def __init__(self, grid: Grid, raw_limit: int | None = None) -> None:
        self.rows = 0
        self.sketch = QuantileSketch(grid, raw_limit)
        self.distinct: dict[float, int] | None = {}

    def add(self, series: Any, name: str = "") -> None:
        """Add a batch of the column (a pandas Series or a pyarrow array)."""
        values = np.ascontiguousarray(_floats(series, name or str(getattr(series, "name", ""))))
        self.rows += len(values)
        self.sketch.add(values)
        if self.distinct is not None:
            cap = dc.MANY_VALUES
            distinct, counts = np.empty(cap), np.zeros(cap, np.int64)
            nd, over = fused.kernels().distinct(values, cap, distinct, counts)  # stops early
            self._merge_distinct(
                None if over else dict(zip(distinct[:nd], counts[:nd], strict=True))
            )

    def _merge_distinct(self, other: dict[float, int] | None) -> None:
        if self.distinct is None or other is None:
            self.distinct = None
            return
        for key, count in other.items():
            self.distinct[float(key)] = self.distinct.get(float(key), 0) + int(count)
        if len(self.distinct) > dc.MANY_VALUES:
            self.distinct = None

    def merge(self, other: NumericSummary) -> NumericSummary:
        """Add another summary of the same column into this one (returns self)."""
        self.rows += other.rows
        self.sketch.merge(other.sketch)
        self._merge_distinct(other.distinct)
        return self


class CategoricalSummary:
    """Rows and exact value counts of one categorical column."""

    def __init__(self) -> None:
        self.rows = 0
        self.counts: dict[Any, int] = {}

    def add(self, series: Any, name: str = "") -> None:
        """Add a batch of the column (a pandas Series or a pyarrow array)."""
        self.rows += len(series)
        if not isinstance(series, pd.Series):
            self._add_arrow(series)
            return
        try:
            found = series.value_counts(dropna=True, sort=False)
        except TypeError:
            raise UsageProblem(
                f"column {series.name!r} holds unhashable values (lists, dicts); "
                "it cannot be tested"
            ) from None
        for key, count in found.items():
            if count:
                self.counts[key] = self.counts.get(key, 0) + int(count)

    def _add_arrow(self, column: Any) -> None:
        import pyarrow.compute as pc

        found = pc.value_counts(column)
        keys = found.field("values").to_pylist()
        for key, count in zip(keys, found.field("counts").to_pylist(), strict=True):
            if key is None or (isinstance(key, float) and math.isnan(key)):
                continue  # missing, as pandas' value_counts(dropna=True)
            self.counts[key] = self.counts.get(key, 0) + int(count)

    def merge(self, other: CategoricalSummary) -> CategoricalSummary:
        """Add another summary of the same column into this one (returns self)."""
        self.rows += other.rows
        for key, count in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + count
        return self

    def column(self, current: CategoricalSummary) -> dc.CategoricalColumn:
        """The column to test: this summary as reference, ``current`` as current."""
        keys = list(self.counts) + [k for k in current.counts if k not in self.counts]
        rc = np.array([self.counts.get(k, 0) for k in keys], np.int64)
        cc = np.array([current.counts.get(k, 0) for k in keys], np.int64)
        return dc.categorical_from_counts(keys, rc, cc, max(self.rows, 1), max(current.rows, 1))


Summary = NumericSummary | CategoricalSummary


def summarize(frame: pd.DataFrame, plan: Plan) -> dict[str, Summary]:
    """Summaries of one batch or partition (a frame holding at least the planned columns)."""
    return update({}, frame, plan)


def update(total: dict[str, Summary], frame: Any, plan: Plan) -> dict[str, Summary]:
    """Add a batch (a pandas DataFrame or a pyarrow RecordBatch) to running summaries (created
    on first use); returns ``total``."""
    for name in plan.tested():
        summary = total.get(name)
        if summary is None:
            summary = total[name] = (
                NumericSummary(plan.grids[name], plan.raw_limit)
                if plan.types[name] == "numeric"
                else CategoricalSummary()
            )
        if isinstance(frame, pd.DataFrame):
            summary.add(frame[name], name)
        else:  # a pyarrow RecordBatch: no pandas conversion (it cost more than the summaries)
            summary.add(frame.column(name), name)
    return total


def _floats(column: Any, name: str) -> np.ndarray:
    """A numeric column as float64 with NaN for missing values, from pandas or pyarrow."""
    if isinstance(column, pd.Series):
        return dc.float_values(column, name)
    import pyarrow as pa
    import pyarrow.types as pat

    if pat.is_floating(column.type) or pat.is_integer(column.type):
        if column.null_count == 0 and column.type == pa.float64():
            return column.to_numpy(zero_copy_only=False)
        return column.cast(pa.float64()).to_numpy(zero_copy_only=False)  # nulls become NaN
    return dc.float_values(column.to_pandas(), name)


def merge(a: dict[str, Summary], b: dict[str, Summary]) -> dict[str, Summary]:
    """Merge two batches' summaries (into ``a``, which is returned)."""
    for name, summary in b.items():
        if name in a:
            a[name].merge(summary)  # type: ignore[arg-type]
        else:
            a[name] = summary
    return a


class SketchColumn:
    """A numeric column from merged summaries, with the interface of ``NumericColumn``.

    After ``run``, ``interval`` brackets the score (None when the test was exact).
    """

    note = ""

    def __init__(self, reference: NumericSummary, current: NumericSummary) -> None:
        self.ref, self.cur = reference, current
        self.reference_missing = 1 - reference.sketch.n / max(reference.rows, 1)
        self.current_missing = 1 - current.sketch.n / max(current.rows, 1)
        self.interval: tuple[float, float] | None = None

    @property
    def n_reference(self) -> int:
        """Non-missing reference values."""
        return self.ref.sketch.n

    @property
    def n_current(self) -> int:
        """Non-missing current values."""
        return self.cur.sketch.n

    def n_values(self) -> int:
        """Distinct values of both sides; exact up to 5, else 6 (as ``NumericColumn``)."""
        cap = dt.FEW_VALUES
        ref, cur = self.ref.distinct, self.cur.distinct
        if ref is None or cur is None or len(ref) > cap or len(cur) > cap:
            return cap + 1
        return min(len(set(ref) | set(cur)), cap + 1)

    def _counts(self) -> dt.Counts:
        ref, cur = self.ref.distinct or {}, self.cur.distinct or {}
        keys = sorted(set(ref) | set(cur))
        return dt.Counts(
            keys,
            np.array([ref.get(k, 0) for k in keys], np.int64),
            np.array([cur.get(k, 0) for k in keys], np.int64),
        )

    def run(self, test: str) -> tuple[float, float | None]:
        """Run ``test`` exactly where the summaries allow, else on the sketch with an interval."""
        self.interval = None
        ref_values, cur_values = self.ref.sketch.values(), self.cur.sketch.values()
        if ref_values is not None and cur_values is not None:
            column = dc.NumericColumn(
                ref_values, cur_values, self.reference_missing, self.current_missing
            )
            return column.run(test)
        per_value = self.ref.distinct is not None and self.cur.distinct is not None
        if test in {"chisquare", "z"} and per_value:
            counts = self._counts()
            return dt.chisquare(counts) if test == "chisquare" else dt.z_test(counts)
        if test in {"jensenshannon", "psi", "kl_div"} and per_value:
            return dc.share_test(test, *dt.shares(self._counts()))
        if test in {"jensenshannon", "psi", "kl_div"} and self.ref.distinct is None:
            bracket = sturges_bounds(test, self.ref.sketch, self.cur.sketch)
            if bracket is None:
                raise NeedsExact(test)
            self.interval = bracket[1:]
            return bracket[0], None
        if test == "anderson":
            estimate, low, high = anderson_bounds(self.ref.sketch, self.cur.sketch)
            self.interval = (anderson_pvalue(high), anderson_pvalue(low))
            return estimate, anderson_pvalue(estimate)
        if test == "wasserstein":
            estimate, bound = wasserstein_bounds(self.ref.sketch, self.cur.sketch)
            norm = max(self.ref.sketch.std(), 0.001)
            self.interval = ((estimate - bound) / norm, (estimate + bound) / norm)
            return estimate / norm, None
        if test == "ks":
            lower, upper = ks_bounds(self.ref.sketch, self.cur.sketch)
            n, m = self.n_reference, self.n_current
            size = round(n * m / (n + m))  # scipy's asymptotic two-sided p-value
            self.interval = (float(stats.kstwo.sf(upper, size)), float(stats.kstwo.sf(lower, size)))
            middle = (lower + upper) / 2
            return middle, float(stats.kstwo.sf(middle, size))
        raise NeedsExact(test)

    def certain(self, test: str, threshold: float) -> bool:
        """Whether the flag of the last ``run`` is the same anywhere in its score interval."""
        if self.interval is None:
            return True
        low, high = self.interval
        if math.isnan(low) or math.isnan(high):
            return False
        return dt.is_drift(test, low, threshold) == dt.is_drift(test, high, threshold)
