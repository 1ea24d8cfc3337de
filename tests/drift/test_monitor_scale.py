"""Monitor over data larger than memory: parquet and Dask references and batches, bounded memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, r2_score

from jupyter_mlops import Monitor
from jupyter_mlops.core.errors import UsageProblem
from jupyter_mlops.core.monitoring import sketch
from jupyter_mlops.core.monitoring.quality import QualityTally

SIGNALS = ("data_drift", "prediction_drift", "quality_drop")  # latency is timing noise here


def dataset(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    """Features a, b (numeric), city (categorical) and the label y."""
    frame = pd.DataFrame(
        {
            "a": rng.normal(shift, 1, n),
            "b": rng.normal(size=n),
            "city": rng.choice(["x", "y", "z"], n, p=[0.5, 0.3, 0.2]),
        }
    )
    frame["y"] = ((frame["a"] - shift) + frame["b"] > 0).astype(int)
    return frame


class OnNumbers:
    """A real classifier that reads only the numeric features (as a pipeline would)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.model = LogisticRegression().fit(frame[["a", "b"]], frame["y"])
        self.classes_ = self.model.classes_

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.model.predict(X[["a", "b"]])

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(X[["a", "b"]])


def same_batch(a, b) -> None:
    """Two batch reports agree on every signal, flag and size (the figures are checked apart)."""
    assert a.rows == b.rows
    assert {s for s in a.alerts if s in SIGNALS} == {s for s in b.alerts if s in SIGNALS}
    assert a.quality == pytest.approx(b.quality, abs=1e-12)
    for name, col in a.data_drift.columns.items():
        other = b.data_drift.columns[name]
        assert (col.test, col.drift, col.reference_size) == (
            other.test,
            other.drift,
            other.reference_size,
        )
    assert (a.prediction_drift.test, a.prediction_drift.drift) == (
        b.prediction_drift.test,
        b.prediction_drift.drift,
    )
    assert [c.drift for c in a.probability_drift] == [c.drift for c in b.probability_drift]


@pytest.mark.parametrize("raw_limit", [None, 400])
def test_parquet_reference_and_batches_give_the_in_memory_verdicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raw_limit: int | None
) -> None:
    """Given a reference and batches as parquet (label in column y), when a monitor observes
    them, then every signal, flag and the quality equal those of the in-memory monitor; with
    a small raw limit the numeric columns go through the sketch and still agree."""
    if raw_limit:
        monkeypatch.setattr(sketch, "RAW_LIMIT", raw_limit)
    rng = np.random.default_rng(0)
    reference = dataset(rng, 6000)
    model = OnNumbers(reference)
    reference.to_parquet(tmp_path / "reference.parquet", row_group_size=1000)
    batches = [dataset(rng, 2500), dataset(rng, 2500, shift=2.0)]
    batches[1]["y"] = 1 - batches[1]["y"]  # the world changed: labels flipped

    memory = Monitor(model, reference.drop(columns="y"), reference["y"], log=False)
    streamed = Monitor(model, tmp_path / "reference.parquet", target="y", log=False)
    assert streamed.reference_rows == 6000 and streamed.reference_predictions is None
    assert streamed.reference_quality == pytest.approx(memory.reference_quality, abs=1e-12)
    for k, batch in enumerate(batches):
        path = tmp_path / f"batch-{k}"
        path.mkdir()
        batch.to_parquet(path / "part-0.parquet")
        expected = memory.observe(batch.drop(columns="y"), batch["y"])
        same_batch(streamed.observe(path), expected)
        same_batch(streamed.observe(batch.drop(columns="y"), batch["y"]), expected)
    assert "data_drift" not in streamed.batches[0].alerts
    assert {"prediction_drift", "quality_drop"} <= set(streamed.batches[-1].alerts)
    drifted = streamed.batches[-1].data_drift.columns["a"]
    assert drifted.drift and (raw_limit is None or "sketch: score in" in drifted.note)


