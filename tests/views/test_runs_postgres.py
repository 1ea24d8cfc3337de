"""core.runs on PostgreSQL: pages, keys and experiments read by SQL equal MLflow's own search on
the same database (a fresh one per module on the server of ``tests/team/start_postgres.sh``)."""

from __future__ import annotations

import math
import time

import pytest
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from pg_database import connect_admin, fresh_database

from jupyter_mlops.core.errors import UsageProblem
from jupyter_mlops.core.runs import postgres_fast
from jupyter_mlops.core.runs.fast_path import fast_source
from jupyter_mlops.core.runs.sql_runs import SqlUnavailable
from jupyter_mlops.core.runs.summaries import (
    find_experiment,
    list_experiments,
    query_runs,
    run_keys,
    summary_from_run,
)
from views.test_runs import (
    FILTERS,
    ORDERS,
    _make_runs,
    _mlflow_ids,
    assert_pages_of_7_match_mlflow,
)

pytestmark = pytest.mark.slow  # a PostgreSQL database and MLflow's migrations per module

UNICODE = ["Ünïcødé", "数据集", "zebra", "Zebra", "_under", "a b", "ä", "ß", "🙂", ""]


@pytest.fixture(scope="module")
def pg():
    """A migrated MLflow store on a fresh PostgreSQL database: (uri, [exp], odd exp, all exps)."""
    with fresh_database("runs_pg") as uri:
        client = MlflowClient(uri)
        exp = client.create_experiment("cmp")
        _make_runs(client, exp, 26)
        _make_runs(client, client.create_experiment("other"), 3)
        odd = client.create_experiment("odd " + UNICODE[1])
        _fill_odd(client, odd)
        many = [client.create_experiment(f"many-{i}") for i in range(12)]
        for n, e in enumerate(many):
            for i in range(n % 4):
                rid = client.create_run(e, start_time=50 + i, run_name=UNICODE[(n + i) % 10]).info
                client.log_metric(rid.run_id, "score", float(n * i), step=0)
        yield uri, [exp], odd, many
        postgres_fast.close_pools()


def _fill_odd(client: MlflowClient, exp: str) -> None:
    """Unicode and collation-sensitive values, equal start times, runs without metrics or
    params, NaN and infinities, a running run (no end time), deleted runs."""
    for i, word in enumerate(UNICODE * 2):
        run = client.create_run(exp, start_time=100 + i % 3, run_name=word or None).info.run_id
        metrics = (
            [] if i % 4 == 0 else [Metric("m", [math.nan, math.inf, -math.inf, i][i % 4], 0, 0)]
        )
        params = [] if i % 5 == 0 else [Param("word", word or "-"), Param("n", str(i))]
        client.log_batch(run, metrics=metrics, params=params, tags=[RunTag("w", word + "!")])
        if i % 3:
            client.set_terminated(run, end_time=1000 + i)
        if i in (7, 13):
            client.delete_run(run)


def _equal_pages(uri, exps, filter_string=None, order=None) -> int:
    expected = _mlflow_ids(uri, exps, filter_string, order)
    got = query_runs(uri, exps, filter_string=filter_string, order_by=order, limit=1000)
    assert [r.run_id for r in got.runs] == [r.info.run_id for r in expected]
    assert got.total == len(expected)
    return got.total


def test_the_postgres_store_is_read_by_sql(pg):
    uri = pg[0]
    source = fast_source(uri)
    assert source is not None and source.dialect == "postgresql" and not source.via_read_uri
    with source.reader() as reader:  # not MLflow's search: the SQL path answers
        assert reader.rows("SELECT current_setting('transaction_read_only')") == [("on",)]


@pytest.mark.parametrize("order", ORDERS)
def test_order_and_paging_match_mlflow(pg, order):
    uri, exps, _, _ = pg
    assert_pages_of_7_match_mlflow(uri, exps, order)


