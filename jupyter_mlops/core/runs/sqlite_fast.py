"""Direct, read-only SQL over MLflow's sqlite tables: the fast path of ``core.runs``.

Semantics mirror mlflow/store/tracking/sqlalchemy_store.py: active runs only; metric filters
never match NaN (except "!="); sorting puts NaN then missing values last, ties broken by
start_time DESC then run id. Anything else (dataset filters, RLIKE) is left to MLflow.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from typing import Any

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


def _compare(column: str, comparator: str, value: Any) -> tuple[str, list[Any]] | None:
    """``column <op> ?`` for one MLflow comparator, None when not translatable."""
    if comparator in _PLAIN_OPS:
        return f"{column} {comparator} ?", [value]
    if comparator == "ILIKE":
        return f"lower({column}) LIKE lower(?)", [value]
    if comparator in ("IN", "NOT IN"):
        marks = ",".join("?" * len(value))
        return f"{column} {comparator} ({marks})", list(value)
    return None


def _filter_clause(item: dict[str, Any]) -> tuple[str, list[Any]] | None:
    kind, key, comparator = item["type"], item["key"], item["comparator"].upper()
    key = _translate_key(key)
    value = item["value"]
    if kind == "attribute":
        if key == "run_name":  # MLflow filters names on the mlflow.runName tag
            kind, key = "tag", "mlflow.runName"
        elif key in _ATTR_COLUMNS:
            return _compare(_ATTR_COLUMNS[key], comparator, value)
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
    compared = _compare("e.value", comparator, value)
    if compared is None:
        return None
    condition, args = compared
    if kind == "metric":
        nan = "OR e.is_nan = 1" if comparator == "!=" else "AND e.is_nan = 0"
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

    @classmethod
    def build(
        cls, filters: list[dict[str, Any]], orders: list[tuple[str, str, bool]]
    ) -> SqlPlan | None:
        """Translate parsed filters and orders, or None when any part needs MLflow itself."""
        plan = cls([], [], [], [], [])
        for item in filters:
            clause = _filter_clause(item)
            if clause is None:
                return None
            plan.where.append(clause[0])
            plan.where_args.extend(clause[1])
        seen_start = False
        for n, (kind, key, ascending) in enumerate(orders):
            direction = "" if ascending else " DESC"
            if kind == "attribute":
                if key not in _ATTR_COLUMNS:
                    return None
                column = _ATTR_COLUMNS[key]
                seen_start = seen_start or key == "start_time"
                plan.order += [f"({column} IS NULL)", column + direction]
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
                nulls = f"CASE WHEN {alias}.is_nan = 1 THEN 1 WHEN {alias}.value IS NULL THEN 2 "
                plan.order.append(nulls + "ELSE 0 END")
            else:
                plan.order.append(f"({alias}.value IS NULL)")
            plan.order.append(f"{alias}.value{direction}")
        if not seen_start:
            plan.order.append("r.start_time DESC")
        plan.order.append("r.run_uuid")
        return plan

    def page(self, db: Any, experiment_ids: list[str], offset: int, limit: int) -> RunPage:
        """Run the count and page queries, then load the page's runs."""
        ids = [int(e) for e in experiment_ids]
        where = [f"r.experiment_id IN ({','.join('?' * len(ids))})", "r.lifecycle_stage = ?"]
        where_sql = " AND ".join(where + self.where)
        where_args = [*ids, "active", *self.where_args]
        with _connect(db) as con:
            total = con.execute(f"SELECT COUNT(*) FROM runs r WHERE {where_sql}", where_args)
            total_count = int(total.fetchone()[0])
            rows = con.execute(
                f"SELECT r.run_uuid FROM runs r {' '.join(self.joins)} WHERE {where_sql} "
                f"ORDER BY {', '.join(self.order)} LIMIT ? OFFSET ?",
                [*self.join_args, *where_args, limit, offset],
            ).fetchall()
            runs = _load_runs(con, [row[0] for row in rows])
        return RunPage(runs, total_count, offset, limit)


class _connect:
    """A read-only sqlite connection with MLflow's case-sensitive LIKE, closed on exit."""

    def __init__(self, db: Any) -> None:
        from urllib.parse import quote

        self.con = sqlite3.connect(f"file:{quote(str(db))}?mode=ro", uri=True, timeout=20)
        self.con.execute("PRAGMA case_sensitive_like = true")

    def __enter__(self) -> sqlite3.Connection:
        return self.con

    def __exit__(self, *exc: object) -> None:
        self.con.close()


