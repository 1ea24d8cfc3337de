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
