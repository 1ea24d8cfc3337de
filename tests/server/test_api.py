"""The sidebar's REST API over a real sqlite store, through a real jupyter-server (jp_fetch)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from tornado.httpclient import HTTPClientError

from tests.server.conftest import TRACKED_SOURCE, XSS, FilledStore

API = "jupyter-mlops/api"


async def get_json(jp_fetch, *parts: str, **params: str) -> dict:
    """GET an API path, return the decoded JSON body."""
    response = await jp_fetch(API, *parts, params=params or None)
    assert response.headers["Content-Type"].startswith("application/json")
    return json.loads(response.body)


async def error_of(jp_fetch, *parts: str, method: str = "GET", body: str | None = None, **params):
    """Status and decoded JSON body of a request expected to fail."""
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch(API, *parts, params=params or None, method=method, body=body)
    payload = json.loads(info.value.response.body)
    return info.value.code, payload


async def test_experiments_lists_the_store(jp_fetch, filled_store: FilledStore) -> None:
    # Given a store with one experiment of runs; When the sidebar asks for experiments
    data = await get_json(jp_fetch, "experiments")
    # Then it is there by id and name
    names = {e["experiment_id"]: e["name"] for e in data["experiments"]}
    assert names[filled_store.experiment_id] == "sidebar-exp"


async def test_runs_page_ordered_by_metric(jp_fetch, filled_store: FilledStore) -> None:
    page = await get_json(
        jp_fetch,
        "experiments",
        filled_store.experiment_id,
        "runs",
        order_by="metrics.accuracy DESC",
        limit="2",
    )
    assert page["total"] == 4
    assert [r["run_id"] for r in page["runs"]] == [filled_store.run_ids[2], filled_store.run_ids[1]]
    assert page["runs"][0]["metrics"]["accuracy"] == pytest.approx(0.9)
    keys = await get_json(jp_fetch, "experiments", filled_store.experiment_id, "keys")
    assert keys["metrics"] == ["accuracy", "loss"] and keys["params"] == ["learning_rate", "note"]
    assert keys["primary_metric"] == "accuracy"
    second = await get_json(
        jp_fetch,
        "experiments",
        filled_store.experiment_id,
        "runs",
        order_by="metrics.accuracy DESC",
        limit="2",
        offset="2",
    )
    assert [r["run_id"] for r in second["runs"]] == [
        filled_store.run_ids[0],
        filled_store.xss_run_id,
    ]


async def test_runs_filter_string(jp_fetch, filled_store: FilledStore) -> None:
    page = await get_json(
        jp_fetch,
        "experiments",
        filled_store.experiment_id,
        "runs",
        filter="params.learning_rate = '0.01'",
    )
    assert [r["run_id"] for r in page["runs"]] == [filled_store.run_ids[1]]
    assert page["total"] == 1


async def test_new_runs_show_up_on_the_next_request(jp_fetch, filled_store: FilledStore) -> None:
    from mlflow.tracking import MlflowClient

    before = await get_json(jp_fetch, "experiments", filled_store.experiment_id, "runs")
    client = MlflowClient(tracking_uri=filled_store.uri)
    run = client.create_run(filled_store.experiment_id, run_name="late")
    client.log_metric(run.info.run_id, "accuracy", 0.99)
    after = await get_json(
        jp_fetch,
        "experiments",
        filled_store.experiment_id,
        "runs",
        order_by="metrics.accuracy DESC",
    )
    assert after["total"] == before["total"] + 1
    assert after["runs"][0]["run_id"] == run.info.run_id


async def test_one_run_has_params_metrics_tags_and_artifacts(
    jp_fetch, filled_store: FilledStore
) -> None:
    run_id = filled_store.run_ids[0]
    run = await get_json(jp_fetch, "runs", run_id)
    assert run["run_id"] == run_id and run["run_name"] == "run-0"
    assert run["params"] == {"learning_rate": "0.1"}
    assert run["metrics"]["loss"] == pytest.approx(0.2)
    assert run["tags"]["mlflow.runName"] == "run-0"
    paths = {a["path"]: a["is_dir"] for a in run["artifacts"]}
    assert paths["cell/source.py"] is False and paths["a/b/c.txt"] is False
    assert paths["a"] is True and "figures/0.png" in paths


async def test_tracked_run_shows_its_cell_source_and_tags(jp_fetch, filled_store) -> None:
    # Given a run made by track() (the %%track twin)
    run = await get_json(jp_fetch, "runs", filled_store.tracked_run_id)
    assert run["run_name"] == "tracked"
    assert run["tags"]["mlflow.source.type"] == "NOTEBOOK"
    assert "cell/source.py" in {a["path"] for a in run["artifacts"]}
    source = await jp_fetch(
        API, "runs", filled_store.tracked_run_id, "artifact", params={"path": "cell/source.py"}
    )
    assert source.body.decode() == TRACKED_SOURCE


async def test_metric_history_in_step_order(jp_fetch, filled_store: FilledStore) -> None:
    data = await get_json(jp_fetch, "runs", filled_store.run_ids[0], "metric-history", key="loss")
    assert [p["step"] for p in data["points"]] == [0, 1, 2, 3, 4]
    assert data["points"][-1]["value"] == pytest.approx(0.2)


async def test_text_and_image_artifacts(jp_fetch, filled_store: FilledStore) -> None:
    run_id = filled_store.run_ids[1]
    text = await jp_fetch(API, "runs", run_id, "artifact", params={"path": "cell/source.py"})
    assert text.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert text.headers["X-Content-Type-Options"] == "nosniff"
    assert text.body.decode() == "learning_rate = 0.01\n"
    image = await jp_fetch(
        API, "runs", filled_store.run_ids[0], "artifact", params={"path": "figures/0.png"}
    )
    assert image.headers["Content-Type"] == "image/png"
    assert image.body.startswith(b"\x89PNG")


async def test_binary_artifact_is_a_sandboxed_download(jp_fetch, filled_store) -> None:
    response = await jp_fetch(
        API, "runs", filled_store.run_ids[0], "artifact", params={"path": "blob.bin"}
    )
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"] == "attachment"
    assert response.headers["Content-Security-Policy"] == "sandbox"
    assert response.body == b"\xff\xfe\x00\x01" * 10


@pytest.mark.parametrize(
    "path",
    ["../../secret.txt", "/etc/passwd", "a/../../x", "a\\..\\x", "./cell/source.py", "a//b", ""],
)
async def test_artifact_traversal_is_refused(jp_fetch, filled_store, path: str) -> None:
    code, body = await error_of(jp_fetch, "runs", filled_store.run_ids[0], "artifact", path=path)
    assert code == 400
    assert body["status"] == 400 and body["error"]
    assert "not for the browser" not in json.dumps(body)


async def test_symlink_escape_is_refused(jp_fetch, filled_store: FilledStore) -> None:
    # Given a symlink inside the run's artifacts that points at a file outside them
    code, body = await error_of(
        jp_fetch, "runs", filled_store.run_ids[0], "artifact", path="escape.txt"
    )
    # Then the file outside is not served
    assert code == 400 and "leaves" in body["error"]


async def test_unknown_ids_are_404_json(jp_fetch, filled_store: FilledStore) -> None:
    missing = "0" * 32
    for parts in (
        ("runs", missing),
        ("experiments", "987654", "runs"),
        ("experiments", "987654", "keys"),
    ):
        code, body = await error_of(jp_fetch, *parts)
        assert code == 404, parts
        assert body["error"]
    code, body = await error_of(
        jp_fetch, "runs", filled_store.run_ids[0], "artifact", path="nope.txt"
    )
    assert code == 404 and "nope.txt" in body["error"]
    code, body = await error_of(
        jp_fetch, "runs", filled_store.run_ids[0], "metric-history", key="nope"
    )
    assert code == 404
    code, body = await error_of(jp_fetch, "model", name="no-such-model")
    assert code == 404 and "no-such-model" in body["error"]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"limit": "100000"}, "limit"),
        ({"order_by": "metrics.accuracy SIDEWAYS"}, "order_by"),
        ({"filter": "params.x === 'unterminated"}, "filter"),
    ],
)
async def test_bad_run_query_params_are_400(jp_fetch, filled_store, params, fragment) -> None:
    code, body = await error_of(
        jp_fetch, "experiments", filled_store.experiment_id, "runs", **params
    )
    assert code == 400
    assert fragment in body["error"]


async def test_malformed_ids_are_400(jp_fetch) -> None:
    code, body = await error_of(jp_fetch, "runs", quote("a b;c", safe=""))
    assert code == 400 and "run id" in body["error"]


async def test_xss_names_come_back_as_plain_json_strings(jp_fetch, filled_store) -> None:
    run = await get_json(jp_fetch, "runs", filled_store.xss_run_id)
    assert run["run_name"] == XSS
    assert run["params"] == {"note": XSS}
    names = [e["name"] for e in (await get_json(jp_fetch, "experiments"))["experiments"]]
    assert XSS in names


async def test_status_redacts_passwords(jp_fetch, filled_store) -> None:
    from jupyter_mlops.core.store import redact_uri as redact

    data = await get_json(jp_fetch, "status")
    assert data["tracking_uri"] == filled_store.uri
    assert isinstance(data["ready"], bool)
    assert redact("postgresql://me:s3cret@db:5432/ml") == "postgresql://me:***@db:5432/ml"
