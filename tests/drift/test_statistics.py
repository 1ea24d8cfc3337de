"""Every drift statistic against scipy (or its textbook formula) on seeded random data, to 1e-9."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from jupyter_mlops.core.monitoring import statistics as dt
from jupyter_mlops.core.monitoring.drift import detect_drift

TOL = 1e-9


def close(a: float, b: float) -> bool:
    return abs(a - b) <= TOL * max(1.0, abs(b))


def samples(rng: np.random.Generator, kind: int, n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    shift = rng.normal() * 0.3
    a, b = rng.normal(size=n), rng.normal(shift, 1.2, size=m)
    if kind == 1:  # heavy ties
        a, b = np.round(a, 1), np.round(b, 1)
    elif kind == 2:  # large offset, small spread
        a, b = a * 1e-3 + 1e6, b * 1e-3 + 1e6
    elif kind == 3:  # integer-valued, skewed
        a, b = np.round(rng.exponential(3, n)), np.round(rng.exponential(3.3, m))
    return a, b


@pytest.mark.parametrize("kind", [0, 1, 2, 3])
def test_wasserstein_equals_scipy(kind: int) -> None:
    rng = np.random.default_rng(100 + kind)
    for _ in range(60):
        n, m = int(rng.integers(1, 4000)), int(rng.integers(1, 4000))
        a, b = samples(rng, kind, n, m)
        ours = dt.wasserstein(a, b)
        exact = stats.wasserstein_distance(a, b)
        assert abs(ours - exact) <= TOL * max(exact, 1e-300), (n, m, ours, exact)


def test_wasserstein_large_unequal_samples_equal_scipy() -> None:
    rng = np.random.default_rng(7)
    a = rng.normal(size=300_000)
    for b in (rng.normal(size=170_001), rng.normal(0.02, 1, 170_001), rng.lognormal(size=99_999)):
        exact = stats.wasserstein_distance(a, b)
        assert abs(dt.wasserstein(a, b) - exact) <= TOL * exact


def test_normalised_wasserstein_and_flag_through_detect_drift() -> None:
    rng = np.random.default_rng(1)
    ref, cur = rng.normal(size=5000), rng.normal(0.3, 1, size=3100)
    ref[::50] = np.nan
    report = detect_drift(pd.DataFrame({"x": ref}), pd.DataFrame({"x": cur}))
    col = report.columns["x"]
    clean = ref[~np.isnan(ref)]
    expected = stats.wasserstein_distance(clean, cur) / max(np.std(clean), 0.001)
    assert col.test == "wasserstein" and close(col.statistic, expected)
    assert col.drift == (expected >= 0.1)
    assert col.reference_size == len(clean) and col.reference_missing == pytest.approx(0.02)


def test_ks_is_scipy_exact_on_small_samples() -> None:
    rng = np.random.default_rng(2)
    for _ in range(20):
        n, m = int(rng.integers(6, 1000)), int(rng.integers(6, 1000))
        a, b = rng.normal(size=n), rng.normal(rng.normal() * 0.3, size=m)
        col = detect_drift(pd.DataFrame({"x": a}), pd.DataFrame({"x": b})).columns["x"]
        ks = stats.ks_2samp(a, b)
        assert col.test == "ks"
        assert close(col.statistic, ks.statistic) and close(col.p_value, ks.pvalue)
        assert col.drift == (ks.pvalue <= 0.05)


def counts_frame(rng: np.random.Generator, k: int, n: int, m: int) -> tuple[pd.Series, pd.Series]:
    labels = np.array([f"c{i}" for i in range(k)])
    p = rng.dirichlet(np.ones(k))
    q = rng.dirichlet(np.ones(k) * 20)
    return pd.Series(labels[rng.choice(k, n, p=p)]), pd.Series(labels[rng.choice(k, m, p=q)])


def test_chisquare_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        r, c = counts_frame(rng, int(rng.integers(3, 8)), 900, int(rng.integers(50, 900)))
        col = detect_drift(pd.DataFrame({"x": r}), pd.DataFrame({"x": c})).columns["x"]
        keys = sorted(set(r) | set(c))
        obs = c.value_counts().reindex(keys, fill_value=0).to_numpy()
        exp = r.value_counts().reindex(keys, fill_value=0).to_numpy() * len(c) / len(r)
        expected = stats.chisquare(obs, exp)
        assert col.test == "chisquare"
        assert close(col.statistic, expected.statistic) and close(col.p_value, expected.pvalue)


def test_z_test_equals_uncorrected_two_by_two_chi_squared() -> None:
    rng = np.random.default_rng(4)
    for _ in range(20):
        n, m = int(rng.integers(20, 1000)), int(rng.integers(20, 1000))
        r = pd.Series(rng.random(n) < rng.uniform(0.2, 0.8))
        c = pd.Series(rng.random(m) < rng.uniform(0.2, 0.8))
        col = detect_drift(pd.DataFrame({"x": r}), pd.DataFrame({"x": c})).columns["x"]
        table = [[r.sum(), n - r.sum()], [c.sum(), m - c.sum()]]
        chi2, p, _, _ = stats.chi2_contingency(table, correction=False)
        assert col.test == "z"
        assert close(col.statistic**2, chi2) and close(col.p_value, p)


def test_jensenshannon_matches_scipy_on_category_shares() -> None:
    rng = np.random.default_rng(5)
    r, c = counts_frame(rng, 6, 20_000, 7_000)
    col = detect_drift(pd.DataFrame({"x": r}), pd.DataFrame({"x": c})).columns["x"]
    keys = sorted(set(r) | set(c))
    p = r.value_counts().reindex(keys, fill_value=0).to_numpy() / len(r)
    q = c.value_counts().reindex(keys, fill_value=0).to_numpy() / len(c)
    assert col.test == "jensenshannon" and close(col.statistic, distance.jensenshannon(p, q))


@pytest.mark.parametrize("test", ["psi", "kl_div", "hellinger"])
def test_share_tests_match_their_formulas(test: str) -> None:
    rng = np.random.default_rng(6)
    r, c = counts_frame(rng, 5, 3000, 2000)
    col = detect_drift(pd.DataFrame({"x": r}), pd.DataFrame({"x": c}), tests=test).columns["x"]
    keys = sorted(set(r) | set(c))
    p = r.value_counts().reindex(keys, fill_value=0).to_numpy() / len(r)
    q = c.value_counts().reindex(keys, fill_value=0).to_numpy() / len(c)
    if test == "psi":
        expected = float(np.sum((p - q) * np.log(p / q)))
    elif test == "kl_div":
        expected = float(stats.entropy(p, q))
    else:
        expected = float(np.linalg.norm(np.sqrt(p) - np.sqrt(q)) / np.sqrt(2))
    assert close(col.statistic, expected)


def test_psi_on_numeric_uses_sturges_bins_of_both_samples() -> None:
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=4000), rng.normal(0.2, size=2500)
    col = detect_drift(pd.DataFrame({"x": a}), pd.DataFrame({"x": b}), tests="psi").columns["x"]
    edges = np.histogram_bin_edges(np.concatenate([a, b]), bins="sturges")
    p = np.histogram(a, edges)[0] / len(a)
    q = np.histogram(b, edges)[0] / len(b)
    p, q = dt.fill_zeroes(p), dt.fill_zeroes(q)
    assert close(col.statistic, float(np.sum((p - q) * np.log(p / q))))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_anderson_darling_is_scipy() -> None:
    rng = np.random.default_rng(9)
    a, b = rng.normal(size=700), rng.normal(0.1, size=500)
    col = detect_drift(pd.DataFrame({"x": a}), pd.DataFrame({"x": b}), tests="anderson")
    expected = stats.anderson_ksamp([a, b])
    assert close(col.columns["x"].statistic, expected.statistic)
    assert close(col.columns["x"].p_value, expected.pvalue)


def test_default_tests_follow_evidently_rules() -> None:
    rng = np.random.default_rng(10)
    small, big = 800, 1500
    ref = pd.DataFrame(
        {
            "num": rng.normal(size=small),
            "few": rng.integers(0, 4, small),
            "two": rng.integers(0, 2, small),
            "cat": rng.choice(list("abc"), small),
            "bin": rng.choice(list("ab"), small),
        }
    )
    got = {
        n: c.test
        for n, c in detect_drift(ref, ref.sample(frac=0.5, random_state=0)).columns.items()
    }
    assert got == {"num": "ks", "few": "chisquare", "two": "z", "cat": "chisquare", "bin": "z"}
    ref_big = pd.DataFrame(
        {
            "num": rng.normal(size=big),
            "few": rng.integers(0, 4, big),
            "cat": rng.choice(list("ab"), big),
        }
    )
    report = detect_drift(ref_big, ref_big.head(100))
    got = {n: c.test for n, c in report.columns.items()}
    assert got == {"num": "wasserstein", "few": "jensenshannon", "cat": "jensenshannon"}
