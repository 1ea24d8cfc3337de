"""Server-extension fixtures: pytest-jupyter's server, and one store filled by real runs."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

# pytest-jupyter's fixtures (jp_fetch, jp_serverapp, ...). Imported rather than listed in
# ``pytest_plugins``, which pytest refuses in a conftest below the root.
from pytest_jupyter.jupyter_server import *  # noqa: F403

XSS = "<script>alert(1)</script>"
QUOTED_MODEL = "a'); import os #\""


@dataclass
class FilledStore:
    """A sqlite store with an experiment of real runs, artifacts and a registered model."""

    uri: str
    experiment_id: str
    run_ids: list[str]
    xss_run_id: str
    model: str
    artifacts: Path
    secret: Path
    tracked_run_id: str


def _fill(root: Path) -> FilledStore:
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    artifacts = root / "artifacts"
    exp_id = client.create_experiment("sidebar-exp", artifact_location=artifacts.as_uri())
    secret = root / "secret.txt"
    secret.write_text("not for the browser\n")
    mlflow.set_tracking_uri(uri)
    run_ids = []
    try:
        for i, lr in enumerate([0.1, 0.01, 0.001]):
            with mlflow.start_run(experiment_id=exp_id, run_name=f"run-{i}") as run:
                mlflow.log_param("learning_rate", lr)
                for step in range(5):
                    mlflow.log_metric("loss", 1.0 / (step + 1 + i), step=step)
                mlflow.log_metric("accuracy", 0.8 + i * 0.05)
                mlflow.log_text(f"learning_rate = {lr}\n", "cell/source.py")
                mlflow.log_text("deep\n", "a/b/c.txt")
                run_ids.append(run.info.run_id)
        with mlflow.start_run(experiment_id=exp_id, run_name=XSS) as run:
            mlflow.log_param("note", XSS)
            mlflow.log_metric("accuracy", 0.5)
            xss_run_id = run.info.run_id
    finally:
        mlflow.set_tracking_uri(None)
    client.create_experiment(XSS, artifact_location=(root / "xss").as_uri())
    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360f8cf000000030101001825dd560000000049454e44ae426082"
    )
    first = artifacts / run_ids[0] / "artifacts"
    (first / "figures").mkdir(parents=True, exist_ok=True)
    (first / "figures" / "0.png").write_bytes(png)
    (first / "blob.bin").write_bytes(b"\xff\xfe\x00\x01" * 10)
    os.symlink(secret, first / "escape.txt")
    model = "sentiment-model"
    client.create_registered_model(model)
    for run_id in run_ids[:2]:
        client.create_model_version(model, f"runs:/{run_id}/model", run_id=run_id)
    client.set_registered_model_alias(model, "champion", "1")
    client.create_registered_model(QUOTED_MODEL)
    for run_id in run_ids[1:]:
        client.create_model_version(QUOTED_MODEL, f"runs:/{run_id}/model", run_id=run_id)
    client.set_registered_model_alias(QUOTED_MODEL, "champion", "2")
    tracked = _tracked_run(root, uri)
    return FilledStore(uri, exp_id, run_ids, xss_run_id, model, artifacts, secret, tracked)


TRACKED_SOURCE = "epochs = 3\nscores = [0.5, 0.7, 0.9]\naccuracy = scores[-1]\n"


def _tracked_run(root: Path, uri: str) -> str:
    """One run made by ``track()``, the function twin of ``%%track`` (in its own experiment)."""
    from mlflow.tracking import MlflowClient

    from jupyter_mlops.core.tracking.cellrun import track

    here = Path.cwd()
    os.chdir(root)  # MLflow's default artifact root is relative to the working directory
    try:
        scope: dict = {}
        with track(
            "tracked-exp",
            "tracked",
            source=TRACKED_SOURCE,
            namespace=scope,
            autolog=False,
            tracking_uri=uri,
            quiet=True,
        ):
            exec(TRACKED_SOURCE, scope)
        from jupyter_mlops.core.tracking.journal import wait_for_delivery

        assert wait_for_delivery(120)  # the run is delivered from the journal in the background
    finally:
        os.chdir(here)
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("tracked-exp")
    [run] = client.search_runs([exp.experiment_id])
    return run.info.run_id


@pytest.fixture(scope="session")
def filled_store_template(tmp_path_factory: pytest.TempPathFactory) -> FilledStore:
    """Filled once per session; tests that change the store use ``filled_store`` instead."""
    return _fill(tmp_path_factory.mktemp("filled-store"))


@pytest.fixture
def filled_store(filled_store_template: FilledStore, tmp_path: Path) -> FilledStore:
    """A private copy of the filled store (same artifact folder, which tests only read)."""
    db = tmp_path / "store" / "mlflow.db"
    db.parent.mkdir()
    shutil.copyfile(filled_store_template.uri.removeprefix("sqlite:///"), db)
    copy = FilledStore(**vars(filled_store_template))
    copy.uri = f"sqlite:///{db}"
    return copy


@pytest.fixture
def jp_server_config(filled_store: FilledStore, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Enable our extension, pointed explicitly at the filled store."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", filled_store.uri)
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}},
        "JupyterMlops": {"tracking_uri": filled_store.uri},
    }
