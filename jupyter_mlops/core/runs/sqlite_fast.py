"""The read-only sqlite side of the fast path: a ``Reader`` on MLflow's sqlite file.

Every query lives in ``sql_runs``; this module only opens the file read-only, with MLflow's
case-sensitive LIKE, and turns sqlite's errors into ``SqlUnavailable``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jupyter_mlops.core.runs.sql_runs import SqlUnavailable


class SqliteReader:
    """A read-only connection to one sqlite store (``Reader``)."""

    dialect = "sqlite"

    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of one query."""
        return self.con.execute(sql, list(args)).fetchall()

    def columns(self, table: str) -> set[str]:
        """Column names of one table."""
        return {row[1] for row in self.con.execute(f"PRAGMA table_info({table})")}

    def read_indexes(self) -> set[str]:
        """None: sqlite pages are fast without them."""
        return set()


@contextmanager
def reader(db: str | Path) -> Iterator[SqliteReader]:
    """A ``SqliteReader`` on ``db`` for one block of queries, closed on exit."""
    from urllib.parse import quote

    try:
        con = sqlite3.connect(f"file:{quote(str(db))}?mode=ro", uri=True, timeout=20)
    except sqlite3.Error as exc:
        raise SqlUnavailable(str(exc)) from exc
    try:
        con.execute("PRAGMA case_sensitive_like = true")
        yield SqliteReader(con)
    except sqlite3.Error as exc:  # an unknown schema version: MLflow's own query still works
        raise SqlUnavailable(str(exc)) from exc
    finally:
        con.close()
