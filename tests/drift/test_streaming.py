"""detect_drift on parquet files, folders, pyarrow datasets and DVC paths at a revision."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest

from jupyter_mlops.core.errors import MlopsError, UsageProblem
from jupyter_mlops.core.monitoring import sketch, sources
from jupyter_mlops.core.monitoring.drift import DriftReport, detect_drift


def frames(rng: np.random.Generator, n: int, m: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Numeric (shifted, tied, few-valued, with NaN/inf), categorical and text columns."""
    out = []
    for rows, shift in ((n, 0.0), (m, 0.08)):
        x = rng.normal(shift, 1, rows)
        x[rng.random(rows) < 0.02] = np.nan
        x[rng.random(rows) < 0.001] = np.inf
        out.append(
            pd.DataFrame(
                {
                    "normal": x,
                    "big_shift": rng.normal(3 * shift, 1, rows),
                    "ties": np.round(rng.exponential(3 + shift, rows)),
                    "few": rng.integers(0, 4, rows).astype(float),
                    "lognormal": rng.lognormal(shift, 1, rows),
                    "city": pd.Categorical(rng.choice(["a", "b", "c"], rows, p=[0.5, 0.3, 0.2])),
                    "label": rng.choice(["x", "y", None], rows),
                    "text": [f"id-{i}" for i in rng.integers(0, 10**9, rows)],
                }
            )
        )
    return out[0], out[1]


def write(frame: pd.DataFrame, folder: Path, files: int) -> Path:
    folder.mkdir(parents=True)
    for i, part in enumerate(np.array_split(np.arange(len(frame)), files)):
        frame.iloc[part].to_parquet(folder / f"part-{i}.parquet", row_group_size=7_000)
    return folder


def same_flags(a: DriftReport, b: DriftReport) -> None:
    assert list(a.columns) == list(b.columns)
    for name, x in a.columns.items():
        y = b.columns[name]
        assert (x.column_type, x.test, x.drift) == (y.column_type, y.test, y.drift), name
        assert (x.reference_size, x.current_size) == (y.reference_size, y.current_size), name
        assert x.current_missing == pytest.approx(y.current_missing, abs=1e-12)
    assert (a.dataset_drift, a.reference_rows, a.current_rows) == (
        b.dataset_drift,
        b.reference_rows,
        b.current_rows,
    )


