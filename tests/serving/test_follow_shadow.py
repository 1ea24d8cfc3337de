"""Alias following swaps versions under load without a failed request; shadows stay off-path."""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest

from jupyter_mlops.core.models.promotion import promote
from jupyter_mlops.core.serving.replay import Client, payloads
from jupyter_mlops.core.serving.server import serve
from tests.serving.conftest import post, split

pytestmark = pytest.mark.slow


def _wait_version(server, version: str, timeout: float = 10.0) -> float:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if server.stats()["version"] == version:
            return time.monotonic() - began
        time.sleep(0.1)
    raise AssertionError(f"still serving {server.stats()['version']} after {timeout} s")


def test_promotion_is_served_within_seconds_without_a_failed_request(registry):
    body = payloads(registry.sample, batch_rows=4)[0]
    seen: list[tuple[int, str | None, bytes]] = []
    stop = threading.Event()

    def load() -> None:
        client = Client(server.url)
        while not stop.is_set():
            status, data, version = client.post(body)
            seen.append((status, version, data))
        client.close()

    # Given the champion served under continuous load from 4 clients
    with serve("models:/clf@champion", poll_interval=0.5) as server:
        clients = [threading.Thread(target=load) for _ in range(4)]
        for c in clients:
            c.start()
        time.sleep(0.5)
        # When v2, then v1 again, are promoted to champion
        promote("clf", 2, "champion", tracking_uri=registry.uri)
        lag = _wait_version(server, "2")
        time.sleep(0.3)
        promote("clf", 1, "champion", tracking_uri=registry.uri)
        _wait_version(server, "1")
        time.sleep(0.3)
        stop.set()
        for c in clients:
            c.join()
        stats = server.stats()
    # Then each swap landed within 10 s and no request failed or was dropped
    assert lag < 10
    statuses = {s for s, _, _ in seen}
    assert statuses == {200}, statuses
    versions = [v for _, v, _ in seen]
    assert {"1", "2"} <= set(versions)
    # And each answer is what its version predicts
    first_rows = {"1": registry.expected["1"][:4], "2": registry.expected["2"][:4]}
    import json

    for _, version, data in seen[:: max(1, len(seen) // 200)]:
        assert json.loads(data)["predictions"] == first_rows[version]
    # And the stats' version timeline shows both swaps
    assert [v["version"] for v in stats["versions"]] == ["1", "2", "1"]
    assert stats["errors"] == 0 and stats["requests"] == len(seen)


def test_slow_shadow_never_delays_responses_and_agreement_is_measured(registry):
    # Given v1 served with the slow (200 ms) challenger that predicts the same labels
    with serve("models:/clf@champion", shadow="models:/clf/3") as server:
        began = time.perf_counter()
        for _ in range(10):
            status, data, _ = post(server.url + "/invocations", split(registry.sample))
            assert status == 200 and data["predictions"] == registry.expected["1"]
        elapsed = time.perf_counter() - began
        # Then ten responses took far less than the challenger's 10 x 200 ms
        assert elapsed < 1.5, elapsed
        deadline = time.monotonic() + 15
        while server.stats()["shadow"]["requests"] < 10 and time.monotonic() < deadline:
            time.sleep(0.2)
        stats = server.stats()
    # And the shadow saw every request, agreed fully, and its latency is the slow one
    assert stats["shadow_version"] == "3"
    assert stats["shadow"]["requests"] == 10 and stats["shadow_agreement"] == 1.0
    assert stats["shadow"]["p50_ms"] >= 200
    assert stats["p50_ms"] < 200


def test_disagreeing_challenger_alias_and_regression_error(registry):
    with serve("models:/clf@champion", shadow="models:/clf@challenger") as server:
        for _ in range(3):
            post(server.url + "/invocations", split(registry.sample))
        time.sleep(1.0)
        stats = server.stats()
    # v2 is v1 with flipped labels: no row agrees
    assert stats["shadow_version"] == "2" and stats["shadow_agreement"] == 0.0
    assert stats["shadow"]["compared_rows"] == 3 * len(registry.sample)

    frame = registry.sample * 2
    with serve("models:/reg/1", shadow="models:/reg/1") as server:
        post(server.url + "/invocations", split(frame))
        time.sleep(1.0)
        stats = server.stats()
    assert stats["shadow_mae"] == 0.0 and stats["shadow_agreement"] is None


def test_raising_shadow_counts_errors_and_responses_still_succeed(registry):
    # the champion has no signature; the challenger insists on x0..x2 and so raises
    frame = pd.DataFrame(registry.sample.to_numpy(), columns=["a", "b", "c"])
    with serve("models:/reg/1", shadow="models:/clf/1") as server:
        for _ in range(3):
            status, _, _ = post(server.url + "/invocations", split(frame))
            assert status == 200
        time.sleep(1.0)
        stats = server.stats()
    assert stats["errors"] == 0 and stats["shadow"]["errors"] == 3
