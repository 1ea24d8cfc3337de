"""Benchmark: the comparison widget's first page against MLflow's own queries, same sqlite store.

    python benchmarks/compare_runs.py [--runs 10000]

Builds an experiment of N runs x 10 params x 10 metrics in a fresh MLflow sqlite store (rows are
bulk-inserted into MLflow's own schema for speed; MLflow then reads them back as usual), checks
that our page equals MLflow's page, and prints medians and ratios for:
  * first page of 100 runs sorted by a metric: ``query_runs`` vs ``MlflowClient.search_runs``
  * the whole widget (``compare_runs()``: keys, page, best run, rendered table)
  * a filtered, sorted page
  * MLflow loading all runs (``mlflow.search_runs``), which a naive widget would need.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

N_PARAMS = 10
N_METRICS = 10


def build_store(folder: Path, n_runs: int) -> tuple[str, str]:
    """A migrated MLflow sqlite store with one experiment of ``n_runs`` runs; (uri, exp id)."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp = client.create_experiment("bench")
    rng = random.Random(7)
    runs, params, metrics, tags = [], [], [], []
    start = 1_700_000_000_000
    for i in range(n_runs):
        rid = uuid.uuid4().hex
        t0 = start + i * 1000
        runs.append(
            (
                rid,
                f"run-{i}",
                "NOTEBOOK",
                "bench.ipynb",
                "",
                "bench",
                "FINISHED",
                t0,
                t0 + 900,
                "",
                "active",
                f"{folder}/artifacts/{rid}",
                int(exp),
            )
        )
        tags.append(("mlflow.runName", f"run-{i}", rid))
        for p in range(N_PARAMS):
            params.append((f"p{p}", f"v{rng.randrange(10)}", rid))
        for m in range(N_METRICS):
            metrics.append((f"m{m}", rng.random(), t0, 0, 0, rid))
    con = sqlite3.connect(folder / "mlflow.db")
    with con:
        con.executemany(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
            "user_id, status, start_time, end_time, source_version, lifecycle_stage, "
            "artifact_uri, experiment_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            runs,
        )
        con.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?,?,?)", tags)
        con.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?,?,?)", params)
        for table in ("metrics", "latest_metrics"):
            con.executemany(
                f"INSERT INTO {table} (key, value, timestamp, step, is_nan, run_uuid) "
                "VALUES (?,?,?,?,?,?)",
                metrics,
            )
    con.close()
    return uri, exp


def median_time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median wall time of ``repeat`` calls and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import mlflow
    from mlflow.tracking import MlflowClient

    from jupyter_mlops.core.runs.summaries import query_runs
    from jupyter_mlops.widgets.compare import compare_runs

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        uri, exp = build_store(Path(tmp), args.runs)
        print(
            f"store: {args.runs} runs x {N_PARAMS} params x {N_METRICS} metrics "
            f"built in {time.perf_counter() - t0:.1f}s"
        )
        client = MlflowClient(uri)
        order = "metrics.m0 DESC"
        flt = "metrics.m1 > 0.5 and params.p0 = 'v3'"

        ours, page = median_time(
            lambda: query_runs(uri, [exp], order_by=order, limit=100), args.repeat
        )
        theirs, mpage = median_time(  # MLflow's query is slow: one timing is plenty
            lambda: client.search_runs([exp], order_by=[order], max_results=100), 1
        )
        assert [r.run_id for r in page.runs] == [r.info.run_id for r in mpage], "pages differ"
        assert page.total == args.runs and len(page.runs[0].params) == N_PARAMS

        widget, w = median_time(lambda: compare_runs("bench", tracking_uri=uri), args.repeat)
        assert w.page.runs[0].run_id == page.runs[0].run_id
        html_kb = len(w.static_html()) / 1024

        ours_f, fpage = median_time(
            lambda: query_runs(uri, [exp], filter_string=flt, order_by=order, limit=100),
            args.repeat,
        )
        theirs_f, mfpage = median_time(
            lambda: client.search_runs([exp], filter_string=flt, order_by=[order], max_results=100),
            1,
        )
        assert [r.run_id for r in fpage.runs] == [r.info.run_id for r in mfpage], "filter differs"

        mlflow.set_tracking_uri(uri)
        all_runs, frame = median_time(lambda: mlflow.search_runs([exp], max_results=100_000), 1)
        assert len(frame) == args.runs

    rows = [
        ("first page (100 by metric): query_runs", ours, "MlflowClient.search_runs", theirs),
        ("filtered page: query_runs", ours_f, "MlflowClient.search_runs", theirs_f),
        ("widget first page: compare_runs()", widget, "mlflow.search_runs (all runs)", all_runs),
    ]
    print(f"{'ours':45s} {'s':>7s}   {'mlflow':32s} {'s':>7s}  ratio")
    for name, a, other, b in rows:
        print(f"{name:45s} {a:7.3f}   {other:32s} {b:7.3f}  {b / a:6.1f}x faster")
    print(f"widget first page total: {widget:.3f}s (goal <= 1 s); static summary {html_kb:.0f} KiB")


if __name__ == "__main__":
    main()
