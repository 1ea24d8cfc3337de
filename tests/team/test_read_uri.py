"""Team mode with a read URI: run pages come from the tracking server's PostgreSQL database by
SQL, while the tracking server (MLflow's basic-auth app) still decides who reads which
experiment. A real ``mlflow server --app-name basic-auth`` on a fresh PostgreSQL database."""

from __future__ import annotations

import json

import pytest
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient
from pg_database import connect_admin, fresh_database

# pytest-jupyter's fixtures (jp_fetch ...) for the sidebar's API over the team server
from pytest_jupyter.jupyter_server import *  # noqa: F403

from jupyter_mlops.core.errors import PermissionDenied
from jupyter_mlops.core.runs import postgres_fast
from jupyter_mlops.core.runs.fast_path import fast_source
from jupyter_mlops.core.runs.summaries import query_runs, run_keys, summary_from_run
from jupyter_mlops.core.team.server import TeamServer

pytestmark = [pytest.mark.team, pytest.mark.slow]

ADMIN_PASSWORD = "admin-Pa55-word-for-tests"


def _as(monkeypatch: pytest.MonkeyPatch, user: str, password: str) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)


def _our_connections(uri: str) -> int:
    con = connect_admin(uri)
    with con.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'jupyter-mlops' "
            "AND datname = current_database()"
        )
        count = cur.fetchone()[0]
    con.close()
    return count


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    """(server, database URI, open experiment, secret experiment): bob may not read secret."""
    tmp_path = tmp_path_factory.mktemp("auth-server")
    with fresh_database("readuri") as db, pytest.MonkeyPatch.context() as monkeypatch:
        ini = tmp_path / "auth.ini"
        ini.write_text(
            "[mlflow]\ndefault_permission = READ\n"
            f"database_uri = sqlite:///{tmp_path / 'auth.db'}\nadmin_username = admin\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        )
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "120")  # a loaded CI box: not a test
        monkeypatch.setenv("MLFLOW_AUTH_CONFIG_PATH", str(ini))
        monkeypatch.setenv("MLFLOW_AUTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
        monkeypatch.setenv("MLFLOW_FLASK_SERVER_SECRET_KEY", "read-uri-test-secret")
        server = TeamServer(db, str(tmp_path / "artifacts"), app_name="basic-auth")
        server.log_path = tmp_path / "server.log"
        server.start()
        try:
            from mlflow.server import get_app_client

            _as(monkeypatch, "admin", ADMIN_PASSWORD)
            auth = get_app_client("basic-auth", tracking_uri=server.url)
            for user in ("alice", "bob"):
                auth.create_user(user, f"{user}-Pa55-word-for-tests")
            client = MlflowClient(server.url)
            open_exp = client.create_experiment("open")
            secret = client.create_experiment("secret")
            for exp in (open_exp, secret):
                for i in range(6):
                    rid = client.create_run(exp, start_time=10 + i % 2, run_name=f"r{i}").info
                    metrics = [Metric("acc", i / 10, 0, 0)] if i % 3 else []
                    client.log_batch(rid.run_id, metrics=metrics, params=[Param("i", str(i))])
            auth.grant_user_permission("bob", "experiment", secret, "DENY")
            yield server, db, open_exp, secret
        finally:
            server.stop()
            postgres_fast.close_pools()


def test_pages_come_by_sql_and_equal_the_servers_search(auth_server, monkeypatch):
    server, db, open_exp, secret = auth_server
    _as(monkeypatch, "alice", "alice-Pa55-word-for-tests")
    source = fast_source(server.url, db)
    assert source is not None and source.via_read_uri and source.dialect == "postgresql"
    for exp in (open_exp, secret):  # alice may read both (the default READ)
        page = query_runs(server.url, [exp], order_by="metrics.acc DESC", limit=10, read_uri=db)
        served = MlflowClient(server.url).search_runs([exp], order_by=["metrics.acc DESC"])
        assert [r.to_dict() for r in page.runs] == [summary_from_run(r).to_dict() for r in served]
        assert page.total == 6
    assert _our_connections(db) >= 1  # the page came from the database, not the server
    assert run_keys(server.url, [open_exp], read_uri=db) == {"metrics": ["acc"], "params": ["i"]}


def test_an_experiment_the_user_may_not_read_is_refused_in_one_line(auth_server, monkeypatch):
    server, db, open_exp, secret = auth_server
    _as(monkeypatch, "bob", "bob-Pa55-word-for-tests")
    assert query_runs(server.url, [open_exp], limit=10, read_uri=db).total == 6
    for call in (
        lambda: query_runs(server.url, [secret], limit=10, read_uri=db),
        lambda: run_keys(server.url, [secret], read_uri=db),
        lambda: query_runs(server.url, [open_exp, secret], limit=10, read_uri=db),
    ):
        with pytest.raises(PermissionDenied) as info:
            call()
        assert str(info.value) == f"permission denied: bob lacks READ on experiment {secret}"


def test_a_read_uri_of_another_store_is_not_trusted(auth_server, monkeypatch, tmp_path):
    """The read URI names a database whose experiment of that id is another one: MLflow's
    search answers (equal to the server's), nothing is read from the wrong store."""
    server, _, open_exp, _ = auth_server
    _as(monkeypatch, "alice", "alice-Pa55-word-for-tests")
    with fresh_database("readuri_other") as other:
        client = MlflowClient(other)
        assert client.create_experiment("elsewhere") == open_exp  # same id, other experiment
        client.create_run(open_exp)
        page = query_runs(server.url, [open_exp], limit=10, read_uri=other)
        assert page.total == 6
        served = MlflowClient(server.url).search_runs([open_exp])
        assert [r.run_id for r in page.runs] == [r.info.run_id for r in served]


@pytest.fixture
def jp_server_config(auth_server, monkeypatch):
    """The sidebar's Jupyter server as bob: the team server for MLflow, the read URI for pages."""
    server, db, _, _ = auth_server
    _as(monkeypatch, "bob", "bob-Pa55-word-for-tests")
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}},
        "JupyterMlops": {"tracking_uri": server.url, "read_uri": db},
    }


def test_the_sidebar_api_pages_by_sql_and_keeps_mlflows_permissions(
    jp_fetch, jp_asyncio_loop, auth_server
):
    from tornado.httpclient import HTTPClientError

    def fetch(*parts: str, **params: str):
        return jp_asyncio_loop.run_until_complete(jp_fetch(*parts, params=params or None))

    server, _, open_exp, secret = auth_server
    api = f"jupyter-mlops/api/experiments/{open_exp}/runs"
    params = {"limit": "10", "order_by": "metrics.acc DESC"}
    page = json.loads(fetch(api, **params).body)
    served = MlflowClient(server.url).search_runs([open_exp], order_by=["metrics.acc DESC"])
    assert [r["run_id"] for r in page["runs"]] == [r.info.run_id for r in served]
    assert page["total"] == 6
    for path in (f"experiments/{secret}/runs", f"experiments/{secret}/keys"):
        with pytest.raises(HTTPClientError) as info:
            fetch("jupyter-mlops/api", *path.split("/"))
        body = json.loads(info.value.response.body)
        assert info.value.code >= 400 and "\n" not in body["error"]
        assert "runs" not in body
