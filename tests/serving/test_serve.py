"""serve(): MLflow's scoring protocol over a real child process, with metrics and stats."""

from __future__ import annotations

import urllib.request

import mlflow
import pytest

from jupyter_mlops.core.serving.server import serve, servers
from tests.serving.conftest import post, split

pytestmark = pytest.mark.slow


def test_predictions_match_pyfunc_in_every_input_format(registry):
    # Given the champion (v1) served from the registry
    with serve("models:/clf@champion") as server:
        expected = mlflow.pyfunc.load_model("models:/clf/1").predict(registry.sample).tolist()
        records = registry.sample.to_dict(orient="records")
        # When the same rows arrive as dataframe_split, dataframe_records and inputs
        for body in (
            split(registry.sample),
            {"dataframe_records": records},
            {"inputs": records},
        ):
            status, data, headers = post(server.url + "/invocations", body)
            # Then every answer equals pyfunc's own predict and names the version
            assert status == 200, data
            assert data["predictions"] == expected
            assert headers["x-jupyter-mlops-model-version"] == "1"
        # And MLflow's own /ping and /version answer
        with urllib.request.urlopen(server.url + "/ping") as resp:
            assert resp.status == 200
        with urllib.request.urlopen(server.url + "/version") as resp:
            assert resp.read().decode() == mlflow.__version__
        # And stats count the three requests
        stats = server.stats()
        assert (stats["requests"], stats["errors"], stats["version"]) == (3, 0, "1")
        assert stats["p50_ms"] > 0 and stats["p99_ms"] >= stats["p50_ms"]
        assert stats["shadow_agreement"] is None
        assert server in servers()
    assert not server.running and server not in servers()


def test_metrics_endpoint_speaks_prometheus(registry):
    from prometheus_client.parser import text_string_to_metric_families

    with serve("models:/clf/2") as server:
        post(server.url + "/invocations", split(registry.sample))
        post(server.url + "/invocations", {"dataframe_split": {"columns": ["nope"], "data": [[1]]}})
        with urllib.request.urlopen(server.url + "/metrics") as resp:
            text = resp.read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    requests = {
        (s.labels["version"], s.labels["status"]): s.value
        for s in families["jupyter_mlops_requests"].samples
        if s.name == "jupyter_mlops_requests_total"
    }
    assert requests == {("2", "200"): 1.0, ("2", "400"): 1.0}
    counts = [
        s
        for s in families["jupyter_mlops_request_duration_seconds"].samples
        if s.name.endswith("_count")
    ]
    assert [(s.labels["model"], s.value) for s in counts] == [("clf", 2.0)]
    rows = [
        s for s in families["jupyter_mlops_rows_predicted"].samples if s.name.endswith("_total")
    ]
    assert rows[0].value == len(registry.sample)
    assert "jupyter_mlops_requests_in_flight" in families
