"""The read-only PostgreSQL side of the fast path: pooled connections to MLflow's database.

Every query lives in ``sql_runs``; this module keeps one small connection pool per URI (and
per process: a forked child opens its own), runs each block of queries in one read-only
REPEATABLE READ transaction (the count and the page see one snapshot; nothing can be written),
bounds connecting and each statement, and turns driver errors into ``SqlUnavailable``.
The URI is the SQLAlchemy one MLflow uses (``postgresql[+psycopg2]://user:pw@host:port/db``);
libpq reads the same URI once the driver suffix is dropped.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from jupyter_mlops.core.runs.sql_runs import SqlUnavailable

POOL_SIZE = 8  # more than the server's worker threads: a request never waits for a connection
CONNECT_TIMEOUT_S = 5
STATEMENT_TIMEOUT_MS = 30_000
IDLE_PING_S = 10.0  # a connection idle longer is checked first (the server may have restarted)

_pools: dict[tuple[str, int], Any] = {}
_columns: dict[tuple[str, str], set[str]] = {}
_last_used: dict[int, float] = {}
_lock = threading.Lock()


def is_postgres(uri: str) -> bool:
    """True for a SQLAlchemy PostgreSQL URI (``postgresql://``, ``postgresql+psycopg2://``...)."""
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    return scheme in ("postgres", "postgresql") or scheme.startswith("postgresql+")


def libpq_uri(uri: str) -> str:
    """The libpq form of a SQLAlchemy PostgreSQL URI (the driver suffix dropped)."""
    return "postgresql://" + uri.split("://", 1)[1]


class PgReader:
    """One read-only transaction on MLflow's PostgreSQL database (``Reader``)."""

    dialect = "postgresql"

    def __init__(self, uri: str, cursor: Any) -> None:
        self.uri = uri
        self.cursor = cursor

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of one query (``?`` placeholders become the driver's ``%s``)."""
        self.cursor.execute(sql.replace("?", "%s"), list(args))
        return self.cursor.fetchall()

    def columns(self, table: str) -> set[str]:
        """Column names of one table of the current schema (cached: a schema change of MLflow
        comes with a server restart)."""
        key = (self.uri, table)
        if key not in _columns:
            _columns[key] = {
                row[0]
                for row in self.rows(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = ?",
                    [table],
                )
            }
        return _columns[key]


def _pool(uri: str) -> Any:
    from psycopg2 import pool

    key = (uri, os.getpid())
    with _lock:
        found = _pools.get(key)
        if found is None:
            found = pool.ThreadedConnectionPool(
                0,
                POOL_SIZE,
                libpq_uri(uri),
                connect_timeout=CONNECT_TIMEOUT_S,
                application_name="jupyter-mlops",
                options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
            )
            _pools[key] = found
    return found


def _borrow(pool: Any) -> Any:
    """A live connection from ``pool``, set read-only; one idle for long is pinged first."""
    import psycopg2
    from psycopg2.extensions import ISOLATION_LEVEL_REPEATABLE_READ

    for _ in range(2):
        conn = pool.getconn()
        idle = time.monotonic() - _last_used.get(id(conn), 0.0)
        try:
            if conn.readonly is not True:
                conn.set_session(
                    isolation_level=ISOLATION_LEVEL_REPEATABLE_READ, readonly=True, autocommit=False
                )
            elif idle > IDLE_PING_S:
                with conn.cursor() as cursor:
                    cursor.execute("SELECT 1")
                conn.rollback()
            return conn
        except psycopg2.Error:
            pool.putconn(conn, close=True)
    raise SqlUnavailable("no live connection to the PostgreSQL store")


@contextmanager
def reader(uri: str) -> Iterator[PgReader]:
    """A ``PgReader`` in one read-only transaction, its connection back in the pool on exit."""
    try:
        import psycopg2
        import psycopg2.pool
    except ImportError as exc:  # the [team] extra is not installed: MLflow's search still works
        raise SqlUnavailable("psycopg2 is not installed") from exc
    try:
        pool = _pool(uri)
        conn = _borrow(pool)
    except (psycopg2.Error, psycopg2.pool.PoolError) as exc:
        raise SqlUnavailable(str(exc).strip()) from exc
    try:
        with conn.cursor() as cursor:
            yield PgReader(uri, cursor)
    except psycopg2.Error as exc:  # an unknown schema, a lost server: MLflow's search decides
        raise SqlUnavailable((str(exc).strip() or type(exc).__name__).splitlines()[0]) from exc
    finally:
        broken = bool(conn.closed)
        if not broken:
            try:
                conn.rollback()  # ends the read-only transaction (there is nothing to commit)
            except psycopg2.Error:
                broken = True
        _last_used[id(conn)] = time.monotonic()
        pool.putconn(conn, close=broken)


def close_pools() -> None:
    """Close every pool of this process (tests, and a process that is done with its stores)."""
    with _lock:
        for (_, pid), found in list(_pools.items()):
            if pid == os.getpid():
                found.closeall()
        _pools.clear()
        _columns.clear()