def test_large_inputs_are_checked_with_one_clear_line(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    reference = dataset(rng, 2000)
    reference.to_parquet(tmp_path / "reference.parquet")
    model = OnNumbers(reference)
    with pytest.raises(UsageProblem, match="labels come from its target= column"):
        Monitor(model, tmp_path / "reference.parquet", reference["y"], log=False)
    monitor = Monitor(model, tmp_path / "reference.parquet", target="y", log=False)
    batch = dataset(rng, 100)
    with pytest.raises(UsageProblem, match="one label per row"):
        monitor.observe(batch, batch["y"][:10])
    with pytest.raises(UsageProblem, match="cannot be read as parquet"):
        monitor.observe(tmp_path / "missing.parquet")
    report = monitor.observe(batch.drop(columns=["b", "y"]).assign(b=0.0), batch["y"])
    assert report.rows == 100 and report.data_drift.columns["b"].drift


@pytest.mark.parametrize("metric", ["accuracy", "f1", "precision", "recall"])
def test_quality_tally_equals_scikit_learn_on_labels(metric: str) -> None:
    from jupyter_mlops.core.models.loader import quality_metric

    rng = np.random.default_rng(2)
    truth = rng.choice(["a", "b", "c", "d"], 10_000, p=[0.4, 0.3, 0.2, 0.1])
    pred = np.where(rng.random(10_000) < 0.7, truth, rng.choice(["a", "b", "e"], 10_000))
    halves = [QualityTally(metric), QualityTally(metric)]
    for k, part in enumerate(np.array_split(np.arange(10_000), 7)):
        halves[k % 2].add(truth[part], pred[part])
    _, exact, _ = quality_metric(metric)
    assert halves[0].merge(halves[1]).value() == pytest.approx(exact(truth, pred), abs=1e-12)
    assert f1_score(truth, pred, average="macro") > 0 and accuracy_score(truth, pred) > 0.5


@pytest.mark.parametrize("metric", ["r2", "mae", "mse", "rmse"])
def test_quality_tally_equals_scikit_learn_on_values(metric: str) -> None:
    from jupyter_mlops.core.models.loader import quality_metric

    rng = np.random.default_rng(3)
    truth = 1e6 + rng.normal(size=9_000)  # far from 0: the sums must stay stable
    pred = truth + rng.normal(0, 0.3, 9_000)
    tallies = []
    for part in np.array_split(np.arange(9_000), 5):
        tally = QualityTally(metric)
        tally.add(truth[part], pred[part])
        tallies.append(tally)
    merged = tallies[3].merge(tallies[0]).merge(tallies[4]).merge(tallies[1]).merge(tallies[2])
    _, exact, _ = quality_metric(metric)
    assert merged.value() == pytest.approx(exact(truth, pred), rel=1e-9)
    assert r2_score(truth, pred) > 0.5 and mean_absolute_error(truth, pred) < 1


def test_regression_monitor_over_parquet_keeps_r2(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    X = pd.DataFrame({"u": rng.normal(size=4000), "v": rng.uniform(size=4000)})
    X["target"] = 3 * X["u"] - X["v"] + rng.normal(0, 0.1, 4000)
    model = LinearRegression().fit(X[["u", "v"]], X["target"])
    X.to_parquet(tmp_path / "ref.parquet", row_group_size=500)
    memory = Monitor(model, X[["u", "v"]], X["target"], metric="r2", log=False)
    streamed = Monitor(model, tmp_path / "ref.parquet", target="target", metric="r2", log=False)
    assert streamed.reference_quality == pytest.approx(memory.reference_quality, rel=1e-9)


MEMORY_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    import numpy as np, pandas as pd
    from sklearn.linear_model import LogisticRegression
    from jupyter_mlops import Monitor
    from jupyter_mlops.core.monitoring import fused

    folder, batch = sys.argv[1], sys.argv[2]
    first = pd.read_parquet(folder + "/part-0.parquet").head(20_000)
    names = [c for c in first.columns if c != "y"]
    model = LogisticRegression().fit(first[names], first["y"])
    fused.warm_up(wait=True)
    Monitor(model, first, target="y", log=False).observe(first)  # every import and first call
    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    before = peak()
    monitor = Monitor(model, folder, target="y", chunk_rows=20_000, log=False)
    report = monitor.observe(batch)
    print(json.dumps({"before": before, "after": peak(), "rows": monitor.reference_rows,
                      "alerts": report.alerts, "quality": monitor.reference_quality}))
    """
)


@pytest.mark.slow
def test_parquet_reference_larger_than_the_memory_bound(tmp_path: Path) -> None:
    """Given a 3.2M-row parquet reference (~230 MB as float64 frames, 2.5x the bound), when a
    fresh process monitors it, then its peak RSS grows by less than 92 MB (the bound)."""
    rng = np.random.default_rng(6)
    folder = tmp_path / "reference"
    folder.mkdir()
    rows = 0
    for part in range(8):
        frame = pd.DataFrame(rng.normal(size=(400_000, 8)), columns=[f"x{i}" for i in range(8)])
        frame["y"] = (frame["x0"] + frame["x1"] > 0).astype(np.int64)
        frame.to_parquet(folder / f"part-{part}.parquet", row_group_size=100_000)
        rows += len(frame)
    data_bytes = rows * 9 * 8
    batch = tmp_path / "batch.parquet"
    frame.head(50_000).to_parquet(batch)
    script = tmp_path / "child.py"
    script.write_text(MEMORY_CHILD)
    out = subprocess.run(
        [sys.executable, str(script), str(folder), str(batch)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["rows"] == rows and seen["quality"] > 0.99
    bound = data_bytes / 2.5
    assert seen["after"] - seen["before"] < bound, (seen, bound)


@pytest.mark.slow
def test_dask_reference_and_batches_on_a_local_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a reference and batches as Dask frames on a LocalCluster of 2 worker processes,
    when a monitor observes them, then partitions are predicted and summarised on the workers
    and every signal, flag and the quality equal the in-memory monitor's."""
    dd = pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("dask.distributed")
    monkeypatch.setattr(sketch, "RAW_LIMIT", 1_000)  # the plans carry it to the workers
    rng = np.random.default_rng(7)
    reference = dataset(rng, 20_000)
    model = OnNumbers(reference)
    batches = [dataset(rng, 6_000), dataset(rng, 6_000, shift=1.5)]
    memory = Monitor(model, reference.drop(columns="y"), reference["y"], log=False)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        dref = dd.from_pandas(reference, npartitions=4).persist()
        monitor = Monitor(model, dref, target="y", chunk_rows=2_000, log=False)
        assert monitor.reference_rows == 20_000
        assert monitor.reference_quality == pytest.approx(memory.reference_quality, abs=1e-12)
        for batch in batches:
            expected = memory.observe(batch.drop(columns="y"), batch["y"])
            same_batch(monitor.observe(dd.from_pandas(batch, npartitions=3)), expected)
    assert monitor.batches[-1].data_drift.columns["a"].drift
    assert "sketch: score in" in monitor.batches[-1].data_drift.columns["a"].note
