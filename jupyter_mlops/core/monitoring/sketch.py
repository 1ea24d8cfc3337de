"""A mergeable quantile sketch for drift on data that is never in memory at once.

Values go into log-spaced buckets around a centre c (a relative-accuracy grid, as DDSketch's):
a bucket holds values whose |x - c| agree within a relative accuracy alpha (default 1e-3;
buckets are 1/(2 alpha) per power of two, log2 interpolated linearly, so no logarithms).
Each bucket keeps its exact count, sum of (x - c), minimum and maximum, so two sketches built
on the same ``Grid`` merge by adding arrays, whatever the partitioning.

Error bounds, computed per column from the sketch itself (both sides on one grid):
- KS: D is bracketed exactly, ``lower <= D <= upper``; upper - lower is at most the largest
  share of either side in one bucket holding more than one distinct value.
- Wasserstein-1: exact in every bucket where F - G keeps its sign (counts and sums give the
  integral); in the others |F - G| is bounded, so |W - estimate| <= bound, where
  bound <= sum over those buckets of (max - min) * (share_ref + share_cur) <= 2 alpha E|x - c|.
``statistics`` gives the same flags as the exact path whenever the threshold lies outside
the bracket; callers fall back to the exact path otherwise. Up to ``RAW_LIMIT`` values the
sketch also keeps the values themselves, so small data get exact tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from jupyter_mlops.core.monitoring import fused

__all__ = ["ACCURACY", "Grid", "QuantileSketch", "ks_bounds", "wasserstein_bounds"]

ACCURACY = 1e-3  # relative accuracy alpha of a bucket
TINY = 1e-9  # |x - c| / scale below this share one central bucket
SPAN = 1e18  # buckets cover |x - c| / scale in [TINY, TINY * SPAN]; beyond: one bucket per side
RAW_LIMIT = 200_000  # values kept as they are (exact tests) until a side holds more


@dataclass(frozen=True)
class Grid:
    """Where the buckets are: a centre, a scale (for the central bucket) and an accuracy."""

    centre: float = 0.0
    scale: float = 1.0
    accuracy: float = ACCURACY

    @classmethod
    def around(cls, values: np.ndarray) -> Grid:
        """A grid centred on the mean of the finite ``values`` (a first batch, say)."""
        finite = values[np.isfinite(values)]
        if not len(finite):
            return cls()
        spread = float(finite.std())
        return cls(float(finite.mean()), spread if spread > 0 else max(abs(finite[0]), 1.0))

    @property
    def per_octave(self) -> int:
        """Buckets per power of two: a bucket's width is at most 2 alpha |x - c|."""
        return math.ceil(1 / (2 * self.accuracy))

    @property
    def size(self) -> int:
        """Number of buckets (both signs, the central one and the two overflow ones)."""
        return 2 * (math.ceil(math.log2(SPAN)) * self.per_octave + 2) + 1

    def params(self) -> np.ndarray:
        """The grid as the ``bucket`` kernel reads it."""
        return np.array([self.centre, 1.0 / self.scale, 1.0 / TINY, float(self.per_octave)])


