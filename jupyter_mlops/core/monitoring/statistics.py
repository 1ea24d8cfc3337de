"""The drift tests themselves, on cleaned samples: exact statistics, Evidently's definitions.

Numeric samples arrive as finite float arrays; categorical samples arrive as value
counts aligned on the union of categories. Every function returns ``(statistic, p_value)``
(``p_value`` is None for distances). Definitions follow Evidently 0.7's stattests so flags
agree with the field's standard: normalised Wasserstein (distance / max(std(reference), 0.001)),
Jensen-Shannon distance on category shares (natural log), chi-squared with expected counts
scaled from the reference, the two-proportion Z-test, PSI/KL on Sturges-binned or per-value
shares with zero shares filled, Hellinger on Sturges bins of the distinct values.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.spatial import distance

# test name -> (kind, default threshold). kind "p_value": drift when p < threshold
# ("ks": p <= threshold, as Evidently); kind "distance": drift when statistic >= threshold.
TESTS: dict[str, tuple[str, float]] = {
    "ks": ("p_value", 0.05),
    "wasserstein": ("distance", 0.1),
    "chisquare": ("p_value", 0.05),
    "z": ("p_value", 0.05),
    "jensenshannon": ("distance", 0.1),
    "psi": ("distance", 0.1),
    "kl_div": ("distance", 0.1),
    "hellinger": ("distance", 0.1),
    "anderson": ("p_value", 0.05),
}
NUMERIC_ONLY = {"ks", "wasserstein", "anderson"}
MAX_BINS = 1 << 18  # Wasserstein bins: more bins, fewer elements to sort; fewer, cache-friendlier
SMALL_SAMPLE = 1000  # reference sizes up to this use the p-value tests
FEW_VALUES = 5  # numeric columns with this many distinct values are tested as categories


@dataclass
class Counts:
    """Value counts of one categorical column on both sides, aligned on the union of keys."""

    keys: list[object]
    reference: np.ndarray  # int64 counts per key
    current: np.ndarray

    @property
    def n_reference(self) -> int:
        """Non-missing reference values."""
        return int(self.reference.sum())

    @property
    def n_current(self) -> int:
        """Non-missing current values."""
        return int(self.current.sum())


def is_drift(test: str, score: float, threshold: float) -> bool:
    """Apply a test's decision rule to its score (p-value or distance)."""
    kind, _ = TESTS[test]
    if np.isnan(score):
        return False
    if kind == "distance":
        return bool(score >= threshold)
    return bool(score <= threshold) if test == "ks" else bool(score < threshold)


def default_test(column_type: str, n_reference: int, n_values: int) -> str:
    """Evidently's default test for a column type, reference size and distinct-value count."""
    if column_type == "numeric":
        if n_values <= FEW_VALUES:
            if n_reference > SMALL_SAMPLE:
                return "jensenshannon"
            return "chisquare" if n_values > 2 else "z"
        return "ks" if n_reference <= SMALL_SAMPLE else "wasserstein"
    if n_reference <= SMALL_SAMPLE:
        return "chisquare" if n_values > 2 else "z"
    return "jensenshannon"


# --- numeric tests on sorted, cleaned samples -------------------------------------------------


def wasserstein(ref: np.ndarray, cur: np.ndarray, bins: int | None = None) -> float:
    """Exact Wasserstein-1 distance of two finite samples, without sorting them.

    W1 is the integral of |F - G| over x (empirical CDFs). Split x into equal bins and count
    each side per bin: inside a bin where F - G cannot change sign, the integral of |F - G| is
    |integral of (F - G)|, which per-bin counts and sums of distances to the bin's right edge give
    exactly. Only elements of bins where the sign may change are sorted. Differences are kept in
    integer units of 1/(n*m), so the only rounding is in positions; results equal
    ``scipy.stats.wasserstein_distance`` to ~1e-14 relative (tests check 1e-9).
    """
    n, m = len(ref), len(cur)
    lo = min(float(ref.min()), float(cur.min()))
    hi = max(float(ref.max()), float(cur.max()))
    if hi == lo:
        return 0.0
    bins = bins or wasserstein_bins(n, m)
    scale = bin_scale(lo, hi, bins)
    k_ref, back_ref, count_ref, rest_ref = _bin_side(ref, lo, scale, bins, "ref")
    k_cur, back_cur, count_cur, rest_cur = _bin_side(cur, lo, scale, bins, "cur")

    def ambiguous_integral(ambiguous: np.ndarray, d_left: np.ndarray) -> float:
        pick_ref, pick_cur = ambiguous[k_ref], ambiguous[k_cur]
        k_amb = np.concatenate([k_ref[pick_ref], k_cur[pick_cur]])
        # positions back: y = k - (k - y), exact because k - y is exact (Sterbenz)
        y_amb = k_amb - np.concatenate([back_ref[pick_ref], back_cur[pick_cur]])
        steps = np.repeat(np.array([m, -n], np.int64), [pick_ref.sum(), pick_cur.sum()])
        return _ambiguous_integral(y_amb, k_amb, steps, d_left)

    counts = (count_ref, rest_ref, count_cur, rest_cur)
    return binned_wasserstein(n, m, scale, counts, ambiguous_integral)


