"""A throw-away PostgreSQL database per test module, on the server CI starts
(``tests/team/start_postgres.sh``; its URI in ``JUPYTER_MLOPS_TEST_POSTGRES_URI``)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

POSTGRES_ENV = "JUPYTER_MLOPS_TEST_POSTGRES_URI"


def connect_admin(uri: str):
    """A psycopg2 connection (autocommit) as the test role: it may create and drop databases."""
    import psycopg2

    con = psycopg2.connect("postgresql://" + uri.split("://", 1)[1], connect_timeout=5)
    con.autocommit = True
    return con


@contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """The SQLAlchemy URI of a new, empty database with a unique name; dropped afterwards
    (whoever is still connected, MLflow's engines or our pools, is disconnected first)."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set (tests/team/start_postgres.sh prints it)")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        con = connect_admin(base)
    except Exception as exc:  # the server is down: these tests cannot run here
        pytest.skip(f"PostgreSQL at {POSTGRES_ENV} unreachable: {exc}")
    with con.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    con.close()
    uri = base.rsplit("/", 1)[0] + "/" + name
    try:
        yield uri
    finally:
        from jupyter_mlops.core.runs.postgres_fast import close_pools

        close_pools()
        con = connect_admin(base)
        with con.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        con.close()
