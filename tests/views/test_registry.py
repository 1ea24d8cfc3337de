"""core.registry against a real sqlite MLflow registry: aliases, history, comparison, try-it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from jupyter_mlops.core.errors import RegistryError
from jupyter_mlops.core.models.champion import compare_with_champion
from jupyter_mlops.core.models.loader import try_predict
from jupyter_mlops.core.models.promotion import (
    HISTORY_TAG_PREFIX,
    demote,
    promote,
    promotion_history,
)
from jupyter_mlops.core.models.registry import list_models, model_uri, model_versions, register

pytestmark = pytest.mark.slow  # %%track cells and MLflow model logging/loading


def test_register_a_tracked_model_and_list_its_version(fresh_model_store):
    s = fresh_model_store
    version = register(s.model_runs[1], "clf", tracking_uri=s.uri)
    assert (version.name, version.version, version.run_id) == ("clf", "1", s.model_runs[1])
    assert version.metrics["accuracy"] == pytest.approx(0.90)
    assert version.run_name == "<img src=x onerror=alert(1)>"
    assert MlflowClient(s.uri).get_model_version("clf", "1").run_id == s.model_runs[1]
    register(s.model_runs[0], "clf", tracking_uri=s.uri)
    assert [v.version for v in model_versions("clf", s.uri)] == ["2", "1"]


def test_register_a_run_without_model_is_one_clear_error_and_writes_nothing(fresh_model_store):
    s = fresh_model_store
    with pytest.raises(RegistryError, match="has no logged model at 'model/'"):
        register(s.bare_run, "empty", tracking_uri=s.uri)
    with pytest.raises(RegistryError, match="no run with id"):
        register("f" * 32, "empty", tracking_uri=s.uri)
    assert list_models(s.uri) == []


def test_promotions_move_the_alias_and_never_overwrite_history(fresh_model_store):
    s = fresh_model_store
    for run in s.model_runs:
        register(run, "clf", tracking_uri=s.uri)
    client = MlflowClient(s.uri)
    first = promote("clf", 1, tracking_uri=s.uri, user="ana")
    second = promote("clf", "2", tracking_uri=s.uri, user="bo")
    again = promote("clf", "2", tracking_uri=s.uri, user="bo")
    promote("clf", 3, "challenger", tracking_uri=s.uri, user="cy")
    assert str(client.get_model_version_by_alias("clf", "champion").version) == "2"
    assert str(client.get_model_version_by_alias("clf", "challenger").version) == "3"
    history = promotion_history("clf", s.uri)
    assert [(h.alias, h.version, h.previous_version, h.user) for h in history] == [
        ("champion", "1", None, "ana"),
        ("champion", "2", "1", "bo"),
        ("champion", "2", "2", "bo"),
        ("challenger", "3", None, "cy"),
    ]
    assert [h.key for h in history] == sorted({first.key, second.key, again.key, history[3].key})
    tags = client.get_registered_model("clf").tags
    assert json.loads(tags[second.key])["previous_version"] == "1"
    assert all(k.startswith(HISTORY_TAG_PREFIX) for k in (first.key, second.key))
    assert {v.version: v.aliases for v in model_versions("clf", s.uri)} == {
        "3": ["challenger"],
        "2": ["champion"],
        "1": [],
    }


def test_demote_removes_the_alias_and_is_recorded(fresh_model_store):
    s = fresh_model_store
    register(s.model_runs[0], "clf", tracking_uri=s.uri)
    promote("clf", 1, "staging-eu", tracking_uri=s.uri)
    entry = demote("clf", "staging-eu", tracking_uri=s.uri, user="ana")
    assert (entry.action, entry.version, entry.previous_version) == ("demote", None, "1")
    assert MlflowClient(s.uri).get_registered_model("clf").aliases == {}
    assert [h.action for h in promotion_history("clf", s.uri)] == ["promote", "demote"]
    with pytest.raises(RegistryError, match="has no alias 'staging-eu'"):
        demote("clf", "staging-eu", tracking_uri=s.uri)


def test_bad_promotions_are_refused_without_changes(fresh_model_store):
    s = fresh_model_store
    register(s.model_runs[0], "clf", tracking_uri=s.uri)
    with pytest.raises(RegistryError, match="has no version 7"):
        promote("clf", 7, tracking_uri=s.uri)
    with pytest.raises(RegistryError, match="reserved"):
        promote("clf", 1, "latest", tracking_uri=s.uri)
    with pytest.raises(RegistryError, match="no registered model"):
        promotion_history("nope", s.uri)
    assert promotion_history("clf", s.uri) == []


def test_candidate_against_champion(fresh_model_store):
    s = fresh_model_store
    for run in s.model_runs:  # accuracy 0.80, 0.90, 0.85
        register(run, "clf", tracking_uri=s.uri)
    none_yet = compare_with_champion("clf", 1, tracking_uri=s.uri)
    assert none_yet.champion_version is None and not none_yet.worse
    assert none_yet.message == "accuracy 0.8 (no current champion)"
    promote("clf", 3, tracking_uri=s.uri)
    better = compare_with_champion("clf", 2, tracking_uri=s.uri)
    assert better.message == "accuracy 0.9 vs 0.85 (+0.05)" and not better.worse
    worse = compare_with_champion("clf", 1, tracking_uri=s.uri)
    assert worse.worse and worse.delta == pytest.approx(-0.05)
    loss = compare_with_champion("clf", 2, "loss", tracking_uri=s.uri)
    assert not loss.higher_is_better and not loss.worse and loss.delta == pytest.approx(-0.05)
    flipped = compare_with_champion("clf", 2, "loss", higher_is_better=True, tracking_uri=s.uri)
    assert flipped.worse


def test_try_it_loads_the_champion_from_this_store(fresh_model_store, tmp_path):
    import mlflow

    s = fresh_model_store
    for run in s.model_runs:
        register(run, "clf", tracking_uri=s.uri)
    promote("clf", 2, tracking_uri=s.uri)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'elsewhere.db'}")  # not the global store
    try:
        predicted = try_predict("clf", s.sample, tracking_uri=s.uri)
    finally:
        mlflow.set_tracking_uri(None)
    assert [int(v) for v in np.asarray(predicted)] == s.expected
    assert model_uri("clf") == "models:/clf@champion"
    with pytest.raises(RegistryError, match="cannot load models:/clf@challenger"):
        try_predict("clf", s.sample, "challenger", tracking_uri=s.uri)


def test_legacy_stage_is_reported(fresh_model_store):
    s = fresh_model_store
    register(s.model_runs[0], "old", tracking_uri=s.uri)
    MlflowClient(s.uri).transition_model_version_stage("old", "1", "Staging")
    assert model_versions("old", s.uri)[0].stage == "Staging"


@pytest.mark.parametrize("name", ["a'); import os #", 'say "hi"', "both ' and \""])
def test_model_names_with_quotes(fresh_model_store, name):
    s = fresh_model_store
    register(s.model_runs[0], name, tracking_uri=s.uri)
    register(s.model_runs[1], "plain", tracking_uri=s.uri)
    assert [v.version for v in model_versions(name, s.uri)] == ["1"]
    promote(name, 1, tracking_uri=s.uri)
    assert compare_with_champion(name, 1, tracking_uri=s.uri).champion_version == "1"
