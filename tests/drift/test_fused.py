"""The fused numba path against the numpy reference: statistics to 1e-9, identical flags."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from jupyter_mlops.core.monitoring import fused
from jupyter_mlops.core.monitoring.drift import DriftReport, detect_drift

NUMERIC_TESTS = ["wasserstein", "ks", "anderson", "jensenshannon", "psi", "kl_div", "hellinger"]


@pytest.fixture(autouse=True)
def kernels_on_small_data(monkeypatch: pytest.MonkeyPatch) -> None:
    assert fused.warm_up(wait=True), "numba kernels did not compile"
    monkeypatch.setattr(fused, "FUSED_MIN_VALUES", 0)


def both(ref: pd.DataFrame, cur: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, **kw):
    fast = detect_drift(ref, cur, **kw)
    with monkeypatch.context() as m:
        m.setenv(fused.DISABLE_ENV, "1")
        slow = detect_drift(ref, cur, **kw)
    return fast, slow


def assert_same(fast: DriftReport, slow: DriftReport) -> None:
    for name, a in fast.columns.items():
        b = slow.columns[name]
        assert (a.test, a.drift, a.reference_size, a.current_size) == (
            b.test,
            b.drift,
            b.reference_size,
            b.current_size,
        ), name
        assert a.reference_missing == pytest.approx(b.reference_missing, abs=1e-12)
        assert a.current_missing == pytest.approx(b.current_missing, abs=1e-12)
        for x, y in ((a.statistic, b.statistic), (a.p_value, b.p_value)):
            if y is None or math.isnan(y):
                assert x is None or math.isnan(x) == math.isnan(y), (name, x, y)
            else:
                assert abs(x - y) <= 1e-9 * max(1.0, abs(y)), (name, x, y)
    assert fast.dataset_drift == slow.dataset_drift


def column(rng: np.random.Generator, kind: int, n: int, shift: float) -> np.ndarray:
    if kind == 0:
        x = rng.normal(shift, 1.0, n)
    elif kind == 1:  # heavy ties
        x = np.round(rng.normal(shift, 1.0, n), 1)
    elif kind == 2:  # large offset, small spread
        x = rng.normal(shift, 1.0, n) * 1e-3 + 1e6
    elif kind == 3:  # integer-valued, skewed
        x = np.round(rng.exponential(3 + shift, n))
    elif kind == 4:  # few values
        x = rng.integers(0, 4, n).astype(float) + (shift > 0.2)
    elif kind == 5:  # 6..20 values
        x = rng.integers(0, 15, n).astype(float) * (1 + shift)
    elif kind == 6:  # constant
        x = np.full(n, 3.5)
    else:  # lognormal tail
        x = rng.lognormal(shift, 1.5, n)
    holes = rng.random(n)
    x[holes < 0.03] = np.nan
    x[(holes >= 0.03) & (holes < 0.035)] = np.inf
    x[(holes >= 0.035) & (holes < 0.04)] = -np.inf
    return x


@pytest.mark.parametrize("seed", range(12))
def test_default_tests_equal_the_reference_on_random_frames(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 30_000)), int(rng.integers(1, 30_000))
    ref = {f"k{k}": column(rng, k, n, 0.0) for k in range(8)}
    cur = {f"k{k}": column(rng, k, m, float(rng.choice([0, 0.05, 0.3]))) for k in range(8)}
    fast, slow = both(pd.DataFrame(ref), pd.DataFrame(cur), monkeypatch)
    assert_same(fast, slow)


@pytest.mark.parametrize("test", NUMERIC_TESTS)
def test_every_numeric_test_equals_the_reference(
    test: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(NUMERIC_TESTS.index(test))
    for _ in range(4):
        n, m = int(rng.integers(50, 6000)), int(rng.integers(50, 6000))
        ref = {f"k{k}": column(rng, k, n, 0.0) for k in range(8)}
        cur = {f"k{k}": column(rng, k, m, 0.1) for k in range(8)}
        fast, slow = both(pd.DataFrame(ref), pd.DataFrame(cur), monkeypatch, tests=test)
        assert_same(fast, slow)


def test_tiny_and_empty_after_cleaning_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    ref = pd.DataFrame({"one": [1.0, np.nan, np.inf], "none": [np.nan] * 3, "two": [1.0, 2.0, 3.0]})
    cur = pd.DataFrame({"one": [2.0, 2.0, -np.inf], "none": [1.0, 2.0, 3.0], "two": [np.nan] * 3})
    fast, slow = both(ref, cur, monkeypatch)
    assert_same(fast, slow)
    assert not fast.columns["none"].tested and "reference" in fast.columns["none"].note


def test_large_unequal_wasserstein_equals_reference_and_scipy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from scipy import stats

    rng = np.random.default_rng(9)
    a, b = rng.normal(size=400_000), rng.normal(0.02, 1, 170_001)
    fast, slow = both(pd.DataFrame({"x": a}), pd.DataFrame({"x": b}), monkeypatch)
    assert_same(fast, slow)
    exact = stats.wasserstein_distance(a, b) / np.std(a)
    assert abs(fast.columns["x"].statistic - exact) <= 1e-9 * exact


def test_numpy_path_until_kernels_are_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(fused._STATE, "module", None)
    monkeypatch.setitem(fused._STATE, "thread", None)
    monkeypatch.setattr(fused, "FUSED_MIN_VALUES", 10)
    frame = pd.DataFrame({"x": np.arange(50.0)})
    assert fused.enabled(100) is False
    detect_drift(frame, frame)  # numpy path; compiling starts once it has returned
    assert fused._STATE["thread"] is not None
    assert fused.warm_up(wait=True) and fused.enabled(100)
    assert not fused.enabled(5)