class QuantileSketch:
    """Bucket counts, sums, minima and maxima of one column on one side; mergeable."""

    def __init__(self, grid: Grid, raw_limit: int | None = None) -> None:
        self.grid = grid
        self.raw_limit = RAW_LIMIT if raw_limit is None else raw_limit
        size = grid.size
        self.counts = np.zeros(size, np.int64)
        self.sums = np.zeros(size)
        self.mins = np.zeros(size)
        self.maxs = np.zeros(size)
        self.moments = np.zeros(3)  # n, sum and sum of squares of x - centre
        self.raw: list[np.ndarray] | None = []

    @property
    def n(self) -> int:
        """Finite values seen."""
        return int(self.moments[0])

    def add(self, values: np.ndarray) -> None:
        """Add a batch (NaN and inf are skipped)."""
        values = np.ascontiguousarray(values, dtype=np.float64)
        before = self.n
        fused.kernels().bucket(
            values, self.grid.params(), self.counts, self.sums, self.mins, self.maxs, self.moments
        )
        self._check_raw()
        if self.raw is not None and self.n > before:
            self.raw.append(values[np.isfinite(values)])

    def merge(self, other: QuantileSketch) -> QuantileSketch:
        """Add another sketch of the same grid into this one (returns self)."""
        if other.grid != self.grid:
            raise ValueError("sketches on different grids cannot be merged")
        both = (self.counts > 0) & (other.counts > 0)
        only = (self.counts == 0) & (other.counts > 0)
        self.mins[both] = np.minimum(self.mins[both], other.mins[both])
        self.maxs[both] = np.maximum(self.maxs[both], other.maxs[both])
        self.mins[only], self.maxs[only] = other.mins[only], other.maxs[only]
        self.counts += other.counts
        self.sums += other.sums
        self.moments += other.moments
        if self.raw is not None and other.raw is not None:
            self.raw.extend(other.raw)
            self._check_raw()
        else:
            self.raw = None
        return self

    def _check_raw(self) -> None:
        if self.n > self.raw_limit:
            self.raw = None

    def values(self) -> np.ndarray | None:
        """All finite values seen, while there are at most ``raw_limit`` of them."""
        if self.raw is None:
            return None
        return np.concatenate(self.raw) if self.raw else np.empty(0)

    def std(self) -> float:
        """Population standard deviation of the values seen."""
        n, s1, s2 = self.moments
        return math.sqrt(max(s2 / n - (s1 / n) ** 2, 0.0)) if n else math.nan

    def __getstate__(self) -> dict[str, object]:
        """Only the occupied buckets travel (a dask partition's summary stays small)."""
        used = np.flatnonzero(self.counts)
        return {
            "grid": self.grid,
            "raw_limit": self.raw_limit,
            "used": used,
            "columns": [a[used] for a in (self.counts, self.sums, self.mins, self.maxs)],
            "moments": self.moments,
            "raw": self.raw,
        }

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__(state["grid"], state["raw_limit"])  # type: ignore[misc, arg-type]
        used = state["used"]
        for target, column in zip(
            (self.counts, self.sums, self.mins, self.maxs), state["columns"], strict=True
        ):
            target[used] = column
        self.moments = np.array(state["moments"])
        self.raw = state["raw"]  # type: ignore[assignment]


def _joint(a: QuantileSketch, b: QuantileSketch) -> tuple[np.ndarray, ...]:
    """Occupied buckets of either side, in value order, with both sides' cumulative counts."""
    used = np.flatnonzero((a.counts > 0) | (b.counts > 0))
    ca, cb = a.counts[used], b.counts[used]
    lo = np.where(ca > 0, a.mins[used], np.inf)
    lo = np.minimum(lo, np.where(cb > 0, b.mins[used], np.inf))
    hi = np.where(ca > 0, a.maxs[used], -np.inf)
    hi = np.maximum(hi, np.where(cb > 0, b.maxs[used], -np.inf))
    return used, ca, cb, np.cumsum(ca), np.cumsum(cb), lo, hi


def ks_bounds(a: QuantileSketch, b: QuantileSketch) -> tuple[float, float]:
    """``(lower, upper)`` with lower <= KS statistic D <= upper."""
    _, ca, cb, fa, fb, lo, hi = _joint(a, b)
    n, m = a.n, b.n
    after = np.abs(fa / n - fb / m)  # exact at each bucket's maximum
    lower = float(after.max())
    wide = hi > lo  # inside a bucket of several values F and G are only bracketed
    before_a, before_b = (fa - ca) / n, (fb - cb) / m
    inside = np.maximum(fa / n - before_b, fb / m - before_a)[wide]
    return lower, max(lower, float(inside.max()) if inside.size else lower)


def wasserstein_bounds(a: QuantileSketch, b: QuantileSketch) -> tuple[float, float]:
    """``(estimate, bound)`` with |W1(a, b) - estimate| <= bound."""
    used, ca, cb, fa, fb, lo, hi = _joint(a, b)
    n, m = a.n, b.n
    c = a.grid.centre
    # n*m*(F - G) before each bucket's minimum (exact integers), and over gaps to the next one
    d_before = (fa - ca) * m - (fb - cb) * n
    d_after = fa * m - fb * n
    gaps = float(np.abs(d_after[:-1]) @ (lo[1:] - hi[:-1]))
    # inside [lo, hi]: integral of n*m*(F - G) from counts and sums of (hi - x)
    rest_a = ca * (hi - c) - a.sums[used]
    rest_b = cb * (hi - c) - b.sums[used]
    integral = d_before * (hi - lo) + m * rest_a - n * rest_b
    crosses = (d_before - cb * n < 0) & (d_before + ca * m > 0) & (hi > lo)
    exact = float(np.abs(integral[~crosses]).sum())
    peak = np.maximum(np.abs(d_before - cb * n), np.abs(d_before + ca * m))[crosses]
    upper = peak * (hi - lo)[crosses]
    lower = np.abs(integral[crosses])
    estimate = exact + gaps + float((upper + lower).sum()) / 2
    bound = float((upper - lower).sum()) / 2
    return estimate / (n * m), bound / (n * m)
