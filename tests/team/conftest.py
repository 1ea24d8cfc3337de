"""Team-mode fixtures: real ``mlflow server`` processes on free loopback ports.

The backend store is sqlite by default; when ``JUPYTER_MLOPS_TEST_POSTGRES_URI`` is set (CI
starts PostgreSQL with ``tests/team/start_postgres.sh``) every server test also runs against
PostgreSQL. ``s3_store`` is a real S3-compatible object store (SeaweedFS) on loopback that
requires access keys; ``s3_server`` is a team server whose artifacts live in it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from jupyter_mlops.core.team.object_store import ObjectStore
from jupyter_mlops.core.team.server import TeamServer

from .auth_helpers import AuthServer, start_auth_server

POSTGRES_ENV = "JUPYTER_MLOPS_TEST_POSTGRES_URI"
BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get(POSTGRES_ENV) else [])


def backend_uri(kind: str, folder: Path) -> str:
    """A backend-store URI of ``kind`` (a fresh sqlite file, or the CI PostgreSQL database)."""
    if kind == "postgresql":
        return os.environ[POSTGRES_ENV]
    return f"sqlite:///{folder / 'server.db'}"


def make_server(kind: str, folder: Path) -> TeamServer:
    """A stopped server with its stores and log under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    return TeamServer(
        backend_store_uri=backend_uri(kind, folder),
        artifacts_destination=str(folder / "artifacts"),
        log_path=folder / "server.log",
    )


@pytest.fixture(autouse=True)
def _team_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test gets its own spool; MLflow's HTTP client is bounded as in a kernel."""
    from jupyter_mlops.core.store import bound_http_timeouts

    monkeypatch.setenv("JUPYTER_MLOPS_SPOOL_DIR", str(tmp_path / "spool"))
    bound_http_timeouts()


@pytest.fixture(scope="session", params=BACKENDS)
def team_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TeamServer]:
    """One healthy server per backend for the session (tests use their own experiments)."""
    server = make_server(request.param, tmp_path_factory.mktemp(f"server-{request.param}"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=BACKENDS)
def own_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TeamServer]:
    """A server this test may kill and restart (same port, same stores)."""
    server = make_server(request.param, tmp_path / "server")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def experiment_name() -> str:
    """A name no other test (or earlier CI run on the same PostgreSQL) uses."""
    return f"team-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    """The spool directory this test's ``JUPYTER_MLOPS_SPOOL_DIR`` points at."""
    return tmp_path / "spool"


@pytest.fixture
def wait_for() -> Callable[..., bool]:
    """Poll ``check()`` until true or ``timeout`` seconds pass (bounded loops only)."""
    import time

    def wait(check: Callable[[], bool], timeout: float = 60.0, every: float = 0.1) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return True
            time.sleep(every)
        return check()

    return wait


@pytest.fixture(scope="session")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    """``jupyter mlops server --auth`` (sqlite stores) for the session; tests add own users."""
    server = start_auth_server(tmp_path_factory.mktemp("auth-server"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStore]:
    """A running SeaweedFS S3 store for the session, keys required, bucket ``mlops`` created.

    Interface (kept stable for other tests): ``.endpoint_url``, ``.access_key``,
    ``.secret_key``, ``.bucket``, ``.region``, ``.env()`` (``AWS_ACCESS_KEY_ID``,
    ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL_S3``,
    ``MLFLOW_S3_ENDPOINT_URL``), ``.url(path)`` -> ``s3://bucket/path``, ``.client()`` (boto3).
    Tests that stop it use ``own_s3_store`` instead.
    """
    pytest.importorskip("boto3", reason="needs boto3 (pip install 'jupyter-mlops[team]')")
    store = ObjectStore(tmp_path_factory.mktemp("s3"))
    store.start()
    yield store
    store.stop()


@pytest.fixture
def own_s3_store(tmp_path: Path) -> Iterator[ObjectStore]:
    """An object store this test may kill and restart (same ports, same data)."""
    pytest.importorskip("boto3", reason="needs boto3 (pip install 'jupyter-mlops[team]')")
    store = ObjectStore(tmp_path / "s3")
    store.start()
    yield store
    store.stop()


def make_s3_server(store: ObjectStore, folder: Path, kind: str = "sqlite") -> TeamServer:
    """A stopped team server whose artifacts go to a fresh prefix of ``store``."""
    folder.mkdir(parents=True, exist_ok=True)
    return TeamServer(
        backend_store_uri=backend_uri(kind, folder),
        artifacts_destination=store.url(f"mlflow-{uuid.uuid4().hex[:8]}"),
        log_path=folder / "server.log",
        env=store.env(),
    )


@pytest.fixture(scope="session")
def s3_server(
    s3_store: ObjectStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TeamServer]:
    """One healthy team server with proxied artifacts in ``s3_store`` for the session; its
    backend store is PostgreSQL when the tests have one (the team set-up), else sqlite."""
    server = make_s3_server(s3_store, tmp_path_factory.mktemp("s3-server"), BACKENDS[-1])
    server.start()
    yield server
    server.stop()