def _load_runs(con: sqlite3.Connection, run_ids: list[str]) -> list[RunSummary]:
    """Build summaries for the given runs, in the given order, with four small queries."""
    if not run_ids:
        return []
    marks = ",".join("?" * len(run_ids))
    by_id: dict[str, RunSummary] = {}
    for rid, name, exp, status, start, end in con.execute(
        "SELECT run_uuid, name, experiment_id, status, start_time, end_time FROM runs "
        f"WHERE run_uuid IN ({marks})",
        run_ids,
    ):
        by_id[rid] = RunSummary(rid, name, str(exp), status, start, end)
    for rid, key, value, is_nan in con.execute(
        f"SELECT run_uuid, key, value, is_nan FROM latest_metrics WHERE run_uuid IN ({marks})",
        run_ids,
    ):
        by_id[rid].metrics[key] = math.nan if is_nan else float(value)
    for table, attr in (("params", "params"), ("tags", "tags")):
        for rid, key, value in con.execute(
            f"SELECT run_uuid, key, value FROM {table} WHERE run_uuid IN ({marks})", run_ids
        ):
            getattr(by_id[rid], attr)[key] = value
    for rid, name, digest, stype, source, context in con.execute(
        "SELECT i.destination_id, d.name, d.digest, d.dataset_source_type, d.dataset_source, "
        "COALESCE(t.value, '') FROM inputs i JOIN datasets d ON d.dataset_uuid = i.source_id "
        "LEFT JOIN input_tags t ON t.input_uuid = i.input_uuid AND t.name = ? "
        f"WHERE i.source_type = 'DATASET' AND i.destination_type = 'RUN' "
        f"AND i.destination_id IN ({marks})",
        [DATASET_CONTEXT_TAG, *run_ids],
    ):
        by_id[rid].data_versions.append(
            {
                "name": name,
                "digest": digest,
                "source_type": stype,
                "source": source,
                "context": context,
            }
        )
    return [by_id[rid] for rid in run_ids if rid in by_id]


def run_keys(db: Any, experiment_ids: list[str]) -> dict[str, list[str]]:
    """Sorted metric and param names of the active runs of the experiments.

    Walks the distinct keys through the (key, run_uuid) primary-key index — one ``MIN(key)``
    probe per key — and keeps a key when one active run of the experiments has it, instead of
    reading every row of the experiment.
    """
    ids = [int(e) for e in experiment_ids]
    marks = ",".join("?" * len(ids))
    out: dict[str, list[str]] = {}
    with _connect(db) as con:
        for table, name in (("latest_metrics", "metrics"), ("params", "params")):
            found, key = [], ""
            while True:
                row = con.execute(f"SELECT MIN(key) FROM {table} WHERE key > ?", [key])
                key = row.fetchone()[0]
                if key is None:
                    break
                hit = con.execute(
                    f"SELECT 1 FROM {table} e JOIN runs r ON r.run_uuid = e.run_uuid "
                    f"WHERE e.key = ? AND r.experiment_id IN ({marks}) "
                    "AND r.lifecycle_stage = 'active' LIMIT 1",
                    [key, *ids],
                ).fetchone()
                if hit:
                    found.append(key)
            out[name] = found
    return out


class MlflowDecides(Exception):
    """The store holds experiments of several MLflow workspaces: which ones the caller sees is
    MLflow's decision, so the caller asks MLflow instead."""


def _one_workspace(con: sqlite3.Connection) -> None:
    columns = {row[1] for row in con.execute("PRAGMA table_info(experiments)")}
    if "workspace" in columns:
        spaces = con.execute("SELECT DISTINCT workspace FROM experiments LIMIT 2").fetchall()
        if len(spaces) > 1 or (spaces and spaces[0][0] != "default"):
            raise MlflowDecides


def experiment(db: Any, experiment_id: str) -> dict[str, Any] | None:
    """One experiment (any lifecycle stage, as ``get_experiment``), None when unknown."""
    with _connect(db) as con:
        _one_workspace(con)
        row = con.execute(
            "SELECT experiment_id, name, lifecycle_stage FROM experiments WHERE experiment_id = ?",
            [int(experiment_id)],
        ).fetchone()
    if row is None:
        return None
    return {"experiment_id": str(row[0]), "name": row[1], "lifecycle_stage": row[2]}


def experiments(db: Any) -> list[dict[str, Any]]:
    """Active experiments, most recently updated first, as ``search_experiments`` lists them."""
    with _connect(db) as con:
        _one_workspace(con)
        rows = con.execute(
            "SELECT experiment_id, name, lifecycle_stage, last_update_time FROM experiments "
            "WHERE lifecycle_stage = 'active' ORDER BY last_update_time DESC, experiment_id ASC"
        ).fetchall()
    return [
        {"experiment_id": str(i), "name": n, "lifecycle_stage": stage, "last_update_time": t}
        for i, n, stage, t in rows
    ]
