"""Data links survive spooling: a cell that reads a DVC-tracked file while the tracking server
is down keeps its dataset input after the server is back and the spool is synced."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from jupyter_mlops.core.team.server import TeamServer


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


@pytest.fixture
def dvc_file(project: Path) -> str:
    """``data/train.csv`` tracked by DVC and committed; returns its DVC md5."""
    from dvc.repo import Repo

    repo = Repo.init(str(project))
    (project / "data").mkdir()
    (project / "data" / "train.csv").write_text("x,y\n1,2\n3,4\n")
    repo.add([str(project / "data" / "train.csv")])
    repo.close()
    _git(project, "add", ".dvc", ".dvcignore", "data/train.csv.dvc", "data/.gitignore")
    _git(project, "-c", "user.name=T", "-c", "user.email=t@x", "commit", "-qm", "data")
    text = (project / "data" / "train.csv.dvc").read_text()
    return next(line.split(":")[1].strip() for line in text.splitlines() if "md5:" in line)


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    srv = TeamServer(
        backend_store_uri=f"sqlite:///{tmp_path / 'server.db'}",
        artifacts_destination=str(tmp_path / "artifacts"),
        log_path=tmp_path / "server.log",
    )
    srv.start()
    yield srv
    srv.stop()


@pytest.mark.slow
def test_dataset_input_of_a_spooled_cell_reaches_the_server(shell, dvc_file, server) -> None:
    # Given a kernel tracking to a real mlflow server, which is then killed
    shell.run_line_magic("config", f'MlopsMagics.tracking_uri = "{server.url}"')
    server.kill()

    # When a cell reads the DVC-tracked file, it is spooled
    shell.run_cell_magic(
        "track", "--no-autolog -n offline", 'rows = len(open("data/train.csv").readlines())\n'
    )
    assert shell.user_ns["rows"] == 3

    # and after a restart the spool is synced
    server.restart()
    shell.run_line_magic("mlops_sync", "")

    # Then the run on the server carries the DVC dataset input of the file
    client = MlflowClient(tracking_uri=server.url)
    ids = [e.experiment_id for e in client.search_experiments()]
    (run,) = client.search_runs(ids, filter_string="attributes.run_name = 'offline'")
    inputs = run.inputs.dataset_inputs
    assert [i.dataset.name for i in inputs] == ["data/train.csv"]
    dataset = inputs[0].dataset
    assert dataset.digest == dvc_file
    assert dataset.source_type == "dvc"
    assert json.loads(dataset.source)["path"] == "data/train.csv"
    assert {t.key: t.value for t in inputs[0].tags}["mlflow.data.context"] == "cell"
