"""Anderson-Darling and Sturges-binned tests (PSI, KL, Jensen-Shannon) on two quantile sketches.

Both are computed from the buckets of ``sketch.QuantileSketch`` (counts, minima, maxima, both
sides on one grid, in value order) with a bracket that holds the exact in-memory score:
- Sturges bins: the edges are exact (they depend only on the pooled minimum, maximum and size,
  which the sketch keeps exactly). A bucket lies wholly in one bin unless an edge falls inside
  it (at most one bucket per edge and side, each holding a share <= 2 alpha of the data near
  it), so each bin's share is known within the straddling buckets' counts. The score is a sum
  of jointly convex terms of (reference share, current share): each term's maximum over its
  box is at a corner, its minimum above the tangent plane at the estimate, so
  ``lower <= score <= upper``. Zero shares PSI/KL fill (Evidently's rule) are exact when a
  bin is empty for sure; a bin that may or may not be empty sends the column to the exact path.
- Anderson-Darling (scipy's k-sample midrank statistic, k = 2): a sum over the pooled distinct
  values z of l (F1 - F2)^2 n1 n2 / (B (N - B) - N l / 4). A bucket holding one distinct value is
  one exact term; in a bucket of several values F1 - F2 stays between its values at the
  bucket's ends (extended by the bucket's own counts), and B (N - B) - N l / 4 between
  B0 (N - B1) + (N - 1) / 4 and max B (N - B) over the bucket (B0, B1: pooled counts before and
  after it), which bound the bucket's terms. scipy's p-value is monotone in the statistic, so
  the p-value's bracket follows. The estimate integrates (F1 - F2)^2 linearly across a bucket.
The caller keeps a sketched flag only when the threshold lies outside the bracket.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from jupyter_mlops.core.monitoring import statistics as dt
from jupyter_mlops.core.monitoring.sketch import QuantileSketch

__all__ = ["anderson_bounds", "anderson_pvalue", "sturges_bounds", "sturges_edges"]

Bracket = tuple[float, float, float]  # estimate, lower, upper


def _buckets(s: QuantileSketch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    used = np.flatnonzero(s.counts)
    return s.counts[used], s.mins[used], s.maxs[used]


def sturges_edges(lo: float, hi: float, size: int) -> np.ndarray:
    """``np.histogram_bin_edges(x, "sturges")`` for data of minimum lo, maximum hi, size N."""
    first, last = (lo - 0.5, hi + 0.5) if lo == hi else (lo, hi)
    width = (hi - lo) / (np.log2(size) + 1.0)
    bins = int(np.ceil((last - first) / width)) if width else 1
    return np.linspace(first, last, bins + 1, endpoint=True)


def _bin_counts(s: QuantileSketch, edges: np.ndarray) -> tuple[np.ndarray, ...]:
    """Estimated, lowest and highest count of each bin (np.histogram's half-open bins)."""
    counts, lo, hi = _buckets(s)
    inner = edges[1:-1, None]
    sure = ((hi[None, :] < inner) * counts).sum(axis=1)  # below the edge for certain
    maybe = ((lo[None, :] < inner) * counts).sum(axis=1)  # possibly below it
    span = np.where(hi > lo, hi - lo, 1.0)
    part = np.clip((inner - lo[None, :]) / span[None, :], 0.0, 1.0)
    straddle = (lo[None, :] < inner) & (hi[None, :] >= inner)
    guess = sure + (straddle * part * counts).sum(axis=1)
    n = float(counts.sum())

    def per_bin(below: np.ndarray, other: np.ndarray | None = None) -> np.ndarray:
        upper = np.concatenate([below, [n]])
        lower = np.concatenate([[0.0], below if other is None else other])
        return upper - lower

    estimate = per_bin(guess.astype(float))
    low = np.maximum(per_bin(sure.astype(float), maybe.astype(float)), 0.0)
    high = per_bin(maybe.astype(float), sure.astype(float))
    return estimate, low, high


def _fill_interval(
    low: np.ndarray, high: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float, float] | None:
    """Share intervals after Evidently's zero fill, and the least and most mass the fill adds;
    None when a bin may or may not be empty."""
    if ((low == 0) & (high > 0)).any():
        return None
    empty = high == 0
    if not empty.any():
        return low, high, 0.0, 0.0
    positive = ~empty
    smallest = (low[positive].min(), high[positive].min())
    fills = [s / 10**6 if s <= 0.0001 else 0.0001 for s in smallest]  # non-decreasing in s
    low, high = low.copy(), high.copy()
    low[empty], high[empty] = fills[0], fills[1]
    k = int(empty.sum())
    return low, high, k * fills[0], k * fills[1]


def _term(test: str, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        if test == "psi":
            return (r - c) * np.log(r / c)
        if test == "kl_div":
            return np.where(r > 0, r * np.log(r / c), 0.0)
        m = (r + c) / 2
        left = np.where(r > 0, r * np.log(r / m), 0.0)
        return left + np.where(c > 0, c * np.log(c / m), 0.0)


def _term_bounds(test: str, box: tuple[np.ndarray, ...], at: tuple[np.ndarray, ...]) -> tuple:
    """Sum of each convex term's minimum (tangent plane) and maximum (corners) over its box."""
    r_lo, r_hi, c_lo, c_hi = box
    corners = [_term(test, r, c) for r in (r_lo, r_hi) for c in (c_lo, c_hi)]
    upper = float(np.max(corners, axis=0).sum())
    r0, c0 = np.clip(at[0], r_lo, r_hi), np.clip(at[1], c_lo, c_hi)
    f0 = _term(test, r0, c0)
    h = 1e-7 * np.maximum(r0 + c0, 1e-12)
    with np.errstate(invalid="ignore"):
        dr = (_term(test, r0 + h, c0) - _term(test, np.maximum(r0 - h, 0), c0)) / (
            r0 + h - np.maximum(r0 - h, 0)
        )
        dc = (_term(test, r0, c0 + h) - _term(test, r0, np.maximum(c0 - h, 0))) / (
            c0 + h - np.maximum(c0 - h, 0)
        )
        low = f0 + np.minimum(dr * (r_lo - r0), dr * (r_hi - r0))
        low += np.minimum(dc * (c_lo - c0), dc * (c_hi - c0))
    exact = (r_lo == r_hi) & (c_lo == c_hi)
    low = np.where(exact, f0, np.where(np.isnan(low), -np.inf, low))
    low = np.minimum(low, np.min(corners, axis=0))
    if test != "kl_div":
        low = np.maximum(low, 0.0)  # PSI and JS terms are never negative
    slack = 1e-9 * (abs(upper) + 1e-12)  # rounding of sums and of the numerical derivative
    return max(float(low.sum()), 0.0) - slack, upper + slack  # every score here is >= 0


def sturges_bounds(test: str, a: QuantileSketch, b: QuantileSketch) -> Bracket | None:
    """``(estimate, lower, upper)`` of PSI, KL or JS on Sturges bins; None: read it whole."""
    _, la, ha = _buckets(a)
    _, lb, hb = _buckets(b)
    edges = sturges_edges(float(min(la[0], lb[0])), float(max(ha[-1], hb[-1])), a.n + b.n)
    est_a, low_a, high_a = (x / a.n for x in _bin_counts(a, edges))
    est_b, low_b, high_b = (x / b.n for x in _bin_counts(b, edges))
    statistic, _ = dc_share_test(test, est_a, est_b)
    if test == "jensenshannon":
        terms = _term_bounds(test, (low_a, high_a, low_b, high_b), (est_a, est_b))
        low, high = (math.sqrt(max(t, 0.0) / 2) for t in terms)
        return statistic, low, high
    filled = (_fill_interval(low_a, high_a), _fill_interval(low_b, high_b))
    if filled[0] is None or filled[1] is None:
        return None
    (ra, rb, ra_add, rb_add), (sa, sb, sa_add, sb_add) = filled
    at = (dt.fill_zeroes(est_a), dt.fill_zeroes(est_b))
    if test == "kl_div":  # scipy's entropy divides the filled shares by their sum, 1 + fills
        ra, rb = ra / (1 + rb_add), rb / (1 + ra_add)
        sa, sb = sa / (1 + sb_add), sb / (1 + sa_add)
        at = (at[0] / at[0].sum(), at[1] / at[1].sum())
    low, high = _term_bounds(test, (ra, rb, sa, sb), at)
    return statistic, low, high


def dc_share_test(test: str, ref: np.ndarray, cur: np.ndarray) -> tuple[float, None]:
    """The exact path's share test (renormalised estimates)."""
    funcs = {"jensenshannon": dt.jensenshannon, "psi": dt.psi, "kl_div": dt.kl_div}
    return funcs[test](ref / ref.sum(), cur / cur.sum())


def anderson_bounds(a: QuantileSketch, b: QuantileSketch) -> Bracket:
    """``(estimate, lower, upper)`` of scipy's normalised k-sample statistic A2 (k = 2)."""
    used = np.flatnonzero((a.counts > 0) | (b.counts > 0))
    ca, cb = a.counts[used].astype(float), b.counts[used].astype(float)
    lo = np.minimum(np.where(ca > 0, a.mins[used], np.inf), np.where(cb > 0, b.mins[used], np.inf))
    hi = np.maximum(
        np.where(ca > 0, a.maxs[used], -np.inf), np.where(cb > 0, b.maxs[used], -np.inf)
    )
    n1, n2 = float(a.n), float(b.n)
    big_n = n1 + n2
    fa, fb = np.cumsum(ca), np.cumsum(cb)
    d_before, d_after = (fa - ca) / n1 - (fb - cb) / n2, fa / n1 - fb / n2
    pooled_before, pooled_after = fa + fb - ca - cb, fa + fb
    ties = ca + cb
    # a bucket of one distinct value: one exact midrank term
    d_mid = d_before + ca / (2 * n1) - cb / (2 * n2)
    b_mid = pooled_before + ties / 2
    den_mid = b_mid * (big_n - b_mid) - big_n * ties / 4
    with np.errstate(divide="ignore", invalid="ignore"):
        exact = np.where(den_mid > 0, ties * d_mid**2 / den_mid, 0.0)
    single = hi == lo
    # several values: bounds and a linear-path estimate
    peak = np.maximum(np.abs(d_before - cb / n2), np.abs(d_before + ca / n1))
    crosses = (d_before - cb / n2 <= 0) & (d_before + ca / n1 >= 0)
    least = np.where(
        crosses, 0.0, np.minimum(np.abs(d_before - cb / n2), np.abs(d_before + ca / n1))
    )
    den_low = pooled_before * (big_n - pooled_after) + (big_n - 1) / 4
    top = np.clip(big_n / 2, pooled_before, pooled_after)
    den_high = top * (big_n - top) - big_n / 4
    squares = (d_before**2 + d_before * d_after + d_after**2) / 3
    step = 1.0 / min(n1, n2)  # the most F1 - F2 moves per value
    with np.errstate(divide="ignore", invalid="ignore"):
        guess = ties * squares / np.maximum(den_mid, den_low)
        upper = np.minimum.reduce(
            [
                ties * peak**2 / den_low,
                ties * _edge_bound(d_before, pooled_before, ties, step) / (big_n - pooled_after),
                ties * _edge_bound(d_after, big_n - pooled_after, ties, step) / pooled_before,
            ]
        )
        lower = ties * least**2 / np.maximum(den_high, 1e-300)
    scale = n1 * n2 * (big_n - 1) / big_n
    total = [scale * float(np.where(single, exact, part).sum()) for part in (guess, lower, upper)]
    sigma = math.sqrt(_variance(int(big_n), 1.0 / n1 + 1.0 / n2))
    estimate, low, high = ((t - 1.0) / sigma for t in total)
    slack = 1e-9 * (abs(low) + abs(high) + 1.0)  # rounding of the sums
    return estimate, low - slack, high + slack


def _edge_bound(d_edge: np.ndarray, base: np.ndarray, ties: np.ndarray, step: float) -> np.ndarray:
    """max over u in [1, c] of (|D_edge| + u step)^2 / (base + u / 4), a convex function of u.

    A group of l tied values ending u values after a bucket's start has |F1 - F2| <= |D| + u
    step and B(N - B) - N l / 4 >= (P0 + u / 4)(N - P1) (mirrored from the bucket's end).
    """
    first = (np.abs(d_edge) + step) ** 2 / (base + 0.25)
    last = (np.abs(d_edge) + ties * step) ** 2 / (base + ties / 4)
    return np.maximum(first, last)


@lru_cache(maxsize=64)
def _variance(big_n: int, inverse_sizes: float) -> float:
    """scipy's variance of A2kN under the null (k = 2), its sums taken in bounded chunks."""
    k, h_sum = 2, inverse_sizes
    running, g, chunk = 0.0, 0.0, 1 << 20
    for start in range(
        2, big_n, chunk
    ):  # hs_cs[t] = sum 1/j for j = N-1-t .. N-1; g = sum hs/(t+2)
        t = np.arange(start, min(start + chunk, big_n), dtype=float)  # t + 2 in scipy's terms
        cums = running + np.cumsum(1.0 / (big_n + 1 - t))
        g += float((cums / t).sum())
        running = float(cums[-1])
    h = running + 1.0
    a = (4 * g - 6) * (k - 1) + (10 - 6 * g) * h_sum
    b = (2 * g - 4) * k**2 + 8 * h * k + (2 * g - 14 * h - 4) * h_sum - 8 * h + 4 * g - 6
    c = (6 * h + 2 * g - 2) * k**2 + (4 * h - 4 * g + 6) * k + (2 * h - 6) * h_sum + 4 * h
    d = (2 * h + 6) * k**2 - 4 * h * k
    n = float(big_n)
    return (a * n**3 + b * n**2 + c * n + d) / ((n - 1.0) * (n - 2.0) * (n - 3.0))


_CRITICAL = (
    np.array([0.675, 1.281, 1.645, 1.96, 2.326, 2.573, 3.085])
    + np.array([-0.245, 0.25, 0.678, 1.149, 1.822, 2.364, 3.615])
    + np.array([-0.105, -0.305, -0.362, -0.391, -0.396, -0.345, -0.154])
)
_LEVELS = np.array([0.25, 0.1, 0.05, 0.025, 0.01, 0.005, 0.001])
_FIT = np.polyfit(_CRITICAL, np.log(_LEVELS), 2)


def anderson_pvalue(statistic: float) -> float:
    """scipy's p-value of A2 for two samples (interpolated, capped to [0.001, 0.25])."""
    if statistic < _CRITICAL.min():
        return 0.25
    if statistic > _CRITICAL.max():
        return 0.001
    return math.exp(np.polyval(_FIT, statistic))
