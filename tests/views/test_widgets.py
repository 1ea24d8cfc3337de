"""The widgets without a browser: real stores, traits set and click handlers called."""

from __future__ import annotations

import html
import json
import re
import shutil

import pytest
from mlflow.tracking import MlflowClient

from jupyter_mlops.core.models.promotion import promotion_history
from jupyter_mlops.core.models.registry import register
from jupyter_mlops.widgets.compare import CompareRuns, compare_runs
from jupyter_mlops.widgets.registry import RegistryWidget, registry

PLOTLY = "application/vnd.plotly.v1+json"
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def _runs_db(tmp_path_factory, empty_store_template) -> str:
    """Experiment 'exp': 12 runs with lr, opt; accuracy (3-step history), val_loss; plus one
    metric-less run whose ``opt`` param is hostile HTML. Read-only for the tests below."""
    db = tmp_path_factory.mktemp("widgets") / "mlflow.db"
    shutil.copyfile(empty_store_template, db)
    uri = f"sqlite:///{db}"
    client = MlflowClient(uri)
    exp = client.create_experiment("exp")
    for i in range(12):
        run = client.create_run(exp, run_name=XSS if i == 5 else f"run-{i:02d}")
        rid = run.info.run_id
        client.log_param(rid, "lr", str(0.01 * (i % 4)))
        client.log_param(rid, "opt", "adam" if i % 2 else "sgd")
        for step in range(3):
            client.log_metric(rid, "accuracy", 0.5 + 0.03 * i + 0.01 * step, step=step)
        client.log_metric(rid, "val_loss", 1.0 - 0.05 * i)
        client.set_terminated(rid)
    bad = client.create_run(exp, run_name="bad")
    client.log_param(bad.info.run_id, "opt", XSS)  # keys cannot hold '<'; values can
    return uri


