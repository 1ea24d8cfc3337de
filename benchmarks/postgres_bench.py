"""``server_api.py --backend postgresql``: first pages on a team-sized PostgreSQL store.

On the cached store of ``postgres_store.py`` (N runs x 10 params x 10 metrics, one experiment):
  * the sidebar's first page — metric and param names (``run_keys``) and 50 runs ordered by
    ``metrics.`m0` DESC`` — and compare_runs' first page — the names and 100 runs ordered by
    ``attributes.start_time DESC`` (its default sort) — by ``core.runs`` (SQL, read-only) beside
    ``MlflowClient.search_runs`` for the same page (MLflow has no names query: its figure is the
    page alone), every page checked equal (ids, params, metrics, tags);
  * warm: the median of ``--repeat`` calls in this process after one call (pool open, imports
    done, the database's buffers warm);
  * cold: a new Python process (timed inside it from before its first import of ours or of
    MLflow to the result): imports, a new connection (MLflow: its engine and schema check),
    the query. The database server's own cache stays warm: "cold" is the client's cold;
  * the REST API of a real jupyter server reading the store: keys + runs, first request after
    its warm-up and warm.
``--indexes`` creates the optional read indexes first (``postgres_fast.create_read_indexes``);
without it they are dropped, so the store is MLflow's schema as it is.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

SIDEBAR = ("metrics.`m0` DESC", 50)
COMPARE = ("attributes.start_time DESC", 100)

OURS_CHILD = """
import time, json, sys
t0 = time.perf_counter()
from jupyter_mlops.core.runs.summaries import query_runs, run_keys
uri, exp, order, limit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
keys = run_keys(uri, [exp])
page = query_runs(uri, [exp], order_by=order, limit=limit)
print(json.dumps([time.perf_counter() - t0, [r.run_id for r in page.runs]]))
"""
MLFLOW_CHILD = """
import time, json, sys
t0 = time.perf_counter()
from mlflow.tracking import MlflowClient
uri, exp, order, limit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
runs = MlflowClient(uri).search_runs([exp], order_by=[order], max_results=limit)
print(json.dumps([time.perf_counter() - t0, [r.info.run_id for r in runs]]))
"""


def _cold(code: str, uri: str, exp: str, order: str, limit: int) -> tuple[float, list[str]]:
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    out = subprocess.run(
        [sys.executable, "-c", code, uri, exp, order, str(limit)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=600,
    )
    seconds, ids = json.loads(out.stdout.strip().splitlines()[-1])
    return seconds, ids


def _median(fn: Any, repeat: int) -> tuple[float, Any]:
    result = fn()  # the first call warms up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def _check_equal(ours: Any, theirs: list[Any]) -> None:
    from jupyter_mlops.core.runs.summaries import summary_from_run

    assert [r.run_id for r in ours.runs] == [r.info.run_id for r in theirs], "pages differ"
    for got, run in zip(ours.runs, theirs, strict=True):
        want = summary_from_run(run)
        assert (got.params, got.tags, got.status, got.run_name) == (
            want.params,
            want.tags,
            want.status,
            want.run_name,
        ), f"run {got.run_id} differs"
        assert got.metrics.keys() == want.metrics.keys()
        assert all(
            got.metrics[k] == want.metrics[k] or math.isnan(got.metrics[k]) for k in got.metrics
        )


def run(args: Any, start_server: Any, get: Any, token: str) -> None:
    """Build or reuse the store, measure, print the table (and drop the store if asked)."""
    from postgres_store import build_or_reuse, drop, set_read_indexes

    uri, exp, built = build_or_reuse(args.pg_uri, args.runs)
    how = f"built in {built:.1f}s (COPY)" if built else "reused (cached by name)"
    print(f"store: PostgreSQL, {args.runs} runs x 10 params x 10 metrics, {how}")
    took = set_read_indexes(uri, args.indexes)
    print(
        f"read indexes (postgres_fast.READ_INDEXES): created in {took:.1f}s"
        if args.indexes
        else "read indexes: none (MLflow's schema as it is; --indexes adds them)"
    )
    rows = [
        _measure(label, order, limit, uri, exp, args)
        for label, (order, limit) in (("sidebar", SIDEBAR), ("compare_runs", COMPARE))
    ]
    api = _rest_api(uri, exp, start_server, get, token, args.repeat)
    if args.drop:
        drop(args.pg_uri, args.runs)
    _print(rows, api, args)


def _measure(label: str, order: str, limit: int, uri: str, exp: str, args: Any) -> tuple:
    """One row of the table: ours and MLflow's, warm and cold, pages checked equal."""
    from mlflow.tracking import MlflowClient

    from jupyter_mlops.core.runs.summaries import query_runs, run_keys

    client = MlflowClient(uri)
    page_s, page = _median(lambda: query_runs(uri, [exp], order_by=order, limit=limit), 5)
    keys_s, keys = _median(lambda: run_keys(uri, [exp]), 5)
    both_s, _ = _median(
        lambda: (run_keys(uri, [exp]), query_runs(uri, [exp], order_by=order, limit=limit)),
        args.repeat,
    )
    theirs_s, theirs = _median(
        lambda: client.search_runs([exp], order_by=[order], max_results=limit), args.repeat
    )
    _check_equal(page, theirs)
    assert page.total == args.runs and len(keys["metrics"]) == 10
    ours_cold, ours_ids = _cold(OURS_CHILD, uri, exp, order, limit)
    theirs_cold, theirs_ids = _cold(MLFLOW_CHILD, uri, exp, order, limit)
    assert ours_ids == theirs_ids == [r.run_id for r in page.runs], "cold pages differ"
    return label, order, limit, page_s, keys_s, both_s, theirs_s, ours_cold, theirs_cold