@pytest.mark.parametrize("filter_string", FILTERS)
def test_filters_match_mlflow(pg, filter_string):
    uri, exps, _, _ = pg
    total = _equal_pages(uri, exps, filter_string, "metrics.accuracy DESC")
    if filter_string and filter_string.startswith("params.opt"):  # LIKE case-sensitive, ILIKE not
        assert total == (0 if " LIKE" in filter_string else 13)


ODD_ORDERS = [
    None,
    "attributes.run_name",
    "params.word DESC",
    "tags.w",
    "metrics.m DESC",
    "metrics.m",
    "attributes.end_time",
    "params.n",
    "attributes.start_time ASC",
]
ODD_FILTERS = [
    None,
    "params.word = 'ß'",
    "params.word LIKE '%a%'",
    "params.word ILIKE 'Z%'",
    "tags.w != '🙂!'",
    "metrics.m > 0",
    "metrics.m != 1",
    "params.word IS NULL",
    "attributes.run_name = '数据集'",
    "params.word IN ('ä', 'zebra')",
    "attributes.status IN ('FINISHED', 'RUNNING')",
    "params.word RLIKE '^[a-z]'",
    "attributes.run_name RLIKE '^[a-z]'",
    "tags.w IS NOT NULL",
]


@pytest.mark.parametrize("order", ODD_ORDERS)
@pytest.mark.parametrize("filter_string", ODD_FILTERS)
def test_unicode_nan_and_missing_values_match_mlflow(pg, order, filter_string):
    uri, _, odd, _ = pg
    try:
        expected = _mlflow_ids(uri, [odd], filter_string, order)
    except MlflowException as exc:  # MLflow refuses it (IN on params, say): so do we
        assert exc.error_code == "INVALID_PARAMETER_VALUE"
        with pytest.raises(UsageProblem):
            query_runs(uri, [odd], filter_string=filter_string, order_by=order)
        return
    page = query_runs(uri, [odd], filter_string=filter_string, order_by=order, limit=100)
    assert [r.run_id for r in page.runs] == [r.info.run_id for r in expected]
    assert page.total == len(expected)


@pytest.mark.parametrize("filter_string", ["metrics.m IS NULL", "attributes.end_time IS NULL"])
def test_filters_mlflow_refuses_are_refused_in_one_line(pg, filter_string):
    uri, _, odd, _ = pg
    with pytest.raises(Exception, match="only supported"):
        _mlflow_ids(uri, [odd], filter_string, None)
    with pytest.raises(UsageProblem) as info:
        query_runs(uri, [odd], filter_string=filter_string)
    assert "\n" not in str(info.value)


def test_page_contents_equal_mlflow_run_entities(pg):
    uri, exps, odd, _ = pg
    for ids in (exps, [odd]):
        expected = {r.info.run_id: summary_from_run(r) for r in _mlflow_ids(uri, ids, None, None)}
        page = query_runs(uri, ids, limit=100)
        assert len(page.runs) == len(expected)
        for got in page.runs:
            want = expected[got.run_id]
            assert (got.run_name, got.status, got.start_time, got.end_time, got.experiment_id) == (
                want.run_name,
                want.status,
                want.start_time,
                want.end_time,
                want.experiment_id,
            )
            assert (got.params, got.tags, got.data_versions) == (
                want.params,
                want.tags,
                want.data_versions,
            )
            assert got.metrics.keys() == want.metrics.keys()
            for key, value in got.metrics.items():
                assert value == want.metrics[key] or math.isnan(value) == math.isnan(
                    want.metrics[key]
                )


def test_many_experiments_at_once_match_mlflow(pg):
    uri, exps, odd, many = pg
    for order in (None, "metrics.score DESC", "attributes.run_name"):
        assert _equal_pages(uri, many + exps + [odd], None, order) == 25 + 18 + 18


