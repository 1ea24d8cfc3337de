"""replay() sends real traffic; sampled traffic feeds a Monitor logged to MLflow per batch."""

from __future__ import annotations

import time

import mlflow
import numpy as np
import pandas as pd
import pytest

from jupyter_mlops.core.errors import MlopsError, UsageProblem
from jupyter_mlops.core.serving.server import serve
from tests.serving.conftest import COLUMNS

pytestmark = pytest.mark.slow


def _rows(n: int, shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    data = np.random.default_rng(seed).random((n, 3))
    data[:, 1:] += shift
    return pd.DataFrame(data, columns=COLUMNS)


def test_replay_returns_a_latency_summary_and_paces_by_rps(registry, tmp_path):
    frame = _rows(30)
    with serve("models:/clf@champion") as server:
        summary = server.replay(frame, concurrency=3, progress=False)
        assert summary["requests"] == 30 and summary["errors"] == 0
        assert summary["versions"] == {"1": 30}
        assert 0 < summary["p50_ms"] <= summary["p95_ms"] <= summary["p99_ms"]
        paced = server.replay(frame.iloc[:10], rps=20, concurrency=2, progress=False)
        assert paced["duration_s"] >= 0.45  # 10 requests at 20/s: the last starts at 0.45 s
        frame.to_csv(tmp_path / "rows.csv", index=False)
        batched = server.replay(tmp_path / "rows.csv", batch_rows=10, progress=False)
        assert batched["requests"] == 3
        # rows are counted by the tap thread after each response is sent: wait for it to drain
        deadline = time.monotonic() + 30
        while server.stats()["rows"] < 30 + 10 + 30 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.stats()["rows"] == 30 + 10 + 30
        with pytest.raises(UsageProblem, match="no file"):
            server.replay(tmp_path / "missing.csv")


def test_served_traffic_feeds_a_monitor_per_batch(registry):
    reference = _rows(300, seed=1)
    monitor = {"every": 40, "reference": reference, "experiment": "serving-monitor"}
    with serve("models:/clf@champion", monitor=monitor) as server:
        server.replay(_rows(40, seed=2), concurrency=2, progress=False)
        server.replay(_rows(40, shift=3.0, seed=3), concurrency=2, progress=False)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = server.stats()["monitor"]
            if state["errors"] or state["versions"].get("1", {}).get("batches", 0) >= 2:
                break
            time.sleep(0.5)
    assert state["errors"] == []
    version = state["versions"]["1"]
    assert version["batches"] == 2
    assert "data_drift" in version["alerts"]  # the second batch's x1 and x2 moved by 3
    client = mlflow.MlflowClient(registry.uri)
    run = client.get_run(version["run_id"])
    assert run.data.tags["jupyter_mlops.monitor.model_version"] == "1"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "monitor.rows")] == [0, 1]
    assert client.get_metric_history(run.info.run_id, "monitor.rows")[0].value == 40
    drift = client.get_metric_history(run.info.run_id, "monitor.dataset_drift")
    assert [m.value for m in sorted(drift, key=lambda m: m.step)] == [0.0, 1.0]
    names = [f.path for f in client.list_artifacts(run.info.run_id, "monitor")]
    assert names == ["monitor/batch-0.json", "monitor/batch-1.json"]


def _dvc(root, *args: str) -> None:
    import subprocess
    import sys
    from pathlib import Path

    dvc = Path(sys.executable).with_name("dvc")
    subprocess.run([str(dvc), *args], cwd=root, check=True, capture_output=True)


def test_replay_a_dvc_tracked_file_at_a_git_revision(registry, project):
    from jupyter_mlops.core.monitoring.sources import at_revision
    from tests.conftest import git

    # Given a git+DVC repo where requests.csv had 12 rows at one commit and 20 at the next
    _dvc(project, "init", "-q")
    git(project, "add", ".dvc", ".dvcignore")
    git(project, "commit", "-q", "-m", "dvc init")
    revisions = []
    for rows in (12, 20):
        _rows(rows, seed=rows).to_csv(project / "requests.csv", index=False)
        _dvc(project, "add", "-q", "requests.csv")
        git(project, "add", "requests.csv.dvc", ".gitignore")
        git(project, "commit", "-q", "-m", f"{rows} requests")
        revisions.append(git(project, "rev-parse", "HEAD").strip())
    with serve("models:/clf@champion") as server:
        # When the first revision's file is replayed (by rev= and by at_revision)
        old = server.replay("requests.csv", rev=revisions[0], progress=False)
        same = server.replay(at_revision("requests.csv", "HEAD~1"), batch_rows=4, progress=False)
        new = server.replay("requests.csv", rev="HEAD", repo=project, progress=False)
        # Then each sent the rows of its revision and the working tree did not move
        assert (old["requests"], old["errors"], same["requests"], new["requests"]) == (12, 0, 3, 20)
        assert len(pd.read_csv(project / "requests.csv")) == 20
        assert git(project, "status", "--porcelain") == ""
        # And a bad revision or a path missing at it is one line
        for kwargs, text in (
            ({"rev": "no-such-rev"}, "no-such-rev"),
            ({"rev": revisions[0], "data": "missing.csv"}, "missing.csv does not exist"),
            ({"rev": "HEAD", "data": str(project.parent / "x.csv")}, "outside the git repository"),
        ):
            data = kwargs.pop("data", "requests.csv")
            with pytest.raises(MlopsError) as bad:
                server.replay(data, progress=False, **kwargs)
            assert text in str(bad.value) and "\n" not in str(bad.value)


def test_monitor_batches_close_by_count_or_by_interval_whichever_first(registry, tmp_path):
    reference = _rows(300, seed=1)
    options = {"every": 10, "interval": 3.0, "reference": reference, "experiment": "interval"}
    with serve("models:/clf@champion", monitor=options) as server:
        # When 25 requests arrive at once, then 2 more after a pause
        server.replay(_rows(25, seed=2), concurrency=1, progress=False)
        time.sleep(4.0)
        server.replay(_rows(2, seed=3), concurrency=1, progress=False)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = server.stats()["monitor"]
            if state["errors"] or state["versions"].get("1", {}).get("batches", 0) >= 4:
                break
            time.sleep(0.5)
    # Then two batches closed at 10 requests, the rest when their 3 s were over
    assert state["errors"] == [] and (state["every"], state["interval"]) == (10, 3.0)
    run_id = state["versions"]["1"]["run_id"]
    history = mlflow.MlflowClient(registry.uri).get_metric_history(run_id, "monitor.rows")
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == [10, 10, 5, 2]


def test_monitor_options_are_checked_and_interval_alone_means_per_interval(tmp_path):
    from jupyter_mlops.core.serving.traffic import monitor_spec

    assert monitor_spec({"interval": 30}, str(tmp_path))["every"] is None
    assert monitor_spec(50, str(tmp_path))["interval"] is None
    for bad in ({"interval": 0}, {"interval": "soon"}, {"every": 0}, {"every": True}):
        with pytest.raises(UsageProblem, match="positive"):
            monitor_spec(bad, str(tmp_path))
