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
IDLE_PING_S = 1.0  # a connection idle longer is checked first (the server may have restarted)

# Optional indexes MLflow's schema lacks, created only by an explicit ``create_read_indexes``
# (docs/team-mode.md): with them a first page reads ~limit rows instead of every run.
READ_INDEXES = {
    "jupyter_mlops_runs_experiment_start": "runs "
    "(experiment_id, lifecycle_stage, start_time DESC NULLS LAST, run_uuid)",
    "jupyter_mlops_latest_metrics_key_value": "latest_metrics (key, value)",
}

_pools: dict[tuple[str, int], _Pool] = {}
_columns: dict[tuple[str, str], set[str]] = {}
_indexes: dict[str, set[str]] = {}
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

    def read_indexes(self) -> set[str]:
        """Which ``READ_INDEXES`` exist (looked up once per process and URI)."""
        if self.uri not in _indexes:
            names = list(READ_INDEXES)
            marks = ",".join("?" * len(names))
            _indexes[self.uri] = {
                row[0]
                for row in self.rows(
                    "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
                    f"AND indexname IN ({marks})",
                    names,
                )
            }
        return _indexes[self.uri]


class _Pool:
    """Idle connections to one database, kept for reuse (at most ``POOL_SIZE``)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.idle: list[tuple[Any, float]] = []  # (connection, when it was returned)
        self.lock = threading.Lock()

    def borrow(self) -> Any:
        """A live read-only connection: an idle one (pinged when idle for long) or a new one."""
        import psycopg2

        while True:
            with self.lock:
                conn, since = self.idle.pop() if self.idle else (None, 0.0)
            if conn is None:
                return self._connect()
            if time.monotonic() - since <= IDLE_PING_S:
                return conn
            try:
                with conn.cursor() as cursor:
                    cursor.execute("SELECT 1")
                conn.rollback()
                return conn
            except psycopg2.Error:
                conn.close()

    def _connect(self) -> Any:
        import psycopg2
        from psycopg2.extensions import ISOLATION_LEVEL_REPEATABLE_READ

        conn = psycopg2.connect(
            libpq_uri(self.uri),
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name="jupyter-mlops",
            options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
        )
        conn.set_session(
            isolation_level=ISOLATION_LEVEL_REPEATABLE_READ, readonly=True, autocommit=False
        )
        return conn

    def give_back(self, conn: Any) -> None:
        """Keep ``conn`` for reuse, or close it when it is broken or enough are idle."""
        import psycopg2

        try:
            if not conn.closed:
                conn.rollback()  # ends the read-only transaction (there is nothing to commit)
        except psycopg2.Error:
            conn.close()
        with self.lock:
            if not conn.closed and len(self.idle) < POOL_SIZE:
                self.idle.append((conn, time.monotonic()))
                return
        conn.close()

    def close(self) -> None:
        """Close every idle connection."""
        with self.lock:
            idle, self.idle = self.idle, []
        for conn, _ in idle:
            conn.close()


def _pool(uri: str) -> _Pool:
    """The pool of ``uri`` in this process."""
    key = (uri, os.getpid())
    with _lock:
        return _pools.setdefault(key, _Pool(uri))


@contextmanager
def reader(uri: str) -> Iterator[PgReader]:
    """A ``PgReader`` in one read-only transaction, its connection back in the pool on exit."""
    try:
        import psycopg2
    except ImportError as exc:  # the [team] extra is not installed: MLflow's search still works
        raise SqlUnavailable("psycopg2 is not installed") from exc
    pool = _pool(uri)
    try:
        conn = pool.borrow()
    except psycopg2.Error as exc:
        raise SqlUnavailable(_first_line(exc)) from exc
    try:
        with conn.cursor() as cursor:
            yield PgReader(uri, cursor)
    except psycopg2.Error as exc:  # an unknown schema, a lost server: MLflow's search decides
        raise SqlUnavailable(_first_line(exc)) from exc
    finally:
        pool.give_back(conn)


def create_read_indexes(uri: str) -> list[str]:
    """Create the missing read indexes (``CONCURRENTLY``: writers are not blocked); returns
    their names. Only ever called on purpose: it changes the user's database."""
    import psycopg2

    conn = psycopg2.connect(libpq_uri(uri), connect_timeout=CONNECT_TIMEOUT_S)
    conn.autocommit = True  # CREATE INDEX CONCURRENTLY refuses a transaction
    try:
        with conn.cursor() as cursor:
            for name, target in READ_INDEXES.items():
                cursor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {target}")
            cursor.execute("ANALYZE runs")
            cursor.execute("ANALYZE latest_metrics")
    finally:
        conn.close()
    _indexes.pop(uri, None)
    return list(READ_INDEXES)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip() or type(exc).__name__).splitlines()[0]


def close_pools() -> None:
    """Close every pool of this process (tests, and a process that is done with its stores)."""
    with _lock:
        for (_, pid), found in list(_pools.items()):
            if pid == os.getpid():
                found.close()
        _pools.clear()
        _columns.clear()
        _indexes.clear()
