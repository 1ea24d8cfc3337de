"""Models tab API: versions with aliases, champion comparison, promotion through core.registry."""

from __future__ import annotations

import json

import pytest

from tests.server.conftest import QUOTED_MODEL, FilledStore
from tests.server.test_api import API, error_of, get_json


async def test_models_list_aliases(jp_fetch, filled_store: FilledStore) -> None:
    data = await get_json(jp_fetch, "models")
    [model] = [m for m in data["models"] if m["name"] == filled_store.model]
    assert model["aliases"] == {"champion": "1"}
    assert model["latest_version"] == "2"


async def test_model_versions_newest_first_with_run_metrics(jp_fetch, filled_store) -> None:
    data = await get_json(jp_fetch, "model", name=filled_store.model)
    assert [v["version"] for v in data["versions"]] == ["2", "1"]
    assert data["versions"][1]["aliases"] == ["champion"]
    assert data["versions"][0]["run_id"] == filled_store.run_ids[1]
    assert data["versions"][0]["metrics"]["accuracy"] == pytest.approx(0.85)


async def test_compare_against_champion(jp_fetch, filled_store: FilledStore) -> None:
    data = await get_json(
        jp_fetch, "model/compare", name=filled_store.model, version="2", alias="champion"
    )
    assert data["candidate"]["version"] == "2" and data["current"]["version"] == "1"
    rows = {r["key"]: r for r in data["metrics"]}
    assert rows["accuracy"]["candidate"] == pytest.approx(0.85)
    assert rows["accuracy"]["current"] == pytest.approx(0.8)
    assert rows["accuracy"]["delta"] == pytest.approx(0.05)
    assert data["primary"]["metric"] == "accuracy" and data["primary"]["worse"] is False


async def test_promote_moves_alias_and_records_history(jp_fetch, filled_store) -> None:
    # Given version 1 is champion; When the sidebar promotes version 2
    response = await jp_fetch(
        API,
        "model/promote",
        method="POST",
        body=json.dumps({"name": filled_store.model, "version": "2", "alias": "champion"}),
    )
    data = json.loads(response.body)
    # Then the alias moved, in the store itself, and the history says from which version
    assert data["aliases"]["champion"] == "2"
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=filled_store.uri)
    assert str(client.get_model_version_by_alias(filled_store.model, "champion").version) == "2"
    last = data["history"][-1]
    assert (last["action"], last["version"], last["previous_version"]) == ("promote", "2", "1")
    # And removing the alias goes through demote
    response = await jp_fetch(
        API,
        "model/promote",
        method="POST",
        body=json.dumps({"name": filled_store.model, "alias": "champion", "remove": True}),
    )
    assert "champion" not in json.loads(response.body)["aliases"]
    assert client.get_registered_model(filled_store.model).aliases == {}


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ("not json", 400, "JSON"),
        ("[1, 2]", 400, "object"),
        (json.dumps({"version": "1"}), 400, "name"),
        (json.dumps({"name": "sentiment-model", "version": "x"}), 400, "version"),
        (json.dumps({"name": "sentiment-model", "version": "1", "alias": "a b"}), 400, "alias"),
        (json.dumps({"name": "sentiment-model", "version": "99"}), 404, "99"),
        (json.dumps({"name": "nope", "version": "1"}), 404, "nope"),
        (
            json.dumps({"name": "sentiment-model", "alias": "staging", "remove": True}),
            404,
            "staging",
        ),
    ],
)
async def test_bad_promotions_are_refused(jp_fetch, filled_store, body, status, fragment) -> None:
    code, payload = await error_of(jp_fetch, "model/promote", method="POST", body=body)
    assert code == status
    assert fragment in payload["error"]
    from mlflow.tracking import MlflowClient

    aliases = MlflowClient(tracking_uri=filled_store.uri).get_registered_model("sentiment-model")
    assert {k: str(v) for k, v in aliases.aliases.items()} == {"champion": "1"}  # unchanged


async def test_model_name_with_quotes(jp_fetch, filled_store: FilledStore) -> None:
    # Given a model named with both quote characters; Then its versions, comparison
    # and promotion work like any other
    data = await get_json(jp_fetch, "model", name=QUOTED_MODEL)
    assert [v["version"] for v in data["versions"]] == ["2", "1"]
    assert data["versions"][0]["aliases"] == ["champion"]
    cmp = await get_json(jp_fetch, "model/compare", name=QUOTED_MODEL, version="1")
    assert cmp["current"]["version"] == "2"
    assert cmp["primary"]["metric"] == "accuracy" and cmp["primary"]["worse"] is True
    response = await jp_fetch(
        API,
        "model/promote",
        method="POST",
        body=json.dumps({"name": QUOTED_MODEL, "version": "1", "alias": "champion"}),
    )
    assert json.loads(response.body)["aliases"] == {"champion": "1"}


async def test_compare_bad_params(jp_fetch, filled_store: FilledStore) -> None:
    code, payload = await error_of(jp_fetch, "model/compare", name=filled_store.model, version="x")
    assert code == 400 and "version" in payload["error"]
    code, payload = await error_of(jp_fetch, "model/compare", name=filled_store.model, version="7")
    assert code == 404