@pytest.fixture
def runs_store(_runs_db, monkeypatch):
    """The shared store, made the default through MLFLOW_TRACKING_URI."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", _runs_db)
    return _runs_db


def _assert_escaped(text: str) -> None:
    assert XSS not in text
    assert "<img" not in text


def test_first_page_sorted_by_primary_metric_with_best_highlighted(runs_store):
    w = compare_runs("exp", page_size=5)
    assert isinstance(w, CompareRuns)
    assert w.primary_metric.value == "accuracy" and w.higher_is_better.value is True
    assert w.order_by == "metrics.`accuracy` DESC"
    assert [r.run_name for r in w.page.runs] == [f"run-{i:02d}" for i in (11, 10, 9, 8, 7)]
    assert w.page.total == 13 and w.best.run_name == "run-11"
    assert "★" in w.rows()[0][0] and w.rows()[1][0] == ""
    assert "best run (highest accuracy): run-11" in w.static_text()


def test_sort_filter_and_paging_controls_requery_the_store(runs_store):
    w = compare_runs("exp", page_size=5)
    w.next_button.click()
    assert w.offset == 5 and w.page.runs[0].run_name == "run-06"
    w.sort_column.value = "params.lr"
    assert w.offset == 0  # a new sort starts at the first page
    w.sort_ascending.value = True
    assert [r.params["lr"] for r in w.page.runs] == sorted(r.params["lr"] for r in w.page.runs)
    w.filter_text.value = "params.opt = 'adam' and metrics.accuracy > 0.7"
    w.apply_filter.click()
    assert w.page.total == 3 and all(r.params["opt"] == "adam" for r in w.page.runs)
    w.filter_text.value = "metrics.accuracy >> 1"
    w.apply_filter.click()
    assert "bad filter" in w.status.value
    w.filter_text.value = ""
    w.apply_filter.click()
    assert w.status.value == "" and w.page.total == 13


def test_lower_is_better_metric_flips_direction_and_best(runs_store):
    w = compare_runs("exp")
    w.primary_metric.value = "val_loss"
    assert w.higher_is_better.value is False
    assert w.order_by == "metrics.`val_loss` ASC" and w.page.runs[0].run_name == "run-11"
    assert w.best.run_name == "run-11"  # val_loss lowest for the last run
    w.higher_is_better.value = True
    assert w.best.run_name == "run-00"


def test_selection_draws_parcoords_histories_and_diff(runs_store):
    w = compare_runs("exp", page_size=4)
    first, second = w.page.runs[0], w.page.runs[1]
    w.run_select.value = (first.run_id,)
    assert [o["data"][PLOTLY]["data"][0]["type"] for o in w.charts.outputs] == [
        "parcoords",
        "scatter",
    ]
    assert "second run" in w.diff.value
    w.next_button.click()  # selection survives paging
    w.run_select.value = (w.page.runs[0].run_id,)
    assert w.selected == [first.run_id, w.page.runs[0].run_id]
    w.select([first.run_id, second.run_id])
    parcoords = w.charts.outputs[0]["data"][PLOTLY]["data"][0]
    assert [d["label"] for d in parcoords["dimensions"]] == ["lr", "opt", "val_loss", "accuracy"]
    adam = [r.run_id for r in w.page.runs if r.params.get("opt") == "adam"]
    w.select(adam)  # 'opt' is the same for all of them: no axis for it
    labels = [d["label"] for d in w.charts.outputs[0]["data"][PLOTLY]["data"][0]["dimensions"]]
    assert "opt" not in labels and labels[-1] == "accuracy"
    w.select([first.run_id, second.run_id])
    history = w.charts.outputs[1]["data"][PLOTLY]["data"]
    assert len(history) == 2 and len(history[0]["x"]) == 3
    assert "param: opt" in w.diff.value and "metric: accuracy" in w.diff.value
    # whole widget state stays small: no plotly.js bundle inside
    assert len(json.dumps(w.charts.get_state())) < 50_000


def test_code_diff_highlights_changed_lines_with_context():
    from jupyter_mlops.widgets._diff import code_diff_html

    a = ["import x", "C = 1.0", *[f"step_{i}()" for i in range(10)], "end = 1"]
    b = ["import x", "C = 0.001", *[f"step_{i}()" for i in range(10)], "end = 2", XSS]
    out = code_diff_html(a, b, XSS, "b")
    rows = re.findall(r"<tr>(.*?)</tr>", out.split("<tbody>")[1])
    changed = [r for r in rows if "#fff4ce" in r]
    assert len(changed) == 2 and "C = 1.0" in changed[0] and "C = 0.001" in changed[0]
    assert "end = 1" in changed[1] and "end = 2" in changed[1]
    added = [r for r in rows if "#e6f4ea" in r]
    assert len(added) == 1 and html.escape(XSS) in added[0]
    assert "step_5()" not in out  # outside the 3 lines of context: folded into a gap
    assert sum("⋯" in r for r in rows) == 1
    _assert_escaped(out)


def test_everything_run_supplied_is_escaped(runs_store):
    w = compare_runs("exp")
    xss_run = next(r for r in w.page.runs if r.run_name == XSS)
    bad_run = next(r for r in w.page.runs if r.run_name == "bad")
    w.select([xss_run.run_id, bad_run.run_id])
    for text in (w.table.value, w.static_html(), w.header.value, w.diff.value):
        _assert_escaped(text)
    assert html.escape(XSS) in w.table.value
    _assert_escaped(json.dumps(w.charts.outputs))
    assert "&lt;img" in json.dumps(w.charts.outputs)


def test_display_bundle_carries_widget_and_static_summary(runs_store):
    bundle = compare_runs("exp")._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "<table" in bundle["text/html"] and "run-11" in bundle["text/plain"]
    _assert_escaped(bundle["text/html"])


def test_run_ids_restrict_the_comparison(runs_store):
    client = MlflowClient(runs_store)
    ids = [
        r.info.run_id
        for r in client.search_runs([client.get_experiment_by_name("exp").experiment_id])
    ][:3]
    w = compare_runs(run_ids=ids)
    assert sorted(r.run_id for r in w.page.runs) == sorted(ids)
    # columns are those of the given runs, not of the whole experiment
    bad = next(r for r in compare_runs("exp").page.runs if r.run_name == "bad")
    only_bad = compare_runs(run_ids=[bad.run_id])
    assert (only_bad.param_keys, only_bad.metric_keys) == (["opt"], [])
    assert "lr" not in only_bad.static_text()
    with pytest.raises(Exception, match="not a run id"):
        compare_runs(run_ids=["x' or 1=1"])


def test_max_runs_caps_paging(runs_store):
    w = compare_runs("exp", max_runs=7, page_size=5)
    w.next_button.click()
    assert len(w.page.runs) == 2 and w.next_button.disabled
    assert "first 7 reachable" in w.static_text()


# --- registry ----------------------------------------------------------------------------
@pytest.fixture
def registered(fresh_model_store):
    s = fresh_model_store
    for run in s.model_runs:  # accuracy 0.80, 0.90, 0.85
        register(run, "clf", tracking_uri=s.uri)
    return s


@pytest.mark.slow
def test_promote_asks_for_confirmation_then_moves_the_alias(registered):
    s = registered
    w = registry("clf", tracking_uri=s.uri)
    assert isinstance(w, RegistryWidget) and w.version.options == ("3", "2", "1")
    assert w.version.value == "3"  # preselected: the newest version
    w.promote_button.click()
    assert w.confirm_box.layout.display == "flex"
    assert "accuracy 0.85 (no current champion)" in w.confirm_html.value
    assert MlflowClient(s.uri).get_registered_model("clf").aliases == {}  # nothing yet
    w.confirm_button.click()
    assert str(MlflowClient(s.uri).get_model_version_by_alias("clf", "champion").version) == "3"
    assert w.confirm_box.layout.display == "none"
    assert "models:/clf@champion" in w.usage.value
    w.version.value = "1"
    w.promote_button.click()
    assert "accuracy 0.8 vs 0.85 (-0.05)" in w.confirm_html.value
    assert "WORSE" in w.confirm_html.value
    w.cancel_button.click()
    assert str(MlflowClient(s.uri).get_model_version_by_alias("clf", "champion").version) == "3"
    w.version.value = "2"
    w.promote_button.click()
    assert "accuracy 0.9 vs 0.85 (+0.05)" in w.confirm_html.value
    assert "WORSE" not in w.confirm_html.value
    w.confirm_button.click()
    assert registry("clf", tracking_uri=s.uri).version.value == "3"  # newest non-champion
    history = promotion_history("clf", s.uri)
    assert [(h.version, h.previous_version) for h in history] == [("3", None), ("2", "3")]
    assert "Promotion history" in w.history_html.value and "Promotion history" in w.static_html()


@pytest.mark.slow
def test_challenger_custom_alias_and_remove(registered):
    s = registered
    w = registry("clf", tracking_uri=s.uri)
    w.version.value = "1"
    w.challenger_button.click()
    w.confirm_button.click()
    w.alias_text.value = "shadow"
    w.alias_button.click()
    w.confirm_button.click()
    assert MlflowClient(s.uri).get_registered_model("clf").aliases == {
        "challenger": "1",
        "shadow": "1",
    } or {
        k: str(v) for k, v in MlflowClient(s.uri).get_registered_model("clf").aliases.items()
    } == {
        "challenger": "1",
        "shadow": "1",
    }
    assert w.remove_alias.options == ("challenger", "shadow")
    w.remove_alias.value = "shadow"
    w.remove_button.click()
    assert "shadow" not in MlflowClient(s.uri).get_registered_model("clf").aliases
    assert [h.action for h in promotion_history("clf", s.uri)] == ["promote", "promote", "demote"]
    w.alias_text.value = "latest"
    w.alias_button.click()
    w.confirm_button.click()
    assert "reserved" in w.status.value


@pytest.mark.slow
def test_register_from_the_widget_and_try_it(fresh_model_store):
    s = fresh_model_store
    w = registry(sample=s.sample, tracking_uri=s.uri)
    assert "no registered models yet" in w.static_text()
    w.run_id_text.value = s.bare_run
    w.name_text.value = "new"
    w.register_button.click()
    assert "has no logged model" in w.status.value
    w.run_id_text.value = s.model_runs[0]
    w.register_button.click()
    assert w.model.value == "new" and w.version.value == "1"
    w.try_button.click()
    assert "cannot load models:/new@champion" in w.try_output.value
    w.promote_button.click()
    w.confirm_button.click()
    w.try_button.click()
    assert "array(" in w.try_output.value


@pytest.mark.slow
def test_registry_escapes_run_names_and_shows_legacy_stage(registered):
    s = registered
    MlflowClient(s.uri).transition_model_version_stage("clf", "2", "Production")
    w = registry("clf", tracking_uri=s.uri)
    assert "stage" in w.columns() and "Production" in w.static_text()
    for text in (w.table.value, w.static_html()):
        _assert_escaped(text)
    assert html.escape(XSS) in w.table.value


def test_current_experiment_without_runs_yet_is_an_empty_table(runs_store, monkeypatch):
    from jupyter_mlops.core import active

    monkeypatch.setattr(active._ACTIVE, "experiment", None)  # no %mlops_experiment this session
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "not-tracked-yet")
    w = compare_runs()
    assert w.page.total == 0 and "runs 0-0 of 0" in w.static_text()
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "exp")
    assert compare_runs().page.total == 13
    monkeypatch.setattr(active._ACTIVE, "experiment", "exp")  # %mlops_experiment wins
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "not-tracked-yet")
    assert compare_runs().page.total == 13
    with pytest.raises(Exception, match="no experiment named 'nope'"):
        compare_runs("nope")


def test_refresh_sees_new_runs_and_new_metric_names(tracking_uri):
    client = MlflowClient(tracking_uri)
    exp = client.create_experiment("live")
    first = client.create_run(exp, run_name="first").info.run_id
    client.log_metric(first, "accuracy", 0.5)
    w = compare_runs("live")
    assert w.page.total == 1 and w.metric_keys == ["accuracy"]
    later = client.create_run(exp, run_name="later").info.run_id
    client.log_metric(later, "accuracy", 0.9)
    client.log_metric(later, "f1", 0.8)
    w.reload_button.click()
    assert w.page.total == 2 and w.best.run_name == "later"
    assert w.metric_keys == ["accuracy", "f1"] and "metrics.f1" in [
        v for _, v in w.sort_column.options
    ]
    assert w.primary_metric.value == "accuracy" and w.order_by == "metrics.`accuracy` DESC"