def test_keys_and_experiments_match_mlflow(pg):
    uri, exps, odd, many = pg
    client = MlflowClient(uri)
    assert run_keys(uri, exps) == {
        "metrics": ["accuracy", "loss"],
        "params": ["depth", "lr", "opt"],
    }
    assert run_keys(uri, [odd]) == {"metrics": ["m"], "params": ["n", "word"]}
    assert run_keys(uri, many[:1]) == {"metrics": [], "params": []}  # no runs there
    listed = client.search_experiments(max_results=1000, order_by=["last_update_time DESC"])
    assert [e["experiment_id"] for e in list_experiments(uri)] == [e.experiment_id for e in listed]
    client.delete_experiment(many[-1])
    assert find_experiment(uri, many[-1])["lifecycle_stage"] == "deleted"
    assert find_experiment(uri, "99999999") is None


def test_bad_filter_and_order_are_one_line_usage_problems(pg):
    uri, exps, _, _ = pg
    for kwargs in (
        {"filter_string": "metrics.accuracy >> 1"},
        {"order_by": "metrics.a SIDEWAYS"},
        {"filter_string": "params.lr = 99999999999999999999"},
    ):
        with pytest.raises(UsageProblem) as info:
            query_runs(uri, exps, **kwargs)
        assert "\n" not in str(info.value)


def test_the_reader_cannot_write(pg):
    uri, _, _, _ = pg
    with pytest.raises(SqlUnavailable, match="read-only"):
        with fast_source(uri).reader() as reader:
            reader.rows("DELETE FROM runs")
    assert query_runs(uri, pg[1], limit=1).total == 25


def test_a_lost_connection_falls_back_and_the_pool_recovers(pg):
    """The database server drops our connection: that page comes from MLflow (equal), the
    next one from a new pooled connection."""
    uri, exps, _, _ = pg
    source = fast_source(uri)
    with source.reader() as reader:
        pid = reader.rows("SELECT pg_backend_pid()")[0][0]
    with source.reader() as reader:  # the pool hands out the same connection again
        assert reader.rows("SELECT pg_backend_pid()")[0][0] == pid
    admin = connect_admin(uri)
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", [pid])
    admin.close()
    _equal_pages(uri, exps, None, "metrics.loss")  # MLflow answered this one
    with source.reader() as reader:
        pid = reader.rows("SELECT pg_backend_pid()")[0][0]
    admin = connect_admin(uri)
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", [pid])
    admin.close()
    time.sleep(postgres_fast.IDLE_PING_S + 0.2)  # idle for long: pinged, replaced at once
    with source.reader() as reader:
        assert reader.rows("SELECT pg_backend_pid()")[0][0] != pid
    _equal_pages(uri, exps, None, "metrics.loss")


def test_with_the_read_indexes_pages_still_match_mlflow(pg):
    """Runs last in this module: creates the optional read indexes (docs/team-mode.md), then
    every order, filter and page offset again equals MLflow's search."""
    uri, exps, odd, many = pg
    assert postgres_fast.create_read_indexes(uri) == list(postgres_fast.READ_INDEXES)
    with fast_source(uri).reader() as reader:
        assert reader.read_indexes() == set(postgres_fast.READ_INDEXES)
    for order in [*ORDERS, "metrics.accuracy DESC", "metrics.loss ASC"]:
        expected = [r.info.run_id for r in _mlflow_ids(uri, exps, None, order)]
        for offset, limit in ((0, 5), (5, 10), (14, 7), (20, 10), (0, 100)):
            page = query_runs(uri, exps, order_by=order, offset=offset, limit=limit)
            assert [r.run_id for r in page.runs] == expected[offset : offset + limit], order
            assert page.total == 25
    for filter_string in FILTERS:
        _equal_pages(uri, exps, filter_string, "metrics.accuracy DESC")
    for order in ODD_ORDERS:
        for ids in ([odd], many + exps):
            _equal_pages(uri, ids, "params.word != 'ß'" if ids == [odd] else None, order)
