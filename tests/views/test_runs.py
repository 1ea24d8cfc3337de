"""core.runs: pages of runs must equal MLflow's own search_runs on the same sqlite store."""

from __future__ import annotations

import math
import shutil

import pytest
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from jupyter_mlops.core.errors import UsageProblem
from jupyter_mlops.core.runs.search_args import parse_order, parse_simple_order
from jupyter_mlops.core.runs.summaries import (
    find_experiment,
    get_run_summary,
    higher_is_better,
    list_experiments,
    query_runs,
    run_keys,
    summary_from_run,
)

XSS = "<img src=x onerror=alert(1)>"


def _make_runs(client: MlflowClient, experiment_id: str, count: int) -> list[str]:
    """Runs with ties, missing values, NaN, odd names and a deleted run."""
    ids = []
    for i in range(count):
        name = XSS if i == 3 else f"run-{i % 7}"
        run = client.create_run(experiment_id, start_time=1_000 + (i % 5), run_name=name)
        rid = run.info.run_id
        metrics = []
        if i % 6 != 0:  # some runs lack the metric
            acc = math.nan if i == 4 else round((i * 37 % 11) / 10, 2)  # ties
            metrics.append(Metric("accuracy", acc, 0, 0))
        metrics.append(Metric("loss", 1.0 / (i + 1), 0, 0))
        params = [Param("lr", str(0.001 * (i % 4))), Param("opt", "adam" if i % 2 else "SGD")]
        if i % 3 == 0:
            params.append(Param("depth", str(i)))
        tags = [RunTag("team", "a" if i % 2 else "b")]
        client.log_batch(rid, metrics=metrics, params=params, tags=tags)
        status = ["FINISHED", "FAILED", "RUNNING"][i % 3]
        if status != "RUNNING":
            client.set_terminated(rid, status=status, end_time=5_000 + i)
        ids.append(rid)
    client.delete_run(ids[-1])  # deleted runs are never listed
    return ids


def _fill(uri: str) -> tuple[str, list[str]]:
    client = MlflowClient(uri)
    exp = client.create_experiment("cmp")
    other = client.create_experiment("other")
    _make_runs(client, exp, 26)
    _make_runs(client, other, 3)
    return uri, [exp]


@pytest.fixture(scope="module")
def store(tmp_path_factory, empty_store_template) -> tuple[str, list[str]]:
    """One read-only store shared by the comparison tests of this module."""
    db = tmp_path_factory.mktemp("runs") / "mlflow.db"
    shutil.copyfile(empty_store_template, db)
    return _fill(f"sqlite:///{db}")


