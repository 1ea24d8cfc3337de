"""Run queries for tables of runs: one sorted, filtered page at a time, without loading them all.

On a sqlite or PostgreSQL store (or a tracking server with a read URI, see ``fast_path``) the
page is chosen by SQL over MLflow's own tables, read-only (``sql_runs``), so sorting 100,000
runs by a metric costs one query; only the page's params, metrics and tags are then loaded.
Other stores, and filters that module cannot translate exactly, go through
``MlflowClient.search_runs`` with the same semantics. Nothing is cached: every call sees the
store as it is now.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from jupyter_mlops.core.errors import NotFound, TrackingUnavailable, UsageProblem, first_line
from jupyter_mlops.core.runs.fast_path import FastSource, fast_source
from jupyter_mlops.core.runs.page import DATASET_CONTEXT_TAG, RunPage, RunSummary
from jupyter_mlops.core.runs.search_args import (
    INT64,
    parse_filter,
    parse_order,
)
from jupyter_mlops.core.runs.sql_runs import MlflowDecides, Reader, SqlUnavailable
from jupyter_mlops.core.store import get_client, redact_uri

_LOWER_IS_BETTER = ("loss", "error", "err", "mse", "rmse", "mae", "mape", "perplexity", "latency")
MAX_ORDER_CLAUSES = 20  # each metric/param clause is one join; sqlite allows 64 tables per query


@contextmanager
def store_errors(tracking_uri: str, what: str) -> Iterator[None]:
    """MLflow failures while ``what`` as our errors: ``NotFound``, a refused argument as a
    ``UsageProblem``, anything else (unreachable server, broken store) ``TrackingUnavailable``."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise NotFound(f"{what}: {exc.message.strip().splitlines()[0][:300]}") from exc
        if exc.error_code in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST"):
            raise UsageProblem(f"{what}: {first_line(exc)}") from exc
        raise TrackingUnavailable(
            f"{what}: the tracking store {redact_uri(tracking_uri)} did not answer "
            f"({first_line(exc)[:200]})"
        ) from exc


def sql_id(experiment_id: str) -> bool:
    """True when an experiment id can be an id of MLflow's sqlite tables (a 64-bit integer)."""
    text = str(experiment_id)
    return text.isascii() and text.isdigit() and int(text) in INT64


def higher_is_better(metric: str) -> bool:
    """Default direction of a metric from its name: loss/error-like metrics are lower-is-better."""
    name = metric.lower()
    return not any(word in name for word in _LOWER_IS_BETTER)


def query_runs(
    tracking_uri: str,
    experiment_ids: list[str],
    *,
    filter_string: str | None = None,
    order_by: str | list[str] | None = None,
    offset: int = 0,
    limit: int = 100,
    read_uri: str | None = None,
) -> RunPage:
    """One page of active runs, ordered and filtered like ``MlflowClient.search_runs``.

    ``read_uri``: the tracking server's database (default ``JUPYTER_MLOPS_READ_URI``)."""
    if offset < 0 or limit < 0:
        raise UsageProblem("offset and limit must be non-negative")
    if not experiment_ids:
        return RunPage([], 0, offset, limit)
    orders = [order_by] if isinstance(order_by, str) else list(order_by or [])
    orders = [o for o in orders if o and o.strip()]
    if len(orders) > MAX_ORDER_CLAUSES:
        raise UsageProblem(
            f"at most {MAX_ORDER_CLAUSES} order_by clauses (MAX_ORDER_CLAUSES), got {len(orders)}"
        )
    filters = parse_filter(filter_string)
    parsed_orders = [parse_order(o) for o in orders]
    source = fast_source(tracking_uri, read_uri)
    if source is not None and all(sql_id(e) for e in experiment_ids):
        from jupyter_mlops.core.runs.sql_runs import SqlPlan

        plan = SqlPlan.build(filters, parsed_orders, source.dialect)
        if plan is not None:
            try:
                with source.reader() as reader:
                    _confirm_readable(source, reader, experiment_ids)
                    return plan.page(reader, experiment_ids, offset, limit)
            except SqlUnavailable:
                pass  # an unknown schema, an unreachable database: MLflow's own query decides
    return _query_with_client(tracking_uri, experiment_ids, filter_string, orders, offset, limit)