def close(x: float | None, y: float | None) -> bool:
    if x is None or y is None:
        return x is y
    return abs(x - y) <= 1e-9 * max(1.0, abs(y)) or (math.isnan(x) and math.isnan(y))


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many batches, and sides too large to keep their raw values: the sketch decides."""
    monkeypatch.setattr(sources, "BATCH_ROWS", 5_000)
    monkeypatch.setattr(sketch, "RAW_LIMIT", 1_000)


def test_parquet_folders_give_the_in_memory_flags(tmp_path: Path, small_batches: None) -> None:
    rng = np.random.default_rng(0)
    ref, cur = frames(rng, 60_000, 35_000)
    streamed = detect_drift(write(ref, tmp_path / "ref", 3), write(cur, tmp_path / "cur", 2))
    memory = detect_drift(ref, cur)
    same_flags(streamed, memory)
    for name in ("city", "label", "few", "ties"):  # binned tests stay exact
        assert close(streamed.columns[name].statistic, memory.columns[name].statistic), name
    for name in ("normal", "lognormal", "big_shift"):
        col = streamed.columns[name]
        low, high = (float(v) for v in col.note.split("[")[1].rstrip("]").split(", "))
        assert low - 1e-6 <= memory.columns[name].statistic <= high + 1e-6, name
    assert streamed.columns["text"].column_type == "text" and not streamed.columns["text"].tested
    ks = {"numeric": "ks"}
    same_flags(
        detect_drift(tmp_path / "ref", tmp_path / "cur", tests=ks), detect_drift(ref, cur, tests=ks)
    )


def test_exact_and_unsummarised_tests_read_the_column(tmp_path: Path, small_batches: None) -> None:
    """exact=True and Hellinger on numbers read columns whole (same statistics as in memory);
    Anderson-Darling and Sturges-binned PSI come from the sketch with the same flags."""
    rng = np.random.default_rng(1)
    ref, cur = frames(rng, 20_000, 9_000)
    ref.to_parquet(tmp_path / "ref.parquet", row_group_size=3_000)
    cur.to_parquet(tmp_path / "cur.parquet", row_group_size=3_000)
    paths = (tmp_path / "ref.parquet", str(tmp_path / "cur.parquet"))
    for options in (
        {"exact": True},
        {"tests": {"numeric": "hellinger"}},
        {"tests": {"numeric": "anderson"}},
        {"tests": "psi"},
    ):
        streamed, memory = detect_drift(*paths, **options), detect_drift(ref, cur, **options)
        same_flags(streamed, memory)
        for name in ("normal", "ties", "lognormal", "city"):
            a, b = streamed.columns[name], memory.columns[name]
            if "sketch: score in" in a.note:  # the tolerance of tests/drift/test_sketch_tests.py
                assert abs(a.statistic - b.statistic) <= 0.02 * abs(b.statistic) + 0.2
                continue
            assert close(a.statistic, b.statistic) and close(a.p_value, b.p_value), (options, name)
    assert "exact: column read whole" in detect_drift(*paths, exact=True).columns["normal"].note
    hellinger = detect_drift(*paths, tests={"numeric": "hellinger"}).columns["normal"]
    assert "exact: column read whole" in hellinger.note
    anderson = detect_drift(*paths, tests={"numeric": "anderson"}).columns["normal"]
    assert "sketch: score in" in anderson.note


def test_small_data_is_exact_and_inputs_mix(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    ref, cur = frames(rng, 3_000, 800)
    cur.to_parquet(tmp_path / "cur.parquet")
    dataset = ds.dataset(tmp_path / "cur.parquet")
    memory = detect_drift(ref, cur)
    for streamed in (detect_drift(ref, dataset), detect_drift(ref, tmp_path / "cur.parquet")):
        same_flags(streamed, memory)
        for name, col in streamed.columns.items():
            assert close(col.statistic, memory.columns[name].statistic), name


def test_bad_sources_are_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "not.parquet").write_text("hello")
    pd.DataFrame({"x": [1.0]}).iloc[:0].to_parquet(tmp_path / "empty.parquet")
    pd.DataFrame({"x": [1.0]}).to_parquet(tmp_path / "one.parquet")
    with pytest.raises(UsageProblem, match="reference data cannot be read as parquet"):
        detect_drift(tmp_path / "missing.parquet", tmp_path / "not.parquet")
    with pytest.raises(UsageProblem, match="current data cannot be read as parquet"):
        detect_drift(pd.DataFrame({"x": [1.0]}), tmp_path / "not.parquet")
    with pytest.raises(UsageProblem, match="current data has no rows"):
        detect_drift(pd.DataFrame({"x": [1.0]}), tmp_path / "empty.parquet")
    with pytest.raises(UsageProblem, match="no column named 'y'"):
        detect_drift(tmp_path / "one.parquet", tmp_path / "one.parquet", columns=["y"])


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.mark.slow
def test_dvc_tracked_parquet_at_two_revisions(project: Path) -> None:
    from dvc.repo import Repo

    Repo.init(str(project)).close()
    git(project, "add", ".dvc", ".dvcignore")
    git(project, "commit", "-q", "-m", "dvc init")
    rng = np.random.default_rng(3)
    revisions = []
    for shift in (0.0, 0.5):
        frame = pd.DataFrame({"x": rng.normal(shift, 1, 4_000), "y": rng.normal(size=4_000)})
        frame.to_parquet(project / "requests.parquet")
        with Repo(str(project)) as repo:
            repo.add("requests.parquet")
        git(project, "add", "requests.parquet.dvc", ".gitignore")
        git(project, "commit", "-q", "-m", f"requests shifted by {shift}")
        revisions.append(git(project, "rev-parse", "HEAD"))
    report = detect_drift(
        sources.at_revision("requests.parquet", rev=revisions[0], repo=str(project)),
        sources.at_revision("requests.parquet", rev=revisions[1], repo=str(project)),
    )
    assert report.drifted_columns == ["x"] and report.reference_rows == 4_000
    with pytest.raises(MlopsError) as bad:
        detect_drift(sources.at_revision("requests.parquet", "nope", str(project)), frame)
    assert "nope" in str(bad.value) and "\n" not in str(bad.value)


def test_drift_widget_takes_parquet_and_charts_a_preview(tmp_path: Path) -> None:
    from jupyter_mlops.widgets.drift import drift as drift_widget

    rng = np.random.default_rng(5)
    ref, cur = frames(rng, 5_000, 3_000)
    cur.to_parquet(tmp_path / "cur.parquet")
    widget = drift_widget(ref, tmp_path / "cur.parquet")
    assert widget.report.current_rows == 3_000
    assert widget.summary == detect_drift(ref, cur).summary()
    assert set(widget.hists) == set(widget.report.tested_columns)
