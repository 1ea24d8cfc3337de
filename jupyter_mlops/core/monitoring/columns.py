"""Column preparation for drift: type inference, missing values, and the samples each test sees.

Turns two pandas columns into either a ``NumericColumn`` (finite float samples) or a
``CategoricalColumn`` (value counts aligned on the union of categories), then runs a named
test from ``drift_tests`` on it. Missing means NaN, None, NaT or +/-inf (as Evidently).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from jupyter_mlops.core.errors import UsageProblem
from jupyter_mlops.core.monitoring import statistics as dt

TEXT_MIN_VALUES = 50  # string columns with at least this many values ...
TEXT_UNIQUE_SHARE = 0.5  # ... more than this share of them distinct are text, not categories
MANY_VALUES = 20  # Evidently bins numeric PSI/KL/JS inputs when the reference has more values


def as_frame(data: Any, side: str) -> pd.DataFrame:
    """A DataFrame from a frame, a Series, a mapping of columns or a 2-D array."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame(name=data.name if data.name is not None else "value")
    if isinstance(data, (dict, np.ndarray, list)):
        try:
            return pd.DataFrame(data)
        except (ValueError, TypeError) as exc:
            raise UsageProblem(f"the {side} data cannot be read as a table: {exc}") from None
    raise UsageProblem(f"the {side} data must be a pandas DataFrame, not {type(data).__name__}")


def _kind(series: pd.Series) -> str:
    dtype = series.dtype
    if ptypes.is_bool_dtype(dtype):
        return "boolean"
    if isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    if ptypes.is_numeric_dtype(dtype):
        return "numeric"
    if ptypes.is_datetime64_any_dtype(dtype) or ptypes.is_timedelta64_dtype(dtype):
        return "datetime"
    if isinstance(dtype, pd.PeriodDtype):
        return "datetime"
    return "object"


def infer_type(ref: pd.Series, cur: pd.Series) -> tuple[str, str]:
    """``(type, note)``: numeric, categorical, text or datetime, from both sides' dtypes."""
    kinds = {_kind(ref), _kind(cur)}
    if kinds == {"numeric"}:
        return "numeric", ""
    if "datetime" in kinds:
        return "datetime", "datetime column not tested; pass column_types={name: 'numeric'}"
    if kinds <= {"boolean", "categorical"}:
        return "categorical", "boolean" if "boolean" in kinds else ""
    if len(kinds) > 1:
        return "categorical", f"types differ ({ref.dtype} vs {cur.dtype}): compared as labels"
    return _infer_object(ref)


def _infer_object(ref: pd.Series) -> tuple[str, str]:
    sample = ref.dropna()
    if len(sample) > 20_000:
        sample = sample.sample(20_000, random_state=0)
    if len(sample) == 0:
        return "categorical", ""
    value_types = {type(v) for v in sample.head(1000)}
    note = "mixed value types: compared as labels" if len(value_types) > 1 else ""
    if value_types == {str} and len(sample) >= TEXT_MIN_VALUES:
        if sample.nunique() > TEXT_UNIQUE_SHARE * len(sample):
            return "text", "text-like column (mostly distinct strings) not tested"
    return "categorical", note


# --- numeric ----------------------------------------------------------------------------------


def float_values(series: pd.Series, name: str) -> np.ndarray:
    """The column as float64 (no copy for float64 columns); missing values are NaN."""
    if _kind(series) == "datetime":
        raw = series.to_numpy(dtype="datetime64[ns]") if series.dtype.kind == "M" else None
        if raw is None:
            raw = series.to_numpy(dtype="timedelta64[ns]")
        values = raw.view(np.int64).astype(np.float64)
        values[np.isnat(raw)] = np.nan
    else:
        try:
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            try:
                values = pd.to_numeric(series, errors="raise").to_numpy(np.float64, na_value=np.nan)
            except (TypeError, ValueError):
                raise UsageProblem(
                    f"column {name!r} holds non-numeric values; it cannot be tested as numeric"
                ) from None
    return values


def _finite(series: pd.Series, name: str) -> tuple[np.ndarray, int]:
    values = float_values(series, name)
    finite = np.isfinite(values)
    if finite.all():
        return values, 0
    return values[finite], int(len(values) - finite.sum())


def _distinct_at_most(values: np.ndarray, cap: int) -> np.ndarray | None:
    """The distinct values if there are at most ``cap``, else None (a sample bounds it first)."""
    if len(np.unique(values[:64])) > cap or len(np.unique(values[:4096])) > cap:
        return None
    distinct = np.unique(values)
    return distinct if len(distinct) <= cap else None


def _value_counts(ref: np.ndarray, cur: np.ndarray) -> dt.Counts:
    rk, rc = np.unique(ref, return_counts=True)
    ck, cc = np.unique(cur, return_counts=True)
    keys = np.union1d(rk, ck)
    reference = np.zeros(len(keys), np.int64)
    current = np.zeros(len(keys), np.int64)
    reference[np.searchsorted(keys, rk)] = rc
    current[np.searchsorted(keys, ck)] = cc
    return dt.Counts(keys.tolist(), reference, current)