def _mlflow_ids(uri: str, exps: list[str], filter_string: str | None, order: str | None):
    client = MlflowClient(uri)
    runs, token = [], None
    while True:
        page = client.search_runs(
            exps,
            filter_string=filter_string or "",
            order_by=[order] if order else None,
            max_results=7,
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


ORDERS = [
    None,
    "metrics.accuracy DESC",
    "metrics.accuracy ASC",
    "metrics.loss",
    "params.lr ASC",
    "params.depth DESC",
    "attributes.run_name ASC",
    "start_time ASC",
    "attributes.end_time DESC",
    "tags.team",
    "attributes.status DESC",
]
FILTERS = [
    None,
    "metrics.accuracy > 0.4",
    "metrics.accuracy != 0.5",
    "metrics.accuracy <= 0.2 and params.opt = 'adam'",
    "params.lr = '0.002'",
    "params.depth IS NULL",
    "params.depth IS NOT NULL",
    "attributes.status = 'FINISHED'",
    "attributes.run_name LIKE 'run-1%'",
    "attributes.run_name ILIKE 'RUN-2%'",
    "params.opt LIKE 'sg%'",  # LIKE is case-sensitive in MLflow's sqlite store
    "params.opt ILIKE 'sg%'",
    "tags.team != 'a'",
    "attributes.start_time >= 1003",
    "attributes.end_time < 5010",
]


@pytest.mark.parametrize("order", ORDERS)
def test_order_and_paging_match_mlflow(store, order):
    assert_pages_of_7_match_mlflow(*store, order)


def assert_pages_of_7_match_mlflow(uri: str, exps: list[str], order: str) -> None:
    """Pages of 7 runs of the 25-run store, read by SQL, equal MLflow's search in that order."""
    expected = _mlflow_ids(uri, exps, None, order)
    got = []
    for offset in range(0, 30, 7):
        page = query_runs(uri, exps, order_by=order, offset=offset, limit=7)
        assert page.total == len(expected) == 25
        got.extend(page.runs)
    assert [r.run_id for r in got] == [r.info.run_id for r in expected]


@pytest.mark.parametrize("filter_string", FILTERS)
def test_filters_match_mlflow(store, filter_string):
    uri, exps = store
    expected = _mlflow_ids(uri, exps, filter_string, "metrics.accuracy DESC")
    page = query_runs(
        uri, exps, filter_string=filter_string, order_by="metrics.accuracy DESC", limit=100
    )
    assert [r.run_id for r in page.runs] == [r.info.run_id for r in expected]
    assert page.total == len(expected)
    if filter_string and "LIKE 'sg%'" not in filter_string:
        assert 0 < page.total < 25  # the filter is not trivially empty or full
    if filter_string and filter_string.startswith("params.opt"):  # LIKE case-sensitive, ILIKE not
        assert page.total == (0 if " LIKE" in filter_string else 13)


def test_page_contents_equal_mlflow_run_entities(store):
    uri, exps = store
    expected = {r.info.run_id: summary_from_run(r) for r in _mlflow_ids(uri, exps, None, None)}
    page = query_runs(uri, exps, limit=100)
    for got in page.runs:
        want = expected[got.run_id]
        assert (got.run_name, got.status, got.start_time, got.end_time) == (
            want.run_name,
            want.status,
            want.start_time,
            want.end_time,
        )
        assert got.params == want.params
        assert got.tags == want.tags
        assert got.metrics.keys() == want.metrics.keys()
        for key, value in got.metrics.items():
            assert value == want.metrics[key] or (
                math.isnan(value) and math.isnan(want.metrics[key])
            )
    nan_run = next(r for r in page.runs if math.isnan(r.metrics.get("accuracy", 0)))
    assert nan_run.to_dict()["metrics"]["accuracy"] is None  # JSON has no NaN


def test_new_and_changed_runs_are_seen_at_once(tracking_uri):
    uri = tracking_uri
    exps = [MlflowClient(uri).create_experiment("fresh")]
    _make_runs(MlflowClient(uri), exps[0], 6)  # 5 active runs
    client = MlflowClient(uri)
    first = query_runs(uri, exps, order_by="metrics.accuracy DESC", limit=1).runs[0]
    run = client.create_run(exps[0], run_name="newcomer")
    client.log_metric(run.info.run_id, "accuracy", 1.5)
    page = query_runs(uri, exps, order_by="metrics.accuracy DESC", limit=1)
    assert page.total == 6 and page.runs[0].run_name == "newcomer"
    client.log_metric(first.run_id, "accuracy", 5.0)
    assert query_runs(uri, exps, order_by="metrics.accuracy DESC", limit=1).runs[0].run_id == (
        first.run_id
    )


def test_dataset_filter_falls_back_to_mlflow_and_lists_data_versions(tracking_uri):
    import mlflow
    from mlflow.data.meta_dataset import MetaDataset

    client = MlflowClient(tracking_uri)
    exp = client.create_experiment("data")
    mlflow.set_experiment(experiment_id=exp)
    for digest in ("abc123", "def456"):
        with mlflow.start_run():
            mlflow.log_input(
                MetaDataset(source=_source(), name="train.csv", digest=digest), "training"
            )
    page = query_runs(tracking_uri, [exp], filter_string="datasets.digest = 'abc123'")
    assert page.total == 1
    assert page.runs[0].data_versions[0]["digest"] == "abc123"
    fast = query_runs(tracking_uri, [exp], order_by="start_time ASC")  # sqlite path
    assert [r.data_versions[0]["digest"] for r in fast.runs] == ["abc123", "def456"]
    assert fast.runs[0].data_versions[0]["context"] == "training"


def _source():
    from mlflow.data.http_dataset_source import HTTPDatasetSource

    return HTTPDatasetSource("https://example.invalid/train.csv")


def test_bad_filter_and_order_are_one_line_usage_problems(store):
    uri, exps = store
    with pytest.raises(UsageProblem, match="bad filter"):
        query_runs(uri, exps, filter_string="metrics.accuracy >> 'x'")
    with pytest.raises(UsageProblem, match="bad order_by"):
        query_runs(uri, exps, order_by="bogus.x DESC")
    with pytest.raises(UsageProblem, match="no run with id"):
        get_run_summary(uri, "0" * 32)


def test_non_sqlite_store_uses_mlflow_client(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    client = MlflowClient(uri)
    exp = client.create_experiment("files")
    ids = _make_runs(client, exp, 5)
    page = query_runs(uri, [exp], order_by="metrics.loss ASC", offset=1, limit=2)
    expected = [r.info.run_id for r in client.search_runs([exp], order_by=["metrics.loss ASC"])]
    assert page.total == 4 and [r.run_id for r in page.runs] == expected[1:3]
    assert set(expected) < set(ids)


def test_keys_and_metric_direction(store):
    uri, exps = store
    assert run_keys(uri, exps) == {
        "metrics": ["accuracy", "loss"],
        "params": ["depth", "lr", "opt"],
    }
    assert higher_is_better("accuracy") and higher_is_better("f1")
    assert not higher_is_better("val_loss") and not higher_is_better("test_error")
    assert not higher_is_better("RMSE")


def test_core_views_modules_import_no_front_end_and_no_mlflow():
    import subprocess
    import sys

    code = (
        "import sys, jupyter_mlops.core.runs.summaries, jupyter_mlops.core.models.registry, "
        "jupyter_mlops.core.models.promotion, jupyter_mlops.core.models.champion, "
        "jupyter_mlops.core.runs.sqlite_fast\n"
        "print(sorted(m for m in ('IPython', 'ipywidgets', 'tornado', 'mlflow') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_keys_come_only_from_active_runs_of_the_experiment(tracking_uri):
    client = MlflowClient(tracking_uri)
    a, b = client.create_experiment("a"), client.create_experiment("b")
    for exp, metric, param in ((a, "a_metric", "a_param"), (b, "b_metric", "b_param")):
        rid = client.create_run(exp).info.run_id
        client.log_batch(rid, metrics=[Metric(metric, 1.0, 0, 0)], params=[Param(param, "1")])
    gone = client.create_run(a).info.run_id
    client.log_batch(gone, metrics=[Metric("deleted_metric", 1.0, 0, 0)])
    client.delete_run(gone)
    assert run_keys(tracking_uri, [a]) == {"metrics": ["a_metric"], "params": ["a_param"]}
    assert run_keys(tracking_uri, [a, b])["metrics"] == ["a_metric", "b_metric"]


SIMPLE_ORDERS = [
    "metrics.accuracy DESC",
    "metrics.accuracy",
    "metrics.m0 asc",
    "params.lr   DESC",
    "metrics.`val loss` DESC",
    'params."batch-size" ASC',
    "metrics.`a.b/c` desc",
    "attributes.start_time DESC",
    "attributes.`run_name`",
    "attributes.end_time asc",
]


@pytest.mark.parametrize("order", SIMPLE_ORDERS)
def test_simple_order_clauses_parse_as_mlflow_parses_them(order):
    from mlflow.utils.search_utils import SearchUtils

    key_type, key, ascending = SearchUtils.parse_order_by_for_search_runs(order)
    assert parse_simple_order(order) == (key_type, key, ascending)


@pytest.mark.parametrize(
    "order",
    [
        "start_time DESC",
        "tags.team",
        "metric.acc",
        "Metrics.acc",
        "metrics.a b",
        " metrics.a",
        "attributes.created DESC",
        "attributes.nope",
    ],
)
def test_other_order_clauses_are_left_to_mlflow(order):
    from mlflow.utils.search_utils import SearchUtils

    assert parse_simple_order(order) is None
    try:
        expected = SearchUtils.parse_order_by_for_search_runs(order)
    except Exception:  # MLflow rejects it: so do we, in one line
        with pytest.raises(UsageProblem, match="bad order_by"):
            parse_order(order)
    else:
        assert parse_order(order) == (
            expected[0],
            SearchUtils.translate_key_alias(expected[1]),
            expected[2],
        )


def test_experiments_are_listed_and_found_as_mlflow_does(tracking_uri):
    client = MlflowClient(tracking_uri)
    ids = [client.create_experiment(name) for name in ("a", XSS, "c", "d")]
    client.delete_experiment(ids[2])
    client.set_experiment_tag(ids[0], "touch", "1")  # changes nothing MLflow orders by
    listed = client.search_experiments(max_results=1000, order_by=["last_update_time DESC"])
    expected = [
        {
            "experiment_id": e.experiment_id,
            "name": e.name,
            "lifecycle_stage": e.lifecycle_stage,
            "last_update_time": e.last_update_time,
        }
        for e in listed
    ]
    assert list_experiments(tracking_uri) == expected
    assert {e["name"] for e in expected} == {"a", XSS, "d", "Default"}  # deleted "c" left out
    deleted = find_experiment(tracking_uri, ids[2])
    assert deleted == {"experiment_id": ids[2], "name": "c", "lifecycle_stage": "deleted"}
    assert find_experiment(tracking_uri, "987654") is None


def test_the_sidebars_first_requests_need_no_mlflow_import(store):
    """A freshly started server answers experiments, keys and the first page of runs ordered by
    a metric from the sqlite file alone, while MLflow (seconds to import) still loads."""
    import subprocess
    import sys

    uri, _ = store
    code = (
        "import sys\n"
        "from jupyter_mlops.core.runs import summaries as runs\n"
        f"uri = {uri!r}\n"
        "exp = [e for e in runs.list_experiments(uri) if e['name'] == 'cmp'][0]['experiment_id']\n"
        "assert runs.find_experiment(uri, exp)['name'] == 'cmp'\n"
        "keys = runs.run_keys(uri, [exp])\n"
        "page = runs.query_runs(uri, [exp], order_by='metrics.`accuracy` DESC', limit=5)\n"
        "print(len(page.runs), page.total, keys['metrics'], 'mlflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["5", "25", "['accuracy',", "'loss']", "False"]
