"""MLflow's run tables read by SQL: the one query builder and row mapping of the fast paths.

``sqlite_fast`` and ``postgres_fast`` only open a read-only ``Reader`` on their database; every
query is built here, with ``?`` placeholders, so both dialects answer with the same semantics.
Those mirror mlflow/store/tracking/sqlalchemy_store.py (``_search_runs``,
``_get_sqlalchemy_filter_clauses``, ``_get_orderby_clauses``, checked against MLflow 3.17.2):
active runs only; metric filters never match NaN (except "!="); every sort key puts missing
values last (metrics: NaN, then missing), ties broken by start_time DESC then run id; string
comparisons use the database's own collation, as MLflow's query on the same database does.
Anything else (dataset filters, duplicate sort keys, comparators MLflow refuses) is left to
MLflow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from jupyter_mlops.core.runs.page import DATASET_CONTEXT_TAG, RunPage, RunSummary

_ATTR_COLUMNS = {
    "run_id": "r.run_uuid",
    "start_time": "r.start_time",
    "end_time": "r.end_time",
    "status": "r.status",
    "user_id": "r.user_id",
    "artifact_uri": "r.artifact_uri",
    "run_name": "r.name",
}
_ENTITY_TABLES = {"metric": "latest_metrics", "parameter": "params", "tag": "tags"}
_PLAIN_OPS = {"=", "!=", "<", "<=", ">", ">=", "LIKE"}
# the comparators MLflow's search_runs accepts per key kind (anything else, RLIKE say, it refuses)
_NUMERIC = {">", ">=", "!=", "=", "<", "<="}
_STRINGS = {"!=", "=", "LIKE", "ILIKE"}
_VALID = {
    "metric": _NUMERIC,
    "parameter": _STRINGS | {"IS NULL", "IS NOT NULL"},
    "tag": _STRINGS | {"IS NULL", "IS NOT NULL"},
    "numeric attribute": _NUMERIC,
    "attribute": _STRINGS | {"IN", "NOT IN"},
}
_NUMERIC_ATTRIBUTES = {"start_time", "end_time"}


class SqlUnavailable(Exception):
    """The database cannot answer this query (unreachable, unknown schema): ask MLflow."""


class MlflowDecides(Exception):
    """The store holds experiments of several MLflow workspaces: which ones the caller sees is
    MLflow's decision, so the caller asks MLflow instead."""