def _confirm_readable(source: FastSource, reader: Reader, experiment_ids: list[str]) -> None:
    """Through a read URI: each experiment must be readable through the tracking server with
    the caller's credentials (else MLflow's one-line refusal) and be the same experiment in the
    database (else ``SqlUnavailable``: MLflow answers instead)."""
    if not source.via_read_uri:
        return
    from jupyter_mlops.core.access import refusal
    from jupyter_mlops.core.runs.sql_runs import experiment

    client = get_client(tracking_uri := source.tracking_uri)
    for experiment_id in experiment_ids:
        with store_errors(tracking_uri, f"reading experiment {experiment_id}"):
            try:
                served = client.get_experiment(experiment_id)
            except Exception as exc:  # a 401/403 is one permission line, not "did not answer"
                denied = refusal(exc, "READ", f"experiment {experiment_id}")
                if denied is None:
                    raise
                raise denied from exc
        stored = experiment(reader, experiment_id)
        if stored is None or stored["name"] != served.name:
            raise SqlUnavailable("the read URI holds another store than the tracking server")


def list_experiments(tracking_uri: str) -> list[dict[str, Any]]:
    """Active experiments, most recently updated first (id, name, stage, last update time).

    Read straight from a sqlite or PostgreSQL store (no MLflow import: a fresh server answers
    at once), else through ``MlflowClient.search_experiments``.
    """
    source = fast_source(tracking_uri)
    if source is not None and not source.via_read_uri:
        from jupyter_mlops.core.runs.sql_runs import experiments

        try:
            with source.reader() as reader:
                return experiments(reader)
        except (SqlUnavailable, MlflowDecides):
            pass  # not (yet) an MLflow schema we know, or several workspaces: MLflow decides
    with store_errors(tracking_uri, "listing experiments"):
        listed = get_client(tracking_uri).search_experiments(
            max_results=1000, order_by=["last_update_time DESC"]
        )
    return [
        {
            "experiment_id": e.experiment_id,
            "name": e.name,
            "lifecycle_stage": e.lifecycle_stage,
            "last_update_time": e.last_update_time,
        }
        for e in listed
    ]


def find_experiment(tracking_uri: str, experiment_id: str) -> dict[str, Any] | None:
    """One experiment by id (any lifecycle stage): id, name, stage; None when unknown."""
    source = fast_source(tracking_uri)
    text = str(experiment_id)
    if source is not None and not source.via_read_uri and text.isascii() and text.isdigit():
        if not sql_id(text):
            return None  # beyond MLflow's 64-bit ids: no such experiment can exist
        from jupyter_mlops.core.runs.sql_runs import experiment

        try:
            with source.reader() as reader:
                return experiment(reader, experiment_id)
        except (SqlUnavailable, MlflowDecides):
            pass
    try:
        with store_errors(tracking_uri, f"reading experiment {experiment_id}"):
            found = get_client(tracking_uri).get_experiment(experiment_id)
    except NotFound:
        return None
    if found is None:
        return None
    return {
        "experiment_id": found.experiment_id,
        "name": found.name,
        "lifecycle_stage": found.lifecycle_stage,
    }


def get_run_summary(tracking_uri: str, run_id: str) -> RunSummary:
    """The summary of one run by id (any lifecycle stage)."""

    try:
        with store_errors(tracking_uri, f"reading run {run_id}"):
            run = get_client(tracking_uri).get_run(run_id)
    except NotFound as exc:
        raise UsageProblem(f"no run with id {run_id!r} in {redact_uri(tracking_uri)}") from exc
    return summary_from_run(run)


def summary_from_run(run: Any) -> RunSummary:
    """Convert an MLflow ``Run`` entity into a ``RunSummary``."""
    versions = []
    for dataset_input in run.inputs.dataset_inputs if run.inputs else []:
        ds = dataset_input.dataset
        context = next((t.value for t in dataset_input.tags if t.key == DATASET_CONTEXT_TAG), "")
        versions.append(
            {
                "name": ds.name,
                "digest": ds.digest,
                "source_type": ds.source_type,
                "source": ds.source,
                "context": context,
            }
        )
    return RunSummary(
        run_id=run.info.run_id,
        run_name=run.info.run_name,
        experiment_id=str(run.info.experiment_id),
        status=run.info.status,
        start_time=run.info.start_time,
        end_time=run.info.end_time,
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
        tags=dict(run.data.tags),
        data_versions=versions,
    )


