"""Stale runs: a cell of the slice or a DVC input changed since the run (hashes, no re-run)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

from jupyter_mlops.core.contracts import TAG_CELL_HASH, TAG_SOURCE_NAME
from jupyter_mlops.core.data.dvc_files import current_version
from jupyter_mlops.core.data.lineage import link_versions
from jupyter_mlops.core.data.snapshot import snapshot
from jupyter_mlops.core.reproduce.history import SessionHistory
from jupyter_mlops.core.reproduce.slicing import compute_slice
from jupyter_mlops.core.reproduce.staleness import stale_runs
from jupyter_mlops.core.runs.summaries import get_run_summary
from jupyter_mlops.widgets.compare import compare_runs

LOAD = "import pandas as pd\ndf = pd.read_csv('data/train.csv')"
TRAIN = "%%track\nrows = len(df)"


def write_notebook(root: Path, load: str, train: str | None = TRAIN) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(load), nbformat.v4.new_code_cell(train or "")]
    nb.cells[0].id, nb.cells[1].id = "load", "train"
    if train is None:
        nb.cells.pop()
    nbformat.write(nb, root / "train.ipynb")


def tracked_run(client, root: Path) -> str:  # type: ignore[no-untyped-def]
    """A run as %%track records it: slice artifacts, notebook tag, the DVC input it read."""
    session = SessionHistory()
    session.record(1, LOAD, cell_id="load")
    session.record(2, TRAIN, cell_id="train")
    texts = compute_slice(session, cwd=".").texts()
    exp = client.get_experiment_by_name("Default")
    run = client.create_run(
        exp.experiment_id, tags={TAG_CELL_HASH: "x", TAG_SOURCE_NAME: "train.ipynb"}
    )
    run_id = run.info.run_id
    for path, text in texts.items():
        client.log_text(run_id, text, path)
    version = current_version(root / "data" / "train.csv.dvc", root)
    link_versions(client, run_id, [version], context="cell")
    client.set_terminated(run_id)
    return run_id


def staleness(tracking_uri: str, run_id: str, root: Path):  # type: ignore[no-untyped-def]
    return stale_runs(tracking_uri, [get_run_summary(tracking_uri, run_id)], root)[run_id]


def test_a_run_goes_stale_when_a_slice_cell_or_its_data_changes(dvc_repo, client, tracking_uri):
    # Given a tracked run whose slice and DVC input match the work tree
    (dvc_repo / "data" / "train.csv").write_text("a\n1\n")
    snapshot("data/train.csv", message="v1", link=False)
    write_notebook(dvc_repo, LOAD)
    run_id = tracked_run(client, dvc_repo)
    fresh = staleness(tracking_uri, run_id, dvc_repo)
    assert (fresh.stale, fresh.reasons, fresh.reproducible) == (False, (), True)

    # When the loading cell is edited, Then the run is stale because of that cell
    write_notebook(dvc_repo, LOAD + ".dropna()")
    assert staleness(tracking_uri, run_id, dvc_repo).reasons == ("cell load changed",)

    # When the data gets a new version too, Then both reasons are given
    (dvc_repo / "data" / "train.csv").write_text("a\n1\n2\n")
    new = snapshot("data/train.csv", message="v2", link=False)
    reasons = staleness(tracking_uri, run_id, dvc_repo).reasons
    old = json.loads(client.get_run(run_id).inputs.dataset_inputs[0].dataset.source)
    assert old["path"] == "data/train.csv"
    assert reasons[0] == "cell load changed"
    assert reasons[1].startswith("data/train.csv changed (") and new.dvc_hash[:8] in reasons[1]

    # When the tracked cell is deleted, Then that is a reason as well
    write_notebook(dvc_repo, LOAD, train=None)
    assert "cell train was deleted" in staleness(tracking_uri, run_id, dvc_repo).reasons

    # And compare_runs shows the mark in its "stale" column
    view = compare_runs(run_ids=[run_id])
    column = view.columns().index("stale")
    assert view.rows()[0][column].startswith("⚠ stale: cell train was deleted; data/train.csv")
    assert "⚠ stale: cell train was deleted" in view.static_html()


def test_runs_without_a_slice_are_never_stale(project, client, tracking_uri):
    exp = client.get_experiment_by_name("Default")
    run = client.create_run(exp.experiment_id)
    result = staleness(tracking_uri, run.info.run_id, project)
    assert (result.stale, result.reproducible) == (False, False)


def test_compare_runs_reproduce_action_reports_a_run_without_slice(project, client, tracking_uri):
    exp = client.get_experiment_by_name("Default")
    run_id = client.create_run(exp.experiment_id).info.run_id
    view = compare_runs(run_ids=[run_id])
    assert view.reproduce.button.disabled  # nothing selected yet
    view.select([run_id])
    assert not view.reproduce.button.disabled
    view.reproduce.start()
    view.reproduce.thread.join(timeout=60)
    assert f"run {run_id} has no code slice" in view.reproduce.output.value