class Reader(Protocol):
    """A read-only view of one MLflow database (``?`` placeholders, either dialect)."""

    dialect: str  # "sqlite" | "postgresql"

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of one query."""
        ...

    def columns(self, table: str) -> set[str]:
        """Column names of one table."""
        ...

    def read_indexes(self) -> set[str]:
        """Which of the optional read indexes (``postgres_fast.READ_INDEXES``) exist."""
        ...


def _compare(dialect: str, column: str, comparator: str, value: Any) -> tuple[str, list] | None:
    """``column <op> ?`` for one MLflow comparator in ``dialect``, None when not translatable."""
    if comparator in _PLAIN_OPS:
        return f"{column} {comparator} ?", [value]
    if comparator == "ILIKE":  # what SQLAlchemy's ``ilike`` renders in each dialect
        if dialect == "postgresql":
            return f"{column} ILIKE ?", [value]
        return f"lower({column}) LIKE lower(?)", [value]
    if comparator in ("IN", "NOT IN"):
        marks = ",".join("?" * len(value))
        return f"{column} {comparator} ({marks})", list(value)
    return None


def _filter_clause(dialect: str, item: dict[str, Any]) -> tuple[str, list[Any]] | None:
    kind, key, comparator = item["type"], item["key"], item["comparator"].upper()
    key = _translate_key(key)
    value = item["value"]
    checked = "numeric attribute" if kind == "attribute" and key in _NUMERIC_ATTRIBUTES else kind
    if comparator not in _VALID.get(checked, ()):
        return None  # MLflow's search answers or refuses it, in its own words
    if kind == "attribute":
        if key == "run_name":  # MLflow filters names on the mlflow.runName tag
            kind, key = "tag", "mlflow.runName"
        elif key in _ATTR_COLUMNS:
            return _compare(dialect, _ATTR_COLUMNS[key], comparator, value)
        else:
            return None
    table = _ENTITY_TABLES.get(kind)
    if table is None:
        return None
    exists = f"EXISTS (SELECT 1 FROM {table} e WHERE e.run_uuid = r.run_uuid AND e.key = ?"
    if comparator in ("IS NULL", "IS NOT NULL"):
        return ("NOT " if comparator == "IS NULL" else "") + exists + ")", [key]
    if kind == "metric":
        value = float(value)
    compared = _compare(dialect, "e.value", comparator, value)
    if compared is None:
        return None
    condition, args = compared
    if kind == "metric":
        nan = "OR e.is_nan" if comparator == "!=" else "AND NOT e.is_nan"
        condition = f"({condition} {nan})"
    return f"{exists} AND {condition})", [key, *args]


def _translate_key(key: str) -> str:
    from jupyter_mlops.core.mlflow_internals import translate_key_alias

    return translate_key_alias(key)


@dataclass
class SqlPlan:
    """WHERE/JOIN/ORDER BY fragments for one query over the ``runs`` table."""

    where: list[str]
    where_args: list[Any]
    joins: list[str]
    join_args: list[Any]
    order: list[str]
    lead_metric: bool = False  # the first sort key is a metric (its joins[0], order[0])

    @classmethod
    def build(
        cls, filters: list[dict[str, Any]], orders: list[tuple[str, str, bool]], dialect: str
    ) -> SqlPlan | None:
        """Translate parsed filters and orders, or None when any part needs MLflow itself."""
        plan = cls([], [], [], [], [])
        for item in filters:
            clause = _filter_clause(dialect, item)
            if clause is None:
                return None
            plan.where.append(clause[0])
            plan.where_args.extend(clause[1])
        if len({(kind, key) for kind, key, _ in orders}) < len(orders):
            return None  # MLflow refuses duplicate sort keys: let it say so
        seen_start = False
        for n, (kind, key, ascending) in enumerate(orders):
            direction = "" if ascending else " DESC"
            if kind == "attribute":
                if key not in _ATTR_COLUMNS:
                    return None
                column = _ATTR_COLUMNS[key]
                seen_start = seen_start or key == "start_time"
                plan.order += _nulls_last(dialect, column, direction)
                continue
            table = _ENTITY_TABLES.get(kind)
            if table is None:
                return None
            alias = f"o{n}"
            plan.joins.append(
                f"LEFT JOIN {table} {alias} ON {alias}.run_uuid = r.run_uuid AND {alias}.key = ?"
            )
            plan.join_args.append(key)
            if kind == "metric":
                nulls = f"CASE WHEN {alias}.is_nan THEN 1 WHEN {alias}.value IS NULL THEN 2 "
                plan.order += [nulls + "ELSE 0 END", f"{alias}.value{direction}"]
                plan.lead_metric = plan.lead_metric or n == 0
            else:
                plan.order += _nulls_last(dialect, f"{alias}.value", direction)
        if not seen_start:
            plan.order.append("r.start_time DESC")
        plan.order.append("r.run_uuid")
        return plan

    def page(self, reader: Reader, experiment_ids: list[str], offset: int, limit: int) -> RunPage:
        """Run the count and page queries, then load the page's runs (one read-only snapshot)."""
        ids = [int(e) for e in experiment_ids]
        where = [f"r.experiment_id IN ({','.join('?' * len(ids))})", "r.lifecycle_stage = ?"]
        where_sql = " AND ".join(where + self.where)
        where_args = [*ids, "active", *self.where_args]
        indexed = reader.read_indexes()
        rows = self._lead_metric_rows(reader, where_sql, where_args, offset, limit, indexed)
        # without the read indexes every page is a pass over the runs: PostgreSQL then counts
        # in that same pass; else the count is asked alone (an index-only scan)
        counted = reader.dialect == "postgresql" and not indexed and rows is None
        if rows is None:
            rows = reader.rows(
                f"SELECT r.run_uuid{', COUNT(*) OVER ()' * counted} FROM runs r "
                f"{' '.join(self.joins)} WHERE {where_sql} "
                f"ORDER BY {', '.join(self.order)} LIMIT ? OFFSET ?",
                [*self.join_args, *where_args, limit, offset],
            )
        if counted and rows:
            total = [(rows[0][1],)]
        else:
            total = reader.rows(f"SELECT COUNT(*) FROM runs r WHERE {where_sql}", where_args)
        runs = load_runs(reader, [row[0] for row in rows])
        return RunPage(runs, int(total[0][0]), offset, limit)

    def _lead_metric_rows(
        self, reader: Reader, where_sql: str, where_args: list, offset: int, limit: int, indexed
    ) -> list[tuple[Any, ...]] | None:
        """The page when it lies among the runs whose first sort metric has a (non-NaN) value,
        which come first in MLflow's order: read in value order through the metric read index,
        stopping after ``offset + limit`` runs. None: not applicable, or the page goes past them.
        """
        if not (self.lead_metric and "jupyter_mlops_latest_metrics_key_value" in indexed):
            return None
        joins = [self.joins[0].replace("LEFT JOIN", "JOIN", 1) + " AND NOT o0.is_nan"]
        rows = reader.rows(
            f"SELECT r.run_uuid FROM runs r {' '.join(joins + self.joins[1:])} "
            f"WHERE {where_sql} ORDER BY {', '.join(self.order[1:])} LIMIT ?",
            [*self.join_args, *where_args, offset + limit],
        )
        return rows[offset:] if len(rows) == offset + limit else None


