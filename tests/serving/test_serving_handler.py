"""The Jupyter server lists the model servers of any kernel on this host (Models tab)."""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_mlops.core.serving.server import serve
from tests.serving.conftest import post, split

pytestmark = pytest.mark.slow
API = "jupyter-mlops/api"


@pytest.fixture
def jp_server_config(registry) -> dict:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}},
        "JupyterMlops": {"tracking_uri": registry.uri},
    }


async def test_serving_lists_live_servers_with_their_version(jp_fetch, registry) -> None:
    response = await jp_fetch(API, "serving")
    assert json.loads(response.body) == {"servers": []}
    with serve("models:/clf@champion", shadow="models:/clf@challenger") as server:
        post(server.url + "/invocations", split(registry.sample))
        response = await jp_fetch(API, "serving", params={"name": "clf"})
        [entry] = json.loads(response.body)["servers"]
        assert (entry["url"], entry["version"], entry["pid"]) == (server.url, "1", server.pid)
        assert entry["model_uri"] == "models:/clf@champion" and entry["shadow_version"] == "2"
        assert entry["requests"] == 1 and entry["errors"] == 0
        other = await jp_fetch(API, "serving", params={"name": "reg"})
        assert json.loads(other.body) == {"servers": []}
    response = await jp_fetch(API, "serving")
    assert json.loads(response.body) == {"servers": []}


async def test_serving_refuses_unauthenticated(jp_serverapp, http_server_client, jp_base_url):
    with pytest.raises(HTTPClientError) as info:
        await http_server_client.fetch(jp_base_url + API + "/serving")
    assert info.value.code == 403


async def test_the_promote_route_returns_the_lines_of_servers_that_could_not_act(
    jp_fetch, registry
) -> None:
    import os
    import signal

    async def move(**body) -> dict:
        response = await jp_fetch(
            API, "model/promote", method="POST", body=json.dumps({"name": "clf", **body})
        )
        return json.loads(response.body)

    with serve("models:/clf@champion", poll_interval=3600.0) as server:
        # Given a healthy server: removing its alias is no note (it was told at once)
        assert (await move(alias="champion", remove=True))["serving_notes"] == []
        assert "models:/clf@champion" in server.stats()["unresolved_aliases"]
        assert (await move(alias="champion", version="1"))["serving_notes"] == []
        # Given the server frozen, removing the alias is one line; so is a version it cannot load
        os.kill(server.pid, signal.SIGSTOP)
        try:
            removed = await move(alias="champion", remove=True)
        finally:
            os.kill(server.pid, signal.SIGCONT)
        assert removed["aliases"] == {"challenger": "2"}
        [line] = removed["serving_notes"]
        assert line.startswith(f"model server {server.url} (pid {server.pid}) was not told")
        promoted = await move(alias="champion", version="4")  # v4 cannot be loaded
        [line] = promoted["serving_notes"]
        assert f"(pid {server.pid}) did not swap to v4: cannot load version 4" in line
