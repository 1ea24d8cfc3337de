"""Malformed and hostile requests (issue 18 §5): each answers a 4xx JSON line, never a 5xx,
never SQL, a server path or a traceback; bad artifact links never hide a run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_mlops.core.runs.summaries import MAX_ORDER_CLAUSES
from jupyter_mlops.server.base import MlopsHandler
from jupyter_mlops.server.routes import API_PREFIX, all_routes
from tests.server.conftest import FilledStore

API = API_PREFIX


def assert_clean(body: bytes, store: FilledStore) -> dict:
    """The body is our JSON error and leaks nothing of the server."""
    text = body.decode("utf-8", "replace")
    for leak in ("Traceback", "SELECT", str(store.artifacts), store.uri, os.path.expanduser("~")):
        assert leak not in text, leak
    payload = json.loads(text)
    assert payload["error"] and "\n" not in payload["error"]
    return payload


async def raw_status(http_server_client, jp_base_url, jp_serverapp, query: str, path: str):
    """GET ``path?query`` with the query sent byte-exact (percent-escapes untouched)."""
    token = jp_serverapp.identity_provider.token
    url = f"{jp_base_url}{API}/{path}?{query}"
    response = await http_server_client.fetch(
        url, headers={"Authorization": f"token {token}"}, raise_error=False
    )
    return response.code, response.body


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("runs/{run}/artifact", "path=%ff"),
        ("experiments/{exp}/runs", "limit=%ff"),
        ("experiments/{exp}/runs", "filter=%ff"),
        ("experiments/{exp}/runs", "order_by=%ff%fe"),
        ("model/compare", "name=%ff&version=1"),
        ("model", "name=%c3%28"),
        ("runs/{run}/metric-history", "key=%80"),
        ("runs/%ff", ""),
    ],
)
async def test_non_utf8_query_is_a_400(
    http_server_client, jp_base_url, jp_serverapp, filled_store: FilledStore, path, query
) -> None:
    path = path.format(run=filled_store.run_ids[0], exp=filled_store.experiment_id)
    code, body = await raw_status(http_server_client, jp_base_url, jp_serverapp, query, path)
    assert code == 400, body
    assert_clean(body, filled_store)


@pytest.mark.parametrize(
    ("parts", "params", "fragment"),
    [
        (("experiments", "9" * 20, "runs"), {}, "out of range"),
        (("experiments", "9" * 20, "keys"), {}, "out of range"),
        (
            ("experiments", "{exp}", "runs"),
            {"filter": "attributes.start_time > " + "1" + "0" * 23},
            "64-bit",
        ),
        (("experiments", "{exp}", "runs"), {"limit": "9" * 30}, "limit"),
        (("model", "compare"), {"name": "sentiment-model", "version": "9" * 25}, "version"),
    ],
)
async def test_numbers_out_of_range_are_a_400(
    jp_fetch, filled_store: FilledStore, parts, params, fragment
) -> None:
    parts = tuple(p.format(exp=filled_store.experiment_id) for p in parts)
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch(API, *parts, params=params)
    assert info.value.code == 400
    assert fragment in assert_clean(info.value.response.body, filled_store)["error"]


async def test_too_many_order_clauses_name_the_limit(
    http_server_client, jp_base_url, jp_serverapp, filled_store
) -> None:
    # Given 70 order-by clauses (each a join); Then a 400 that names the limit, no SQL
    query = "&".join(f"order_by=metrics.m{i}+DESC" for i in range(70))
    path = f"experiments/{filled_store.experiment_id}/runs"
    code, body = await raw_status(http_server_client, jp_base_url, jp_serverapp, query, path)
    assert code == 400
    error = assert_clean(body, filled_store)["error"]
    assert str(MAX_ORDER_CLAUSES) in error and "MAX_ORDER_CLAUSES" in error


def _run_with_artifacts(store: FilledStore) -> tuple[str, Path]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=store.uri)
    run = client.create_run(store.experiment_id, run_name="links")
    client.set_terminated(run.info.run_id)
    folder = store.artifacts / run.info.run_id / "artifacts"
    folder.mkdir(parents=True)
    return run.info.run_id, folder


async def test_bad_links_are_listed_as_skipped_and_the_run_still_shows(
    jp_fetch, filled_store: FilledStore, tmp_path: Path
) -> None:
    # Given a run whose artifacts hold a dangling link and a folder link leaving the run
    run_id, folder = _run_with_artifacts(filled_store)
    (folder / "ok.txt").write_text("fine\n")
    os.symlink(folder / "gone.txt", folder / "dangling.txt")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not for the browser\n")
    os.symlink(outside, folder / "elsewhere")
    # When the sidebar asks for the run
    response = await jp_fetch(API, "runs", run_id)
    detail = json.loads(response.body)
    # Then the run shows, the good file listed, the bad links listed as skipped, not followed
    entries = {e["path"]: e for e in detail["artifacts"]}
    assert entries["ok.txt"]["size"] == 5 and "skipped" not in entries["ok.txt"]
    assert entries["dangling.txt"]["skipped"] == "a link to nothing"
    assert entries["elsewhere"]["skipped"] == "a link out of the run's artifacts"
    assert "elsewhere/secret.txt" not in entries
    for path, status in (("dangling.txt", 404), ("elsewhere/secret.txt", 400)):
        with pytest.raises(HTTPClientError) as info:
            await jp_fetch(API, "runs", run_id, "artifact", params={"path": path})
        assert info.value.code == status
        assert_clean(info.value.response.body, filled_store)


async def test_images_only_by_their_bytes_and_sandboxed(jp_fetch, filled_store) -> None:
    # Given a ".png" that holds HTML and an ".svg" with a script
    run_id, folder = _run_with_artifacts(filled_store)
    (folder / "fake.png").write_text("<html><script>alert(1)</script></html>")
    (folder / "x.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>')
    for path in ("fake.png", "x.svg"):
        response = await jp_fetch(API, "runs", run_id, "artifact", params={"path": path})
        # Then both are plain text in a sandbox, never an image nor markup
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert response.headers["Content-Security-Policy"] == "sandbox"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    real = await jp_fetch(
        API, "runs", filled_store.run_ids[0], "artifact", params={"path": "figures/0.png"}
    )
    assert real.headers["Content-Type"] == "image/png"
    assert real.headers["Content-Security-Policy"] == "sandbox"


async def test_store_errors_keep_sql_out_of_the_body(jp_fetch, filled_store) -> None:
    # A filter MLflow's parser refuses: the reply is the parser's line, no SQL
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch(
            API, "experiments", filled_store.experiment_id, "runs", params={"filter": "x ="}
        )
    assert info.value.code == 400
    assert_clean(info.value.response.body, filled_store)


def _app_routes(app) -> list[tuple[str, type]]:
    """Every (pattern, handler class) the running app serves, nested routers included."""
    found, pending = [], [app.default_router, app.wildcard_router]
    while pending:
        router = pending.pop()
        for rule in getattr(router, "rules", []):
            target = rule.target
            if hasattr(target, "rules"):
                pending.append(target)
            elif isinstance(target, type):
                regex = getattr(rule.matcher, "regex", None)
                found.append((regex.pattern if regex else "", target))
    return found


def test_the_app_serves_no_unauthenticated_route_of_ours(jp_serverapp) -> None:
    # Given the running app's own handler table (not our list of routes)
    ours = [(p, h) for p, h in _app_routes(jp_serverapp.web_app) if API_PREFIX in p]
    # Then it holds exactly our routes, every one an MlopsHandler with authenticated verbs
    assert len(ours) == len(all_routes())
    for pattern, handler in ours:
        assert issubclass(handler, MlopsHandler), pattern
        verbs = [v for v in ("get", "post", "put", "delete", "patch") if v in vars(handler)]
        assert verbs, pattern
        for verb in verbs:
            method = vars(handler)[verb]
            assert getattr(method, "__wrapped__", None) is not None, (pattern, verb)