def _nulls_last(dialect: str, column: str, direction: str) -> list[str]:
    """MLflow's ``CASE WHEN x IS NULL THEN 1 ELSE 0 END, x <dir>``; PostgreSQL's equal
    ``NULLS LAST`` form can follow an index."""
    if dialect == "postgresql":
        return [f"{column}{direction} NULLS LAST"]
    return [f"(CASE WHEN {column} IS NULL THEN 1 ELSE 0 END)", column + direction]


def load_runs(reader: Reader, run_ids: list[str]) -> list[RunSummary]:
    """Summaries of the given runs, in the given order, as MLflow's ``Run`` entities hold them."""
    if not run_ids:
        return []
    marks = ",".join("?" * len(run_ids))
    by_id: dict[str, RunSummary] = {}
    for rid, name, exp, status, start, end in reader.rows(
        "SELECT run_uuid, name, experiment_id, status, start_time, end_time FROM runs "
        f"WHERE run_uuid IN ({marks})",
        run_ids,
    ):
        by_id[rid] = RunSummary(rid, name, str(exp), status, start, end)
    for rid, key, value, is_nan in reader.rows(
        f"SELECT run_uuid, key, value, is_nan FROM latest_metrics WHERE run_uuid IN ({marks})",
        run_ids,
    ):
        by_id[rid].metrics[key] = math.nan if is_nan else float(value)
    for table, attr in (("params", "params"), ("tags", "tags")):
        for rid, key, value in reader.rows(
            f"SELECT run_uuid, key, value FROM {table} WHERE run_uuid IN ({marks})", run_ids
        ):
            getattr(by_id[rid], attr)[key] = value
    for rid, name, digest, stype, source, context in reader.rows(
        "SELECT i.destination_id, d.name, d.digest, d.dataset_source_type, d.dataset_source, "
        "COALESCE(t.value, '') FROM inputs i JOIN datasets d ON d.dataset_uuid = i.source_id "
        "LEFT JOIN input_tags t ON t.input_uuid = i.input_uuid AND t.name = ? "
        "WHERE i.source_type = 'DATASET' AND i.destination_type = 'RUN' "
        f"AND i.destination_id IN ({marks})",
        [DATASET_CONTEXT_TAG, *run_ids],
    ):
        version = {"name": name, "digest": digest, "source_type": stype, "source": source}
        by_id[rid].data_versions.append({**version, "context": context})
    return [by_id[rid] for rid in run_ids if rid in by_id]


def run_keys(reader: Reader, experiment_ids: list[str]) -> dict[str, list[str]]:
    """Sorted metric and param names of the active runs of the experiments.

    Walks the distinct keys through the (key, run_uuid) primary-key index — one ``MIN(key)``
    probe per key — and keeps a key when one active run of the experiments has it, instead of
    reading every row of the experiment.
    """
    ids = [int(e) for e in experiment_ids]
    marks = ",".join("?" * len(ids))
    out: dict[str, list[str]] = {}
    for table, name in (("latest_metrics", "metrics"), ("params", "params")):
        found: list[str] = []
        key: str | None = ""
        while True:
            key = reader.rows(f"SELECT MIN(key) FROM {table} WHERE key > ?", [key])[0][0]
            if key is None:
                break
            if reader.rows(
                f"SELECT 1 FROM {table} e JOIN runs r ON r.run_uuid = e.run_uuid "
                f"WHERE e.key = ? AND r.experiment_id IN ({marks}) "
                "AND r.lifecycle_stage = 'active' LIMIT 1",
                [key, *ids],
            ):
                found.append(key)
        out[name] = sorted(found)  # the walk follows the database's collation
    return out


def _one_workspace(reader: Reader) -> None:
    if "workspace" in reader.columns("experiments"):
        spaces = reader.rows("SELECT DISTINCT workspace FROM experiments LIMIT 2")
        if len(spaces) > 1 or (spaces and spaces[0][0] != "default"):
            raise MlflowDecides


def experiment(reader: Reader, experiment_id: str) -> dict[str, Any] | None:
    """One experiment (any lifecycle stage, as ``get_experiment``), None when unknown."""
    _one_workspace(reader)
    rows = reader.rows(
        "SELECT experiment_id, name, lifecycle_stage FROM experiments WHERE experiment_id = ?",
        [int(experiment_id)],
    )
    if not rows:
        return None
    found = rows[0]
    return {"experiment_id": str(found[0]), "name": found[1], "lifecycle_stage": found[2]}


def experiments(reader: Reader) -> list[dict[str, Any]]:
    """Active experiments, most recently updated first, as ``search_experiments`` lists them."""
    _one_workspace(reader)
    rows = reader.rows(
        "SELECT experiment_id, name, lifecycle_stage, last_update_time FROM experiments "
        "WHERE lifecycle_stage = 'active' ORDER BY last_update_time DESC, experiment_id ASC"
    )
    return [
        {"experiment_id": str(i), "name": n, "lifecycle_stage": stage, "last_update_time": t}
        for i, n, stage, t in rows
    ]
