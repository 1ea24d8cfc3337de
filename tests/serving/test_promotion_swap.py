"""promote() swaps local servers before it returns; polling still follows promotions elsewhere."""

from __future__ import annotations

import json
import os
import stat
import threading
import time

import mlflow
import pytest

from jupyter_mlops.core.models.promotion import promote
from jupyter_mlops.core.serving.control import CONTROL_PATH
from jupyter_mlops.core.serving.replay import Client, payloads
from jupyter_mlops.core.serving.runtime import running_servers, serving_dir
from jupyter_mlops.core.serving.server import serve, servers
from tests.serving.conftest import post, split

pytestmark = pytest.mark.slow
NEVER_POLL = 3600.0  # polling cannot be what swaps in these tests


def test_promote_swaps_the_served_version_before_it_returns_under_load(registry):
    body = payloads(registry.sample, batch_rows=2)[0]
    seen: list[tuple[float, float, int, str | None]] = []
    stop = threading.Event()

    def load(server) -> None:
        client = Client(server.url)
        while not stop.is_set():
            t0 = time.time()
            status, _, version = client.post(body)
            seen.append((t0, time.time(), status, version))
        client.close()

    # Given the champion (v1) served under load from 4 clients, with polling out of the picture
    with serve("models:/clf@champion", poll_interval=NEVER_POLL) as server:
        clients = [threading.Thread(target=load, args=(server,)) for _ in range(4)]
        for c in clients:
            c.start()
        time.sleep(0.5)
        # When v2 is promoted to champion through our API
        began = time.time()
        entry = promote("clf", 2, "champion", tracking_uri=registry.uri)
        returned = time.time()
        # Then the server already serves v2 when promote() returns, with nothing to report
        assert server.stats()["version"] == "2"
        assert entry.serving == []
        time.sleep(0.5)
        stop.set()
        for c in clients:
            c.join()
        timeline = server.stats()["versions"]
    # And no request failed; every request started after the promotion got v2, before it v1
    assert {s for _, _, s, _ in seen} == {200}
    assert {v for t0, _, _, v in seen if t0 > returned} == {"2"}
    assert {v for t0, _, _, v in seen if t0 < began} == {"1"}
    # And the swap (and the hold of new requests around the registry write) lay inside promote()
    swap = timeline[-1]
    assert swap["version"] == "2"
    assert began <= swap["held_from"] <= swap["since"] <= returned
    # And no v2 answer came back before the swap, no v1 answer started after the hold began
    assert all(t1 >= swap["since"] for _, t1, _, v in seen if v == "2")
    assert all(t0 <= swap["held_from"] for t0, _, _, v in seen if v == "1")


def test_the_shadow_swaps_when_its_alias_moves(registry):
    # Given the champion (v1) shadowed by the challenger (v2: flipped labels), polling off
    with serve(
        "models:/clf@champion", shadow="models:/clf@challenger", poll_interval=NEVER_POLL
    ) as server:
        assert server.stats()["shadow_version"] == "2"
        # When v1 becomes the challenger through promote()
        entry = promote("clf", 1, "challenger", tracking_uri=registry.uri)
        # Then the shadow already compares v1 and the champion is untouched
        stats = server.stats()
        assert (stats["version"], stats["shadow_version"], entry.serving) == ("1", "1", [])
        for _ in range(3):
            assert post(server.url + "/invocations", split(registry.sample))[0] == 200
        deadline = time.monotonic() + 15
        while server.stats()["shadow"]["requests"] < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.stats()["shadow_agreement"] == 1.0


def test_polling_follows_a_promotion_made_outside_our_api(registry):
    # Given champion and shadow aliases followed by polling every 0.3 s
    with serve("models:/clf@champion", shadow="models:/clf@challenger", poll_interval=0.3) as s:
        # When another tool (MLflow's UI, another machine) moves both aliases in the registry
        client = mlflow.MlflowClient(registry.uri)
        client.set_registered_model_alias("clf", "champion", "2")
        client.set_registered_model_alias("clf", "challenger", "1")
        # Then the server swaps both within seconds
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            stats = s.stats()
            if (stats["version"], stats["shadow_version"]) == ("2", "1"):
                break
            time.sleep(0.1)
        assert (stats["version"], stats["shadow_version"]) == ("2", "1")
        _, data, _ = post(s.url + "/invocations", split(registry.sample))
        assert data["predictions"] == registry.expected["2"]


def test_a_server_that_cannot_load_the_new_version_is_one_line(registry):
    # Given the champion served; v4's model code raises when loaded
    with serve("models:/clf@champion", poll_interval=NEVER_POLL) as server:
        # When v4 is promoted
        entry = promote("clf", 4, "champion", tracking_uri=registry.uri)
        # Then the promotion stands, one line names the server, and v1 keeps answering
        assert mlflow.MlflowClient(registry.uri).get_model_version_by_alias("clf", "champion")
        assert len(entry.serving) == 1
        assert f"{server.url} (pid {server.pid}) did not swap to v4" in entry.serving[0]
        assert "\n" not in entry.serving[0]
        status, _, headers = post(server.url + "/invocations", split(registry.sample))
        assert status == 200 and headers["x-jupyter-mlops-model-version"] == "1"


def test_the_control_route_needs_the_private_token(registry):
    with serve("models:/clf@champion", poll_interval=NEVER_POLL) as server:
        # The runtime file holding the token is the user's alone
        folder = serving_dir()
        path = folder / f"{server.pid}.json"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
        token = running_servers()[0]["control_token"]
        assert len(token) >= 32
        # and what servers() and the Models tab list leaves it out
        assert all("control_token" not in info for info in servers(everywhere=True))
        request = {"action": "hold", "model": "clf", "alias": "champion", "version": "2"}
        # Without the token, or with another, the route refuses with one JSON line
        for header in ({}, {"Authorization": "Bearer " + "x" * len(token)}):
            status, data, _ = _post(server.url + CONTROL_PATH, request, header)
            assert (status, data["status"]) == (401, 401) and "token" in data["error"]
        # Nonsense with the token is a 400, and scoring was never held
        good = {"Authorization": f"Bearer {token}"}
        status, data, _ = _post(server.url + CONTROL_PATH, {"action": "explode"}, good)
        assert status == 400 and "action" in data["error"]
        assert post(server.url + "/invocations", split(registry.sample))[0] == 200


def _post(url: str, payload: dict, headers: dict) -> tuple[int, dict, dict]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        url, json.dumps(payload).encode(), {"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)
