"""Numeric columns tested by the fused numba kernels: no cleaned copies, two passes per side.

``FusedNumericColumn`` has the interface of ``columns.NumericColumn`` (the numpy reference):
one ``scan`` pass gives sizes, missing shares, range, mean and up to 20 distinct values with
counts (all the default-test rule and the per-value tests need); normalised Wasserstein takes
one more pass (``bin_side``: bins and the reference's spread) plus a pass over the few values
of bins where the two CDFs cross. Any other test runs the reference on cleaned samples.

The kernels are used only for columns of ``FUSED_MIN_VALUES`` or more and only once compiled:
the first large call runs the numpy path and, once it has returned, starts compiling them in a
background thread (from the disk cache: ~0.5 s), so compilation never delays a user's call
(``JUPYTER_MLOPS_NO_NUMBA=1`` turns them off).
"""

from __future__ import annotations

import math
import os
import threading
from functools import cached_property
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from jupyter_mlops.core.monitoring import columns as dc
from jupyter_mlops.core.monitoring import statistics as dt

__all__ = ["FUSED_MIN_VALUES", "FusedNumericColumn", "enabled", "kernels", "numeric_column"]

FUSED_MIN_VALUES = 200_000  # values of a column (both sides) from which the kernels pay off
DISABLE_ENV = "JUPYTER_MLOPS_NO_NUMBA"
_STATE: dict[str, Any] = {"module": None, "thread": None, "error": None}
_LOCK = threading.Lock()


def _compile() -> None:
    try:
        from jupyter_mlops.core.monitoring import kernels as module

        module.touch()
        _STATE["module"] = module
    except Exception as exc:  # numba missing or broken: the numpy path keeps working
        _STATE["error"] = exc


def warm_up(wait: bool = False) -> bool:
    """Start compiling the kernels in a background thread (once); ``wait`` blocks until done."""
    if os.environ.get(DISABLE_ENV) == "1":
        return False
    with _LOCK:
        thread = _STATE["thread"]
        if thread is None:
            thread = _STATE["thread"] = threading.Thread(
                target=_compile, name="drift-kernels-jit", daemon=True
            )
            thread.start()
    if wait:
        thread.join()
    return _STATE["module"] is not None


def enabled(values: int) -> bool:
    """Whether columns of ``values`` values use the kernels now (never waits for the JIT)."""
    if values < FUSED_MIN_VALUES or os.environ.get(DISABLE_ENV) == "1":
        return False
    return _STATE["module"] is not None


def after_call(values: int) -> None:
    """After a call on ``values`` values per column: compile in the background if it would pay.

    Compiling after (not during) the first large call keeps that call as fast as the numpy
    path: on 2 cores a compile running beside it would take a core and the GIL from it.
    """
    if values >= FUSED_MIN_VALUES and os.environ.get(DISABLE_ENV) != "1":
        warm_up()


def kernels() -> ModuleType:
    """The compiled kernels, compiling them now if needed (raises if numba is unusable)."""
    if not warm_up(wait=True):
        raise RuntimeError(f"numba kernels unavailable: {_STATE['error']}")
    return _STATE["module"]


class _Scan:
    """What one ``scan`` pass learns about one side."""

    def __init__(self, values: np.ndarray, cap: int) -> None:
        distinct, counts = np.empty(cap), np.zeros(cap, np.int64)
        n, lo, hi, total, nd, over = kernels().scan(values, cap, distinct, counts)
        self.values, self.n, self.lo, self.hi = values, int(n), float(lo), float(hi)
        self.mean = total / n if n else math.nan
        self.distinct = None if over else distinct[:nd]
        self.counts = None if over else counts[:nd]

    def at_most(self, cap: int) -> bool:
        """Whether this side has at most ``cap`` distinct finite values."""
        return self.distinct is not None and len(self.distinct) <= cap


