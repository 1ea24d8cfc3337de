"""Fixtures shared by every area's tests: real sqlite MLflow stores, real git repos, real shells."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GIT_TERMINAL_PROMPT", "0")

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test User",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test User",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` with a test identity; return stdout."""
    env = {**os.environ, **GIT_IDENTITY}
    out = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return out.stdout


@pytest.fixture(autouse=True)
def _private_spool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test spools offline runs into its own folder, never the user's cache."""
    monkeypatch.setenv("JUPYTER_MLOPS_SPOOL_DIR", str(tmp_path / "spool"))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh git repo (local identity, one commit) as the working directory."""
    root = tmp_path / "project"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Test User")
    git(root, "config", "user.email", "test@example.invalid")
    (root / "README.md").write_text("test project\n")
    git(root, "add", "README.md")
    git(root, "commit", "-q", "-m", "init")
    monkeypatch.chdir(root)
    yield root


@pytest.fixture(scope="session")
def empty_store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly migrated, empty MLflow sqlite file, made once per session.

    Creating MLflow's schema takes seconds; every test copies this file instead.
    """
    from mlflow.tracking import MlflowClient

    db = tmp_path_factory.mktemp("store-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments(max_results=1)
    return db


@pytest.fixture
def tracking_uri(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_store_template: Path
) -> str:
    """A real sqlite MLflow store in ``tmp_path``, made the default through the env var."""
    import shutil

    import mlflow

    db = tmp_path / "mlflow.db"
    shutil.copyfile(empty_store_template, db)
    uri = f"sqlite:///{db}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    yield uri
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
    # a test's mlflow.set_experiment must not reach the next test's store (no public reset;
    # MLflow also exports the choice as MLFLOW_EXPERIMENT_ID)
    mlflow.tracking.fluent._active_experiment_id = None
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)


@pytest.fixture
def shell(project: Path, tracking_uri: str) -> Iterator[object]:
    """A real IPython ``InteractiveShell`` (history off) with jupyter_mlops loaded."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    cfg = Config()
    cfg.HistoryManager.enabled = False
    InteractiveShell.clear_instance()
    ip = InteractiveShell.instance(config=cfg)
    ip.run_line_magic("load_ext", "jupyter_mlops")
    yield ip
    ip.run_line_magic("unload_ext", "jupyter_mlops")
    InteractiveShell.clear_instance()
