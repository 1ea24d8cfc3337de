"""The drift widget's data (no browser), its logging to MLflow, and %mlops_drift in a real shell."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from IPython.core.error import UsageError
from mlflow.tracking import MlflowClient

from jupyter_mlops import drift
from jupyter_mlops.widgets.drift import DriftWidget

EVIL = "<img src=x onerror=alert(1)>"


@pytest.fixture
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(21)
    ref = pd.DataFrame(
        {
            "age": rng.normal(40, 10, 50_000),
            EVIL: rng.choice(["a", "b", "c"], 50_000),
            "stable": rng.normal(size=50_000),
        }
    )
    cur = pd.DataFrame(
        {
            "age": rng.normal(45, 10, 20_000),
            EVIL: rng.choice(["a", "b", "<script>"], 20_000),
            "stable": rng.normal(size=20_000),
        }
    )
    return ref, cur


def test_widget_state_is_pre_binned_and_small(frames) -> None:
    ref, cur = frames
    widget = drift(ref, cur, bins=25)
    assert widget.summary.startswith("Drift: 2 of 3 columns drifted")
    assert {r["column"] for r in widget.rows} == {"age", EVIL, "stable"}
    assert widget.selected == "age"  # the first drifted column is shown first
    age = widget.hists["age"]
    assert len(age["reference"]) == len(age["current"]) == 25 and len(age["edges"]) == 26
    assert sum(age["reference"]) == pytest.approx(1.0, abs=1e-4)
    assert sorted(widget.hists[EVIL]["labels"]) == ["<script>", "a", "b", "c"]
    state = json.dumps({k: getattr(widget, k) for k in ("rows", "hists", "summary")})
    assert len(state) < 20_000  # 70k rows in, a few KB out: no raw rows reach the browser


def test_static_fallback_escapes_column_names(frames) -> None:
    widget = drift(*frames)
    bundle, _ = widget._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert EVIL not in bundle["text/html"] and "&lt;img src=x" in bundle["text/html"]
    assert "age: wasserstein" in bundle["text/plain"]


def test_log_button_writes_report_to_latest_tracked_run(shell, tracking_uri: str, frames) -> None:
    shell.user_ns["ref"], shell.user_ns["cur"] = frames
    shell.run_cell("%%track\nn_rows = 3\nscore = 0.5\n", store_history=False).raise_error()
    client = MlflowClient(tracking_uri)
    from jupyter_mlops.core.active import latest_run_id

    tracked = latest_run_id(client=client)
    assert tracked is not None
    widget = shell.run_line_magic("mlops_drift", "ref cur")
    assert isinstance(widget, DriftWidget)
    widget.log_clicks += 1  # what the front end's button does
    assert widget.log_status == f"logged to run {tracked}"
    local = client.download_artifacts(tracked, "drift/report.json")
    saved = json.loads(Path(local).read_text())
    assert saved["number_of_drifted_columns"] == 2 and EVIL in saved["columns"]
    metrics = client.get_run(tracked).data.metrics
    assert metrics["drift.share_drifted_columns"] == pytest.approx(2 / 3)


def test_log_inside_tracked_cell_goes_to_that_run(shell, tracking_uri: str, frames) -> None:
    shell.user_ns["ref"], shell.user_ns["cur"] = frames
    cell = "%%track\nw = get_ipython().run_line_magic('mlops_drift', 'ref cur --log')\n"
    shell.run_cell(cell, store_history=False).raise_error()
    widget = shell.user_ns["w"]
    run = MlflowClient(tracking_uri).get_run(widget.logged_run_id)
    assert "jupyter_mlops.cell.hash" in run.data.tags
    assert run.data.metrics["drift.dataset_drift"] == 1.0


def test_without_any_tracked_run_a_new_run_is_made(tracking_uri: str, frames) -> None:
    widget = drift(*frames, columns=["stable"])
    run_id = widget.log_to_mlflow()
    run = MlflowClient(tracking_uri).get_run(run_id)
    assert run.data.metrics["drift.dataset_drift"] == 0.0
    assert run.data.tags["mlflow.runName"] == "drift-report"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("ref nothere", "no variable named 'nothere'"),
        ("ref number", "not a pandas DataFrame"),
        ("ref cur --test nope", "unknown drift test"),
        ("ref cur --columns zzz", "no column named 'zzz'"),
        ("ref cur --threshold -1", "threshold must be a finite number >= 0"),
        ("ref cur --threshold nan", "threshold must be a finite number >= 0"),
        ("ref cur --threshold inf", "threshold must be a finite number >= 0"),
    ],
)
def test_magic_bad_input_is_one_usage_error(shell, frames, line: str, message: str) -> None:
    shell.user_ns["ref"], shell.user_ns["cur"] = frames
    shell.user_ns["number"] = 3
    with pytest.raises(UsageError, match=message) as info:
        shell.run_line_magic("mlops_drift", line)
    assert type(info.value) is UsageError


def test_function_twin_refuses_a_negative_threshold_per_column(frames) -> None:
    from jupyter_mlops.core.errors import UsageProblem

    with pytest.raises(UsageProblem, match="threshold must be a finite number >= 0"):
        drift(*frames, threshold={"age": 0.1, "stable": -0.5})


def test_magic_options_reach_detect_drift(shell, frames) -> None:
    shell.user_ns["ref"], shell.user_ns["cur"] = frames
    widget = shell.run_line_magic("mlops_drift", "ref cur --columns age,stable --test psi")
    assert [(r["column"], r["test"]) for r in widget.rows] == [("age", "psi"), ("stable", "psi")]
    widget = shell.run_line_magic("mlops_drift", "ref cur --columns stable --threshold 0.0001")
    assert widget.rows[0]["threshold"] == 0.0001 and widget.rows[0]["drift"]
