"""The mergeable quantile sketch: its KS bracket and Wasserstein bound hold on random data."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy import stats

from jupyter_mlops.core.monitoring import sketch as sk


def sample(rng: np.random.Generator, kind: int, n: int, shift: float) -> np.ndarray:
    if kind == 0:
        return rng.normal(shift, 1.0, n)
    if kind == 1:  # heavy ties
        return np.round(rng.normal(shift, 1.0, n), 1)
    if kind == 2:  # large offset, tiny spread
        return rng.normal(shift, 1.0, n) * 1e-3 + 1e6
    if kind == 3:  # integers, skewed
        return np.round(rng.exponential(3 + shift, n))
    if kind == 4:  # heavy tail, both signs
        return rng.standard_t(2, n) * 10 + shift
    return rng.lognormal(shift, 1.5, n)


def sketched(
    x: np.ndarray, grid: sk.Grid, parts: int, rng: np.random.Generator
) -> sk.QuantileSketch:
    """Sketch ``x`` as ``parts`` partitions merged in a random order (raw values dropped)."""
    pieces = [sk.QuantileSketch(grid) for _ in range(parts)]
    for piece, chunk in zip(pieces, np.array_split(x, parts), strict=True):
        piece.add(chunk)
    rng.shuffle(pieces)
    total = pieces[0]
    for piece in pieces[1:]:
        total.merge(pickle.loads(pickle.dumps(piece)))
    total.raw = None
    return total


@pytest.mark.parametrize("kind", range(6))
def test_bounds_hold_and_stay_within_the_documented_size(kind: int) -> None:
    rng = np.random.default_rng(kind)
    for _ in range(6):
        n, m = int(rng.integers(2_000, 120_000)), int(rng.integers(2_000, 120_000))
        a = sample(rng, kind, n, 0.0)
        b = sample(rng, kind, m, float(rng.choice([0.0, 0.02, 0.3])))
        b[rng.random(m) < 0.01] = np.nan
        grid = sk.Grid.around(a[:5000])
        ska = sketched(a, grid, int(rng.integers(1, 6)), rng)
        skb = sketched(b, grid, int(rng.integers(1, 6)), rng)
        b = b[np.isfinite(b)]
        assert (ska.n, skb.n) == (n, len(b))
        assert ska.std() == pytest.approx(np.std(a), rel=1e-9)

        lower, upper = sk.ks_bounds(ska, skb)
        d = stats.ks_2samp(a, b).statistic
        assert lower - 1e-12 <= d <= upper + 1e-12
        assert upper - lower <= 0.01

        estimate, bound = sk.wasserstein_bounds(ska, skb)
        w = stats.wasserstein_distance(a, b)
        assert abs(estimate - w) <= bound * (1 + 1e-6) + 1e-9 * w  # 1e-9: float rounding
        c = grid.centre
        documented = sk.ACCURACY * (np.abs(a - c).mean() + np.abs(b - c).mean()) * 1.01
        assert bound <= documented + 2 * sk.TINY * grid.scale


def test_merge_is_order_free_and_pickles_compactly() -> None:
    rng = np.random.default_rng(11)
    x = rng.normal(size=300_000)
    grid = sk.Grid.around(x[:1000])
    one = sketched(x, grid, 1, rng)
    many = sketched(x, grid, 7, rng)
    assert np.array_equal(one.counts, many.counts)
    assert np.array_equal(one.mins, many.mins) and np.array_equal(one.maxs, many.maxs)
    assert np.allclose(one.sums, many.sums, rtol=1e-9, atol=1e-9)
    assert len(pickle.dumps(one)) < 0.5 * one.counts.nbytes * 4


def test_small_sides_keep_their_values_for_exact_tests() -> None:
    grid = sk.Grid()
    small = sk.QuantileSketch(grid)
    small.add(np.array([1.0, np.nan, 2.0]))
    small.merge(pickle.loads(pickle.dumps(small)))
    assert sorted(small.values()) == [1.0, 1.0, 2.0, 2.0]
    big = sk.QuantileSketch(grid)
    big.add(np.zeros(sk.RAW_LIMIT + 1))
    assert big.values() is None and big.n == sk.RAW_LIMIT + 1


def test_sketches_on_different_grids_do_not_merge() -> None:
    with pytest.raises(ValueError, match="different grids"):
        sk.QuantileSketch(sk.Grid(0.0)).merge(sk.QuantileSketch(sk.Grid(1.0)))