def _query_with_client(
    tracking_uri: str,
    experiment_ids: list[str],
    filter_string: str | None,
    orders: list[str],
    offset: int,
    limit: int,
) -> RunPage:
    """Fallback for non-sqlite stores: page through ``search_runs`` (it has no total count)."""
    from mlflow.exceptions import MlflowException

    client = get_client(tracking_uri)
    rows: list[Any] = []
    total = 0
    token = None
    try:
        while True:
            page = client.search_runs(
                experiment_ids,
                filter_string=filter_string or "",
                order_by=orders or None,
                max_results=1000,
                page_token=token,
            )
            for run in page:
                if offset <= total < offset + limit:
                    rows.append(run)
                total += 1
            token = page.token
            if not token:
                break
    except MlflowException as exc:
        if exc.error_code == "INVALID_PARAMETER_VALUE":
            raise UsageProblem(f"bad filter {filter_string!r}: {exc.message}") from exc
        raise TrackingUnavailable(f"searching runs failed: {exc.message}") from exc
    return RunPage([summary_from_run(r) for r in rows], total, offset, limit)


def experiment_ids_for(tracking_uri: str, experiment: str | None = None) -> list[str]:
    """Experiment ids for a name or id; None means the active experiment, else all active ones."""
    with store_errors(tracking_uri, "finding the experiment"):
        return _experiment_ids(get_client(tracking_uri), tracking_uri, experiment)


def _experiment_ids(client: Any, tracking_uri: str, experiment: str | None) -> list[str]:
    import mlflow

    implicit = experiment is None
    if implicit:
        experiment = _current_experiment_name()
    if experiment is None:
        from jupyter_mlops.core.mlflow_internals import active_experiment_id

        active = active_experiment_id()
        if active:
            return [active]
        return [e.experiment_id for e in client.search_experiments()]
    found = client.get_experiment_by_name(experiment)
    if found is None and experiment.isdigit():
        try:
            found = client.get_experiment(experiment)
        except mlflow.exceptions.MlflowException:
            found = None
    if found is None:
        if implicit:  # %mlops_experiment named it, but nothing was tracked there yet
            return []
        raise UsageProblem(f"no experiment named {experiment!r} in {redact_uri(tracking_uri)}")
    return [found.experiment_id]


def _current_experiment_name() -> str | None:
    """The experiment of ``%mlops_experiment`` / ``MLFLOW_EXPERIMENT_NAME``, if any was set."""
    import os

    from jupyter_mlops.core.active import default_experiment

    return default_experiment() or os.environ.get("MLFLOW_EXPERIMENT_NAME") or None


def run_keys(
    tracking_uri: str, experiment_ids: list[str], read_uri: str | None = None
) -> dict[str, list[str]]:
    """Sorted metric and param names used by the active runs of the experiments."""
    source = fast_source(tracking_uri, read_uri)
    if source is not None and all(sql_id(e) for e in experiment_ids):
        from jupyter_mlops.core.runs.sql_runs import run_keys as sql_keys

        try:
            with source.reader() as reader:
                _confirm_readable(source, reader, experiment_ids)
                return sql_keys(reader, experiment_ids)
        except SqlUnavailable:
            pass
    page = query_runs(tracking_uri, experiment_ids, limit=1000, read_uri=read_uri)
    metrics = sorted({k for r in page.runs for k in r.metrics})
    params = sorted({k for r in page.runs for k in r.params})
    return {"metrics": metrics, "params": params}


def metric_histories(
    tracking_uri: str, run_ids: list[str], key: str
) -> dict[str, list[tuple[int, float]]]:
    """Per run id, the (step, value) history of one metric — fetched only for the given runs."""
    client = get_client(tracking_uri)
    out: dict[str, list[tuple[int, float]]] = {}
    for run_id in run_ids:
        with store_errors(tracking_uri, f"reading the {key} history of run {run_id}"):
            history = client.get_metric_history(run_id, key)
        out[run_id] = sorted((m.step, m.value) for m in history)
    return out


def cell_source(tracking_uri: str, run_id: str, path: str = "cell/source.py") -> str | None:
    """The text of a run's cell-source artifact, None when the run has none."""
    import tempfile

    from mlflow.exceptions import MlflowException

    client = get_client(tracking_uri)
    folder, _, _name = path.rpartition("/")
    try:
        listed = {f.path for f in client.list_artifacts(run_id, folder or None)}
        if path not in listed:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            local = client.download_artifacts(run_id, path, tmp)
            with open(local, encoding="utf-8", errors="replace") as handle:
                return handle.read()
    except (MlflowException, OSError):
        return None