class FusedNumericColumn:
    """A numeric column of both sides, as raw float64 arrays (NaN/inf are skipped, not copied)."""

    note = ""

    def __init__(self, reference: np.ndarray, current: np.ndarray) -> None:
        self.ref = _Scan(reference, dc.MANY_VALUES)
        self.cur = _Scan(current, dc.MANY_VALUES)
        self.reference_missing = 1 - self.ref.n / len(reference)
        self.current_missing = 1 - self.cur.n / len(current)

    @property
    def n_reference(self) -> int:
        """Non-missing reference values."""
        return self.ref.n

    @property
    def n_current(self) -> int:
        """Non-missing current values."""
        return self.cur.n

    def n_values(self) -> int:
        """Distinct values of both sides; exact up to 5, else 6 (as the reference)."""
        cap = dt.FEW_VALUES
        if not (self.ref.at_most(cap) and self.cur.at_most(cap)):
            return cap + 1
        return min(len(np.union1d(self.ref.distinct, self.cur.distinct)), cap + 1)

    def _counts(self) -> dt.Counts:
        """Per-value counts on the sorted union of values (both sides at most 20 values)."""
        keys = np.union1d(self.ref.distinct, self.cur.distinct)
        reference = np.zeros(len(keys), np.int64)
        current = np.zeros(len(keys), np.int64)
        reference[np.searchsorted(keys, self.ref.distinct)] = self.ref.counts
        current[np.searchsorted(keys, self.cur.distinct)] = self.cur.counts
        return dt.Counts(keys.tolist(), reference, current)

    @cached_property
    def _reference_path(self) -> dc.NumericColumn:
        clean = [x[np.isfinite(x)] for x in (self.ref.values, self.cur.values)]
        return dc.NumericColumn(*clean, self.reference_missing, self.current_missing)

    def run(self, test: str) -> tuple[float, float | None]:
        """Run ``test``: ``(statistic, p_value or None)``, equal to the reference's to 1e-9."""
        per_value = self.ref.at_most(dc.MANY_VALUES) and self.cur.at_most(dc.MANY_VALUES)
        if test == "wasserstein":
            return self._wasserstein(), None
        if test in {"chisquare", "z"} and per_value:
            counts = self._counts()
            return dt.chisquare(counts) if test == "chisquare" else dt.z_test(counts)
        if test in {"jensenshannon", "psi", "kl_div"} and per_value:
            return dc.share_test(test, *dt.shares(self._counts()))
        return self._reference_path.run(test)

    def _wasserstein(self) -> float:
        """Normalised Wasserstein distance: two kernel passes per side, then the binned sum."""
        k, ref, cur = kernels(), self.ref, self.cur
        n, m = ref.n, cur.n
        lo, hi = min(ref.lo, cur.lo), max(ref.hi, cur.hi)
        bins = dt.wasserstein_bins(n, m)
        scale = dt.bin_scale(lo, hi, bins) if hi > lo else 1.0
        count_ref, rest_ref = np.zeros(bins, np.int64), np.zeros(bins)
        count_cur, rest_cur = np.zeros(bins, np.int64), np.zeros(bins)
        squares = k.bin_side(ref.values, lo, scale, ref.mean, count_ref, rest_ref)
        norm = max(math.sqrt(squares / n), 0.001)
        if hi == lo:
            return 0.0
        k.bin_side(cur.values, lo, scale, 0.0, count_cur, rest_cur)
        rest_ref += count_ref
        rest_cur += count_cur

        def ambiguous_integral(ambiguous: np.ndarray, d_left: np.ndarray) -> float:
            n_ref = int(count_ref[ambiguous].sum())
            size = n_ref + int(count_cur[ambiguous].sum())
            y, bin_of = np.empty(size), np.empty(size, np.intp)
            end = k.gather(ref.values, lo, scale, ambiguous, y, bin_of, 0)
            k.gather(cur.values, lo, scale, ambiguous, y, bin_of, end)
            return k.ambiguous_integral(y, bin_of, n_ref, m, n, d_left)

        counts = (count_ref, rest_ref, count_cur, rest_cur)
        return dt.binned_wasserstein(n, m, scale, counts, ambiguous_integral) / norm


def numeric_column(ref: pd.Series, cur: pd.Series) -> FusedNumericColumn:
    """Both sides of a numeric (or datetime-as-numeric) column for the kernels."""
    name = str(ref.name)
    r, c = dc.float_values(ref, name), dc.float_values(cur, name)
    if not (r.flags.c_contiguous and c.flags.c_contiguous):
        r, c = np.ascontiguousarray(r), np.ascontiguousarray(c)
    return FusedNumericColumn(r, c)
