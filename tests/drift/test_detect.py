"""detect_drift behaviour: known shifts found, identical samples not, odd inputs handled."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from jupyter_mlops import DriftReport, detect_drift
from jupyter_mlops.core.errors import UsageProblem


def test_identical_distributions_rarely_flagged_at_the_stated_rate() -> None:
    # KS at alpha 0.05 on small samples: about 5 % false alarms; 200 seeded trials stay < 10 %.
    rng = np.random.default_rng(11)
    flagged = 0
    for _ in range(200):
        ref = pd.DataFrame({"x": rng.normal(size=400)})
        cur = pd.DataFrame({"x": rng.normal(size=300)})
        flagged += detect_drift(ref, cur).columns["x"].drift
    assert 2 <= flagged <= 20


def test_large_identical_samples_are_never_flagged() -> None:
    rng = np.random.default_rng(12)
    for _ in range(10):
        ref = pd.DataFrame({"x": rng.normal(size=20_000), "c": rng.choice(list("abcd"), 20_000)})
        cur = pd.DataFrame({"x": rng.normal(size=9_000), "c": rng.choice(list("abcd"), 9_000)})
        report = detect_drift(ref, cur)
        assert report.drifted_columns == [] and not report.dataset_drift


def test_frames_with_no_common_column_are_refused_in_one_line() -> None:
    ref = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    cur = pd.DataFrame({"b": [1.0, 2.0, 3.0]})
    with pytest.raises(UsageProblem, match="share no column") as caught:
        detect_drift(ref, cur)
    assert "\n" not in str(caught.value)


def test_known_shifts_are_detected() -> None:
    rng = np.random.default_rng(13)
    detected = 0
    for _ in range(50):
        ref = pd.DataFrame({"x": rng.normal(size=500)})
        cur = pd.DataFrame({"x": rng.normal(0.5, 1, size=400)})
        detected += detect_drift(ref, cur).columns["x"].drift
    assert detected >= 48  # KS power at 0.5 sd with these sizes is > 99 %
    ref = pd.DataFrame({"x": rng.normal(size=50_000), "c": rng.choice(list("ab"), 50_000)})
    cur = pd.DataFrame(
        {"x": rng.normal(0.2, 1, size=20_000), "c": rng.choice(list("ab"), 20_000, p=[0.8, 0.2])}
    )
    report = detect_drift(ref, cur)
    assert report.drifted_columns == ["x", "c"] and report.dataset_drift
    assert report.share_drifted == 1.0


def test_dataset_drift_needs_the_configured_share() -> None:
    rng = np.random.default_rng(14)
    ref = pd.DataFrame({k: rng.normal(size=3000) for k in "abcd"})
    cur = pd.DataFrame({k: rng.normal(1.0 if k == "a" else 0.0, 1, 2000) for k in "abcd"})
    assert detect_drift(ref, cur).drifted_columns == ["a"]
    assert not detect_drift(ref, cur).dataset_drift
    assert detect_drift(ref, cur, drift_share=0.25).dataset_drift


def test_thresholds_and_tests_are_configurable() -> None:
    rng = np.random.default_rng(15)
    ref = pd.DataFrame({"a": rng.normal(size=3000), "b": rng.normal(size=3000)})
    cur = pd.DataFrame({"a": rng.normal(0.05, 1, 2000), "b": rng.normal(0.05, 1, 2000)})
    base = detect_drift(ref, cur)
    assert base.drifted_columns == []
    strict = detect_drift(ref, cur, threshold={"a": 0.01})
    assert strict.drifted_columns == ["a"] and strict.columns["a"].threshold == 0.01
    chosen = detect_drift(ref, cur, tests={"b": "ks", "numeric": "psi"})
    assert chosen.columns["b"].test == "ks" and chosen.columns["a"].test == "psi"
    assert detect_drift(ref, cur, tests="hellinger").columns["a"].test == "hellinger"


def test_missing_values_constant_columns_and_infinities() -> None:
    ref = pd.DataFrame({"x": [1.0, np.nan, 3.0, np.inf] * 500, "k": [5.0] * 2000})
    cur = pd.DataFrame({"x": [1.0, 2.0, np.nan, -np.inf] * 400, "k": [5.0] * 1600})
    report = detect_drift(ref, cur)
    x, k = report.columns["x"], report.columns["k"]
    assert x.reference_missing == 0.5 and x.current_missing == 0.5
    assert x.reference_size == 1000 and x.current_size == 800
    assert k.tested and k.statistic == 0.0 and not k.drift


def test_unseen_categories_are_flagged_with_a_note() -> None:
    ref = pd.DataFrame({"c": ["a", "b", "c"] * 300})
    cur = pd.DataFrame({"c": ["a", "b", "z"] * 300})
    col = detect_drift(ref, cur).columns["c"]
    assert col.test == "chisquare" and col.drift and col.p_value == 0.0
    assert "unseen in the reference" in col.note


def test_one_sided_columns_text_datetime_and_all_missing_are_skipped_with_notes() -> None:
    n = 200
    ref = pd.DataFrame(
        {
            "only_ref": np.arange(n),
            "when": pd.date_range("2024-01-01", periods=n, freq="h"),
            "text": [f"free text number {i}" for i in range(n)],
            "empty": [np.nan] * n,
            "ok": np.arange(n, dtype=float),
        }
    )
    cur = ref.drop(columns=["only_ref"]).assign(only_cur=1.0)
    report = detect_drift(ref, cur)
    cols = report.columns
    assert "current" in cols["only_ref"].note and "reference" in cols["only_cur"].note
    assert cols["when"].column_type == "datetime" and not cols["when"].tested
    assert cols["text"].column_type == "text" and not cols["text"].tested
    assert not cols["empty"].tested and "no non-missing" in cols["empty"].note
    assert report.tested_columns == ["ok"]
    as_number = detect_drift(ref, cur, columns=["when"], column_types={"when": "numeric"})
    assert as_number.columns["when"].tested and not as_number.columns["when"].drift


def test_mixed_types_and_booleans_are_compared_as_labels() -> None:
    ref = pd.DataFrame({"m": [1, "a", 2.5, None] * 100, "b": [True, False] * 200})
    cur = pd.DataFrame({"m": ["a", 1, 2.5, "b"] * 100, "b": [True, True, False, True] * 100})
    report = detect_drift(ref, cur)
    assert report.columns["m"].column_type == "categorical"
    assert "mixed" in report.columns["m"].note
    assert report.columns["b"].test == "z" and report.columns["b"].drift


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tests": "nope"}, "unknown drift test"),
        ({"tests": {"c": "ks"}}, "needs a numeric column"),
        ({"columns": ["zzz"]}, "no column named"),
        ({"drift_share": 0}, "drift_share"),
        ({"column_types": {"x": "number"}}, "column type 'number'"),
    ],
)
def test_bad_options_raise_one_clear_error(kwargs: dict, message: str) -> None:
    ref = pd.DataFrame({"c": list("ab") * 50, "x": range(100)})
    with pytest.raises(UsageProblem, match=message):
        detect_drift(ref, ref, **kwargs)


def test_empty_frames_and_non_tables_raise_one_clear_error() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(UsageProblem, match="reference frame has no rows"):
        detect_drift(frame.iloc[:0], frame)
    with pytest.raises(UsageProblem, match="must be a pandas DataFrame"):
        detect_drift(42, frame)
    with pytest.raises(UsageProblem, match="non-numeric"):
        detect_drift(pd.DataFrame({"x": ["a", "b"]}), frame, column_types={"x": "numeric"})


def test_report_is_plain_json_and_round_trips() -> None:
    rng = np.random.default_rng(16)
    ref = pd.DataFrame({"x": rng.normal(size=300), "c": ["a", "b", "c"] * 100})
    cur = pd.DataFrame({"x": rng.normal(1, 1, size=200), "c": ["a", "b", "z", "a"] * 50})
    report = detect_drift(ref, cur)
    text = json.dumps(report.to_dict(), allow_nan=False)
    again = DriftReport.from_dict(json.loads(text))
    assert again.drifted_columns == report.drifted_columns
    assert again.dataset_drift == report.dataset_drift
    assert set(report.metrics()) >= {"drift.share_drifted_columns", "drift.x.score"}


def test_core_drift_and_monitor_import_no_ipython_or_widgets() -> None:
    code = (
        "import sys, jupyter_mlops.core.monitoring.drift, jupyter_mlops.core.monitoring.monitor;"
        "print([m for m in ('IPython', 'ipywidgets', 'anywidget', 'tornado') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_arrays_and_non_string_column_labels() -> None:
    rng = np.random.default_rng(17)
    shifted = rng.normal(size=(400, 3)) + np.array([0.0, 0.0, 1.0])
    report = detect_drift(rng.normal(size=(500, 3)), shifted)
    assert list(report.columns) == ["0", "1", "2"] and report.drifted_columns == ["2"]
