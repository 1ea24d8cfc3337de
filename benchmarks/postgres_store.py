"""A team-sized MLflow store on PostgreSQL for the benchmarks, built once and kept by name.

    from postgres_store import build_or_reuse
    uri, exp, seconds = build_or_reuse(admin_uri, runs=100_000)

The database ``mlops_bench_<runs>`` is created next to ``admin_uri``'s (the role needs
CREATEDB), migrated by MLflow itself (``MlflowClient(uri)`` runs its migrations), then filled by
``COPY`` into MLflow's own tables: N runs x 10 params x 10 metrics (each metric one point, in
``metrics`` and ``latest_metrics``) and 3 tags per run, then ``ANALYZE``. A database that already
holds the finished marker is reused as it is (seconds = 0.0); ``drop(admin_uri, runs)`` removes it.
"""

from __future__ import annotations

import csv
import io
import random
import time
import uuid
from collections.abc import Iterator

N_PARAMS = 10
N_METRICS = 10
MARKER = "jupyter_mlops.bench.complete"


def _connect(uri: str, database: str | None = None):
    import psycopg2

    libpq = "postgresql://" + uri.split("://", 1)[1]
    if database:
        libpq = libpq.rsplit("/", 1)[0] + "/" + database
    con = psycopg2.connect(libpq, connect_timeout=10)
    con.autocommit = True
    return con


def database_uri(admin_uri: str, runs: int) -> str:
    """The SQLAlchemy URI of the benchmark database for ``runs`` runs."""
    return admin_uri.rsplit("/", 1)[0] + f"/mlops_bench_{runs}"


def _complete(uri: str) -> str | None:
    """The benchmark experiment's id when the database is fully built, else None."""
    try:
        con = _connect(uri)
    except Exception:
        return None
    with con, con.cursor() as cur:
        try:
            cur.execute("SELECT experiment_id FROM experiment_tags WHERE key = %s", [MARKER])
        except Exception:
            return None
        row = cur.fetchone()
    con.close()
    return str(row[0]) if row else None


def build_or_reuse(admin_uri: str, runs: int) -> tuple[str, str, float]:
    """(uri, experiment id, seconds spent building: 0.0 when reused)."""
    uri = database_uri(admin_uri, runs)
    found = _complete(uri)
    if found is not None:
        return uri, found, 0.0
    t0 = time.perf_counter()
    drop(admin_uri, runs)
    admin = _connect(admin_uri)
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "mlops_bench_{runs}"')
    admin.close()
    from mlflow.tracking import MlflowClient

    exp = MlflowClient(uri).create_experiment("bench")  # MLflow's migrations make the schema
    con = _connect(uri)
    with con.cursor() as cur:
        for table, columns, rows in _tables(int(exp), runs):
            buffer = io.StringIO()
            csv.writer(buffer).writerows(rows)
            buffer.seek(0)
            cur.copy_expert(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)", buffer)
        cur.execute("ANALYZE")
        cur.execute(
            "INSERT INTO experiment_tags (key, value, experiment_id) VALUES (%s, %s, %s)",
            [MARKER, str(runs), int(exp)],
        )
    con.close()
    return uri, exp, time.perf_counter() - t0


def _tables(exp: int, n_runs: int) -> Iterator[tuple[str, str, list[tuple]]]:
    rng = random.Random(7)
    ids = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(n_runs)]
    start = 1_700_000_000_000
    yield (
        "runs",
        "run_uuid, name, source_type, source_name, entry_point_name, user_id, status, "
        "start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id",
        [
            (rid, f"run-{i}", "NOTEBOOK", "bench.ipynb", "", "bench", "FINISHED",
             start + i * 1000, start + i * 1000 + 900, "", "active", f"/bench/{rid}", exp)
            for i, rid in enumerate(ids)
        ],
    )  # fmt: skip
    tags = [("mlflow.runName", f"run-{i}", rid) for i, rid in enumerate(ids)]
    tags += [("mlflow.user", "bench", rid) for rid in ids]
    tags += [("mlflow.source.name", "bench.ipynb", rid) for rid in ids]
    yield "tags", "key, value, run_uuid", tags
    params = [(f"p{p}", f"v{rng.randrange(10)}", rid) for rid in ids for p in range(N_PARAMS)]
    yield "params", "key, value, run_uuid", params
    metrics = [
        (f"m{m}", rng.random(), start + i * 1000, 0, False, rid)
        for i, rid in enumerate(ids)
        for m in range(N_METRICS)
    ]
    columns = "key, value, timestamp, step, is_nan, run_uuid"
    yield "metrics", columns, metrics
    yield "latest_metrics", columns, metrics


def drop(admin_uri: str, runs: int) -> None:
    """Remove the benchmark database of ``runs`` runs (whoever is connected is disconnected)."""
    admin = _connect(admin_uri)
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "mlops_bench_{runs}" WITH (FORCE)')
    admin.close()


def set_read_indexes(uri: str, wanted: bool) -> float:
    """Create (``create_read_indexes``) or drop the optional read indexes; seconds it took."""
    from jupyter_mlops.core.runs.postgres_fast import READ_INDEXES, create_read_indexes

    t0 = time.perf_counter()
    if wanted:
        create_read_indexes(uri)
    else:
        con = _connect(uri)
        with con.cursor() as cur:
            for name in READ_INDEXES:
                cur.execute(f"DROP INDEX IF EXISTS {name}")
        con.close()
    return time.perf_counter() - t0