@dataclass
class NumericColumn:
    """Finite samples of both sides plus their missing shares."""

    reference: np.ndarray
    current: np.ndarray
    reference_missing: float
    current_missing: float
    note: str = ""

    @property
    def n_reference(self) -> int:
        """Non-missing reference values."""
        return len(self.reference)

    @property
    def n_current(self) -> int:
        """Non-missing current values."""
        return len(self.current)

    def n_values(self) -> int:
        """Distinct values of both sides; exact up to 5, else 6 (all the default rule needs)."""
        cap = dt.FEW_VALUES
        ref = _distinct_at_most(self.reference, cap)
        cur = _distinct_at_most(self.current, cap) if ref is not None else None
        if ref is None or cur is None:
            return cap + 1
        return min(len(np.union1d(ref, cur)), cap + 1)

    def shares(self) -> tuple[np.ndarray, np.ndarray]:
        """Evidently's binning: Sturges bins when the reference has > 20 values, else per value."""
        if _distinct_at_most(self.reference, MANY_VALUES) is None:
            return dt.sturges_shares(self.reference, self.current)
        return dt.shares(_value_counts(self.reference, self.current))

    def run(self, test: str) -> tuple[float, float | None]:
        """Run ``test`` on the samples: ``(statistic, p_value or None)``."""
        ref, cur = self.reference, self.current
        if test == "wasserstein":
            return dt.wasserstein_norm(ref, cur)
        if test == "ks":
            return dt.ks(ref, cur)
        if test == "anderson":
            return dt.anderson(ref, cur)
        if test == "hellinger":
            return dt.hellinger_numeric(ref, cur)
        if test in {"chisquare", "z"}:
            counts = _value_counts(ref, cur)
            return dt.chisquare(counts) if test == "chisquare" else dt.z_test(counts)
        return share_test(test, *self.shares())


def numeric_column(ref: pd.Series, cur: pd.Series) -> NumericColumn:
    """Finite float samples of a numeric (or datetime-as-numeric) column."""
    name = str(ref.name)
    r, r_missing = _finite(ref, name)
    c, c_missing = _finite(cur, name)
    return NumericColumn(r, c, r_missing / len(ref), c_missing / len(cur))


# --- categorical ------------------------------------------------------------------------------


@dataclass
class CategoricalColumn:
    """Aligned value counts of both sides plus their missing shares."""

    counts: dt.Counts
    reference_missing: float
    current_missing: float
    note: str = ""

    @property
    def n_reference(self) -> int:
        """Non-missing reference values."""
        return self.counts.n_reference

    @property
    def n_current(self) -> int:
        """Non-missing current values."""
        return self.counts.n_current

    def n_values(self) -> int:
        """Distinct non-missing values over both sides."""
        return len(self.counts.keys)

    def run(self, test: str) -> tuple[float, float | None]:
        """Run ``test`` on the counts: ``(statistic, p_value or None)``."""
        if test == "chisquare":
            return dt.chisquare(self.counts)
        if test == "z":
            return dt.z_test(self.counts)
        return share_test(test, *dt.shares(self.counts))


def share_test(test: str, ref: np.ndarray, cur: np.ndarray) -> tuple[float, None]:
    """Run a test on per-key shares of both sides."""
    funcs = {
        "jensenshannon": dt.jensenshannon,
        "psi": dt.psi,
        "kl_div": dt.kl_div,
        "hellinger": dt.hellinger_shares,
    }
    return funcs[test](ref, cur)


def _category_counts(ref: pd.Series, cur: pd.Series) -> tuple[list[Any], np.ndarray, np.ndarray]:
    r_dtype, c_dtype = ref.dtype, cur.dtype
    if (
        isinstance(r_dtype, pd.CategoricalDtype)
        and isinstance(c_dtype, pd.CategoricalDtype)
        and r_dtype.categories.equals(c_dtype.categories)
    ):
        size = len(r_dtype.categories) + 1
        rc = np.bincount(ref.cat.codes.to_numpy().astype(np.intp) + 1, minlength=size)[1:]
        cc = np.bincount(cur.cat.codes.to_numpy().astype(np.intp) + 1, minlength=size)[1:]
        return list(r_dtype.categories), rc, cc
    try:
        vr = ref.value_counts(dropna=True, sort=False)
        vc = cur.value_counts(dropna=True, sort=False)
    except TypeError:
        raise UsageProblem(
            f"column {ref.name!r} holds unhashable values (lists, dicts); it cannot be tested"
        ) from None
    keys = vr.index.append(vc.index[~vc.index.isin(vr.index)])
    rc = vr.reindex(keys, fill_value=0).to_numpy(np.int64)
    cc = vc.reindex(keys, fill_value=0).to_numpy(np.int64)
    return list(keys), rc, cc


def categorical_column(ref: pd.Series, cur: pd.Series) -> CategoricalColumn:
    """Value counts of a categorical (or boolean, or mixed) column on the union of categories."""
    keys, rc, cc = _category_counts(ref, cur)
    return categorical_from_counts(keys, rc, cc, len(ref), len(cur))


def categorical_from_counts(
    keys: list[Any], rc: np.ndarray, cc: np.ndarray, ref_rows: int, cur_rows: int
) -> CategoricalColumn:
    """The column from per-key counts of both sides and each side's row count."""
    present = (rc + cc) > 0
    if not present.all():
        keys = [k for k, keep in zip(keys, present, strict=True) if keep]
        rc, cc = rc[present], cc[present]
    unseen = int(((rc == 0) & (cc > 0)).sum()) if rc.sum() else 0
    plural = "y" if unseen == 1 else "ies"
    note = f"{unseen} categor{plural} unseen in the reference" if unseen else ""
    counts = dt.Counts(keys, rc.astype(np.int64), cc.astype(np.int64))
    r_missing = (ref_rows - counts.n_reference) / ref_rows
    c_missing = (cur_rows - counts.n_current) / cur_rows
    return CategoricalColumn(counts, r_missing, c_missing, note)
