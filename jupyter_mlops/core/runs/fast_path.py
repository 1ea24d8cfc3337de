"""Which database, if any, answers a run query by SQL instead of MLflow's search.

* a ``sqlite:///`` store: its file, read-only;
* a PostgreSQL store (``postgresql[+psycopg2]://``): the database, pooled, read-only;
* an ``http(s)://`` tracking server with a *read URI* (``c.JupyterMlops.read_uri``, else
  ``JUPYTER_MLOPS_READ_URI``): the server's own database, read-only. MLflow stays the judge of
  who reads what: before a page is read by SQL, each experiment is fetched through the tracking
  server with the caller's own credentials (basic-auth's READ permission applies there), and the
  database must hold the same experiment, else the query goes to MLflow.
Anything else goes to MLflow's search.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from jupyter_mlops.core.contracts import ENV_READ_URI
from jupyter_mlops.core.runs.sql_runs import Reader
from jupyter_mlops.core.store import sqlite_path


@dataclass(frozen=True)
class FastSource:
    """A database that can answer run queries for ``tracking_uri``."""

    tracking_uri: str
    database: str  # a sqlite path or a PostgreSQL URI
    dialect: str
    via_read_uri: bool  # True: the tracking store is a server; confirm experiments through it

    @contextmanager
    def reader(self) -> Iterator[Reader]:
        """A read-only ``Reader`` on the database (``SqlUnavailable`` when it cannot answer)."""
        if self.dialect == "sqlite":
            from jupyter_mlops.core.runs.sqlite_fast import reader
        else:
            from jupyter_mlops.core.runs.postgres_fast import reader
        with reader(self.database) as found:
            yield found


def read_uri_setting(explicit: str | None = None) -> str | None:
    """The read URI: an explicit setting, else ``JUPYTER_MLOPS_READ_URI``, else None."""
    return (explicit or os.environ.get(ENV_READ_URI, "")).strip() or None


def fast_source(tracking_uri: str, read_uri: str | None = None) -> FastSource | None:
    """The database that answers run queries for ``tracking_uri``, None for MLflow's search."""
    direct = _database(tracking_uri)
    if direct is not None:
        return FastSource(tracking_uri, *direct, via_read_uri=False)
    if tracking_uri.split("://", 1)[0].lower() in ("http", "https"):
        setting = read_uri_setting(read_uri)
        found = _database(setting) if setting else None
        if found is not None:
            return FastSource(tracking_uri, *found, via_read_uri=True)
    return None


def _database(uri: str) -> tuple[str, str] | None:
    from jupyter_mlops.core.runs.postgres_fast import is_postgres

    db = sqlite_path(uri)
    if db is not None:
        return (str(db), "sqlite") if db.exists() else None
    if is_postgres(uri):
        return uri, "postgresql"
    return None


def describe(source: Any) -> str:
    """One line naming where run pages come from (for logs), credentials redacted."""
    from jupyter_mlops.core.store import redact_uri

    if source is None:
        return "MLflow's search"
    via = " (read URI; experiments checked through the tracking server)" * source.via_read_uri
    return f"{source.dialect} {redact_uri(source.database)}{via}"
