"""Fixtures for data versioning: real git + DVC repos with a local directory remote."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test User",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test User",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


def run_git(root: Path, *args: str) -> str:
    """git in ``root``; stdout."""
    out = subprocess.run(
        ["git", *args],
        cwd=root,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


@pytest.fixture
def git() -> Callable[..., str]:
    """``git(root, *args) -> stdout``."""
    return run_git


@pytest.fixture
def git_state() -> Callable[[Path], tuple[str, str, str]]:
    """HEAD, the index (``ls-files -s``) and ``status``: what a failed snapshot must not change."""

    def state(root: Path) -> tuple[str, str, str]:
        return (
            run_git(root, "rev-parse", "HEAD"),
            run_git(root, "ls-files", "-s"),
            run_git(root, "status", "--porcelain", "--untracked-files=all"),
        )

    return state


@pytest.fixture
def remote_dir(tmp_path: Path) -> Path:
    """A local directory used as the DVC remote."""
    folder = tmp_path / "dvc-remote"
    folder.mkdir()
    return folder


@pytest.fixture
def dvc_repo(project: Path, tracking_uri: str, remote_dir: Path) -> Path:
    """``project`` with DVC initialised, a default local remote ``local``, all committed."""
    from dvc.repo import Repo

    repo = Repo.init(str(project))
    with repo.config.edit() as conf:
        conf["remote"]["local"] = {"url": str(remote_dir)}
        conf["core"]["remote"] = "local"
    repo.close()
    run_git(project, "add", ".dvc", ".dvcignore")
    run_git(project, "commit", "-q", "-m", "dvc init")
    (project / "data").mkdir()
    return project


@pytest.fixture
def client(tracking_uri: str):  # type: ignore[no-untyped-def]
    """An ``MlflowClient`` on the test store."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


@pytest.fixture
def new_run(client) -> Callable[..., str]:  # type: ignore[no-untyped-def]
    """``new_run(**metrics) -> run_id``: a finished run in the Default experiment."""

    def make(**metrics: float) -> str:
        exp = client.get_experiment_by_name("Default")
        run = client.create_run(exp.experiment_id if exp else "0")
        for key, value in metrics.items():
            client.log_metric(run.info.run_id, key, value)
        client.set_terminated(run.info.run_id)
        return run.info.run_id

    return make


@pytest.fixture
def dataset_inputs(client) -> Callable[[str], list]:  # type: ignore[no-untyped-def]
    """``dataset_inputs(run_id)``: the run's MLflow dataset inputs, read back from the store."""

    def read(run_id: str) -> list:
        run = client.get_run(run_id)
        return list(run.inputs.dataset_inputs) if run.inputs else []

    return read


def _file_tree(base: Path) -> dict[str, tuple[str, bytes | None]]:
    """Every path under ``base`` with its kind and bytes.

    Left out: the store, DVC's cache and tmp, and ``.git/index`` (whose stat cache any ``git
    status`` refreshes; ``git_state`` compares the index's content).
    """
    found: dict[str, tuple[str, bytes | None]] = {}
    for top, dirs, files in os.walk(base):
        rel_top = Path(top).relative_to(base)
        skip = {"cache", "tmp"} if rel_top.name == ".dvc" else {"mlruns", "spool"}
        dirs[:] = [d for d in dirs if d not in skip]
        for name in [*dirs, *files]:
            path, key = Path(top, name), (rel_top / name).as_posix()
            if path.is_symlink():
                found[key] = ("link", os.readlink(path).encode())
            elif path.is_dir():
                found[key] = ("dir", None)
            elif not name.startswith("mlflow.db") and key[-10:] != ".git/index":
                found[key] = ("file", path.read_bytes())
    return found


@pytest.fixture
def file_tree() -> Callable[[Path], dict[str, tuple[str, bytes | None]]]:
    """``file_tree(base)``: every path under ``base`` with its bytes, to prove nothing changed."""
    return _file_tree


def _plant_run(client, source: object, digest: str, name: str = "planted") -> str:  # type: ignore[no-untyped-def]
    """A finished run whose one DVC dataset input has ``source`` (JSON unless a str) and ``digest``.

    What anyone who can write to a shared store can record; ``checkout_data`` must not trust it.
    """
    from mlflow.entities import Dataset, DatasetInput, InputTag

    run = client.create_run("0")
    text = source if isinstance(source, str) else json.dumps(source)
    dataset = Dataset(name=name, digest=digest, source_type="dvc", source=text)
    tag = InputTag("mlflow.data.context", "snapshot")
    client.log_inputs(run.info.run_id, datasets=[DatasetInput(dataset, tags=[tag])])
    client.set_terminated(run.info.run_id)
    return run.info.run_id


@pytest.fixture
def plant_run() -> Callable[..., str]:
    """``plant_run(client, source, digest) -> run_id``: a run with a forged data version."""
    return _plant_run