def _rest_api(uri: str, exp: str, start_server: Any, get: Any, token: str, repeat: int) -> Any:
    """(first request after warm-up, warm median) of keys + runs through a real jupyter server."""
    order = urllib.parse.quote(SIDEBAR[0])
    with tempfile.TemporaryDirectory() as tmp:
        proc, base = start_server(Path(tmp), uri)
        try:
            status = f"{base}/jupyter-mlops/api/status?token={token}"
            deadline = time.time() + 120
            while not get(status)["ready"] and time.time() < deadline:
                time.sleep(0.2)
            api = f"{base}/jupyter-mlops/api/experiments/{exp}"
            urls = [
                f"{api}/keys?token={token}",
                f"{api}/runs?limit=50&order_by={order}&token={token}",
            ]

            def both() -> Any:
                return [get(u) for u in urls][-1]

            t0 = time.perf_counter()
            page = both()
            first = time.perf_counter() - t0
            warm, page = _median(both, repeat)
            assert page["total"] >= 1 and len(page["runs"]) == 50
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return first, warm


def _print(rows: list[tuple], api: tuple[float, float], args: Any) -> None:
    ms = 1000
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (1, 5 min), 2 cores shared")
    for label, order, limit, page_s, keys_s, both_s, theirs_s, ours_cold, theirs_cold in rows:
        print(f"{label}: first {limit} of {args.runs} runs by {order} (pages checked equal)")
        print(f"  warm  ours page {page_s * ms:7.1f} ms  names {keys_s * ms:6.1f} ms  "
              f"page+names {both_s * ms:7.1f} ms | MLflow search_runs {theirs_s * ms:8.1f} ms  "
              f"ratio {theirs_s / both_s:5.1f}x")  # fmt: skip
        print(f"  cold  ours page+names {ours_cold * ms:7.1f} ms (new process) | MLflow "
              f"{theirs_cold * ms:8.1f} ms  ratio {theirs_cold / ours_cold:5.1f}x")  # fmt: skip
        verdict = lambda ok: "met" if ok else "MISSED"  # noqa: E731
        print(f"  goals: warm <= 300 ms {verdict(both_s <= 0.3)}; cold <= 1 s "
              f"{verdict(ours_cold <= 1.0)}")  # fmt: skip
    print(f"REST API (jupyter server on the store), sidebar keys + runs: first request after "
          f"warm-up {api[0] * ms:.1f} ms, warm {api[1] * ms:.1f} ms")  # fmt: skip