def wasserstein_bins(n: int, m: int) -> int:
    """How many equal bins ``wasserstein`` splits the range of n + m values into."""
    return int(min(MAX_BINS, max(256, (n + m) // 4)))


def bin_scale(lo: float, hi: float, bins: int) -> float:
    """Bins per unit of x; the maximum lands just inside the last bin."""
    return bins / (hi - lo) * (1 - 1e-12)


def binned_wasserstein(
    n: int,
    m: int,
    scale: float,
    counts: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    ambiguous_integral: Callable[[np.ndarray, np.ndarray], float],
) -> float:
    """W1 from per-bin counts and sums of (1 - frac) of each side (see ``wasserstein``).

    ``ambiguous_integral(mask, d_left)`` integrates |n*m*(F - G)| over the masked bins
    (``d_left``: n*m*(F - G) at each bin's left edge); the numpy and the fused path each
    supply one.
    """
    count_ref, rest_ref, count_cur, rest_cur = counts
    # n*m*(F - G) at each bin's left edge, as exact integers
    d_left = (np.cumsum(count_ref) - count_ref) * m - (np.cumsum(count_cur) - count_cur) * n
    ambiguous = (d_left - count_cur * n < 0) & (d_left + count_ref * m > 0)
    integral = d_left + m * rest_ref - n * rest_cur
    total = float(np.abs(integral[~ambiguous]).sum())
    if ambiguous.any():
        total += ambiguous_integral(ambiguous, d_left)
    return total / (scale * n * m)


class _Scratch(threading.local):
    """Per-thread work arrays reused across columns: fresh 8 MB arrays cost page faults."""

    def __init__(self) -> None:
        self.arrays: dict[tuple[str, str], np.ndarray] = {}

    def get(self, role: str, dtype: str, size: int) -> np.ndarray:
        found = self.arrays.get((role, dtype))
        if found is None or len(found) < size:
            found = self.arrays[(role, dtype)] = np.empty(size, dtype=dtype)
        return found[:size]


SCRATCH = _Scratch()


def release_scratch() -> None:
    """Free this thread's work arrays (``detect_drift`` calls it when done)."""
    SCRATCH.arrays.clear()


def _bin_side(
    x: np.ndarray, lo: float, scale: float, bins: int, role: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bin index, k - y (y: position in bin units), count and sum of (1 - frac) per bin."""
    y = np.subtract(x, lo, out=SCRATCH.get(role, "f8", len(x)))
    y *= scale
    k = SCRATCH.get(role, "intp", len(x))
    np.copyto(k, y, casting="unsafe")  # truncation = floor, as y >= 0
    counts = np.bincount(k, minlength=bins)
    if len(counts) > bins:  # rounding put the maximum on the last edge: fold it back
        np.minimum(k, bins - 1, out=k)
        counts = np.bincount(k, minlength=bins)
    back = np.subtract(k, y, out=y)  # in (-1, 0]
    return k, back, counts, counts + np.bincount(k, weights=back, minlength=bins)


def _ambiguous_integral(
    y: np.ndarray, k: np.ndarray, steps: np.ndarray, d_left: np.ndarray
) -> float:
    """Exact integral of |n*m*(F - G)| over the bins where F - G may change sign."""
    # Bins holding a single distinct value (ties, integer data) have a closed form.
    some = np.empty(len(d_left))
    some[k] = y
    mixed = np.zeros(len(d_left), bool)
    mixed[k[y != some[k]]] = True
    single = ~mixed[k]
    total = 0.0
    if single.any():
        ks = k[single]
        jump = np.bincount(ks, weights=steps[single], minlength=len(d_left))
        seen = np.zeros(len(d_left), bool)
        seen[ks] = True
        b = np.flatnonzero(seen)  # the bins present, ascending (np.unique would sort)
        v = some[b]
        total += float(np.abs(d_left[b]) @ (v - b) + np.abs(d_left[b] + jump[b]) @ (b + 1.0 - v))
        y, k, steps = y[~single], k[~single], steps[~single]
    if len(y) == 0:
        return total
    order = np.argsort(y)  # bin index is monotone in y, so bins stay grouped
    y, k, steps = y[order], k[order], steps[order]
    running = np.cumsum(steps)
    first = np.ones(len(y), bool)
    first[1:] = k[1:] != k[:-1]
    base = (running - steps)[first]
    d_after = d_left[k] + running - base[np.cumsum(first) - 1]
    following = np.empty_like(y)
    following[:-1] = y[1:]
    last = np.ones(len(y), bool)
    last[:-1] = first[1:]
    following[last] = k[last] + 1.0
    head = float(np.abs(d_left[k[first]]) @ (y[first] - k[first]))
    return total + head + float(np.abs(d_after) @ (following - y))


def std(x: np.ndarray) -> float:
    """Population standard deviation (two-pass, as ``np.std``) in a reused work array."""
    mean = float(x.mean())
    centred = np.subtract(x, mean, out=SCRATCH.get("ref", "f8", len(x)))
    return float(np.sqrt(np.dot(centred, centred) / len(x)))


def wasserstein_norm(ref: np.ndarray, cur: np.ndarray) -> tuple[float, None]:
    """Wasserstein distance divided by max(std(reference), 0.001) (Evidently's normalisation)."""
    norm = max(std(ref), 0.001)
    return wasserstein(ref, cur) / norm, None


def ks(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov test (scipy's, exact p-value for small samples)."""
    result = stats.ks_2samp(ref, cur)
    return float(result.statistic), float(result.pvalue)


def anderson(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """k-sample Anderson-Darling test (scipy's; its p-value is capped to [0.001, 0.25]).

    Undefined (NaN, so no drift) when both samples hold one and the same value.
    """
    if ref.min() == ref.max() == cur.min() == cur.max():
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.anderson_ksamp([ref, cur])
    return float(result.statistic), float(result.pvalue)


def sturges_shares(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shares of each side in Sturges bins of the combined sample (Evidently's numeric binning)."""
    edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
    ref_share = np.histogram(ref, edges)[0] / len(ref)
    cur_share = np.histogram(cur, edges)[0] / len(cur)
    return ref_share, cur_share


def hellinger_numeric(ref: np.ndarray, cur: np.ndarray) -> tuple[float, None]:
    """Hellinger distance of density histograms on Sturges bins of the distinct values."""
    keys = np.union1d(ref, cur)
    edges = np.histogram_bin_edges(keys, bins="sturges")
    width = (edges.max() - edges.min()) / (len(edges) - 1)
    h1 = np.histogram(ref, edges, density=True)[0]
    h2 = np.histogram(cur, edges, density=True)[0]
    overlap = float(np.clip(np.sum(np.sqrt(h1 * h2) * width), 0.0, 1.0))
    return float(np.sqrt(1.0 - overlap)), None


# --- tests on shares or counts ----------------------------------------------------------------


def fill_zeroes(shares: np.ndarray) -> np.ndarray:
    """Replace zero shares as Evidently does before PSI/KL (so logarithms stay finite)."""
    shares = shares.astype(float, copy=True)
    positive = shares[shares != 0]
    if positive.size == 0:
        return shares
    smallest = positive.min()
    shares[shares == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return shares


def jensenshannon(ref_share: np.ndarray, cur_share: np.ndarray) -> tuple[float, None]:
    """Jensen-Shannon distance (natural log), scipy's definition."""
    return float(distance.jensenshannon(ref_share, cur_share)), None


def psi(ref_share: np.ndarray, cur_share: np.ndarray) -> tuple[float, None]:
    """Population stability index on zero-filled shares."""
    ref_share, cur_share = fill_zeroes(ref_share), fill_zeroes(cur_share)
    return float(np.sum((ref_share - cur_share) * np.log(ref_share / cur_share))), None


def kl_div(ref_share: np.ndarray, cur_share: np.ndarray) -> tuple[float, None]:
    """Kullback-Leibler divergence KL(reference || current) on zero-filled shares."""
    return float(stats.entropy(fill_zeroes(ref_share), fill_zeroes(cur_share))), None


def hellinger_shares(ref_share: np.ndarray, cur_share: np.ndarray) -> tuple[float, None]:
    """Hellinger distance of two categorical distributions."""
    overlap = float(np.clip(np.sum(np.sqrt(ref_share * cur_share)), 0.0, 1.0))
    return float(np.sqrt(1.0 - overlap)), None


def chisquare(counts: Counts) -> tuple[float, float]:
    """Pearson chi-squared of current counts against reference shares scaled to the current size."""
    expected = counts.reference * (counts.n_current / counts.n_reference)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.chisquare(counts.current, expected)
    return float(result.statistic), float(result.pvalue)


def z_test(counts: Counts) -> tuple[float, float]:
    """Two-proportion Z-test (pooled variance, two-sided) for a column with two categories."""
    present_ref = counts.reference > 0
    present_cur = counts.current > 0
    if present_ref.sum() == 1 and present_cur.sum() == 1 and (present_ref == present_cur).all():
        return 0.0, 1.0
    order = sorted(range(len(counts.keys)), key=lambda k: counts.keys[k])  # type: ignore[arg-type,return-value]
    first = order[0]
    n1, n2 = counts.n_reference, counts.n_current
    p1 = (n1 - counts.reference[first]) / n1
    p2 = (n2 - counts.current[first]) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(z), float(2 * stats.norm.sf(abs(z)))


def shares(counts: Counts) -> tuple[np.ndarray, np.ndarray]:
    """Per-key shares of each side."""
    return counts.reference / counts.n_reference, counts.current / counts.n_current
