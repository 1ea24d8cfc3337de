"""Sending one spooled run to a store: create its run once (found again by its spool id),
log only what the store does not hold yet, then its files, inputs and final status."""

from __future__ import annotations

import contextlib
import io
from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from jupyter_mlops.core.contracts import TAG_PARENT_RUN_ID, TAG_SPOOL_ID
from jupyter_mlops.core.store import ensure_experiment, retry_locked
from jupyter_mlops.core.tracking.record import MetricPoint
from jupyter_mlops.core.tracking.spool_entry import SpoolEntry
from jupyter_mlops.core.tracking.writer import BATCH_METRICS, log_files, log_inputs, log_values

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient


@dataclass
class Outcome:
    """What sending one entry did."""

    run_id: str | None = None
    metric_points: int = 0
    unavailable: bool = False  # backend down or failing: stop, keep this and later entries
    refused: bool = False  # backend rejected this entry (4xx): quarantine it
    message: str = ""


def replay_entry(client: MlflowClient, entry: SpoolEntry, batch_size: int) -> Outcome:
    """Send ``entry`` to ``client``'s store; what happened, as an ``Outcome``."""
    from mlflow.exceptions import MlflowException

    outcome = Outcome()
    try:
        outcome.run_id, fresh = _target_run(client, entry)
        outcome.metric_points = _send(client, entry, outcome.run_id, fresh, batch_size)
    except MlflowException as exc:
        outcome.message = " ".join(str(exc).split())[:300]
        code = exc.get_http_status_code()
        # 401/403/429 are about the caller (credentials, rate), not this entry: keep it
        outcome.refused = 400 <= code < 500 and code not in (401, 403, 429)
        outcome.unavailable = not outcome.refused
    except Exception as exc:  # requests/urllib3/OS errors: the backend is not reachable
        outcome.message = " ".join(str(exc).split())[:300] or type(exc).__name__
        outcome.unavailable = True
    return outcome


def _existing_run(client: MlflowClient, run_id: str | None) -> bool:
    from mlflow.exceptions import MlflowException

    if not run_id:
        return False
    try:
        retry_locked(lambda: client.get_run(run_id))
    except MlflowException as exc:
        if exc.get_http_status_code() == 404:
            return False
        raise
    return True


def _target_run(client: MlflowClient, entry: SpoolEntry) -> tuple[str, bool]:
    """The server run to log into, and whether this replay just created it (so it is empty)."""
    from mlflow.entities import ViewType

    rec = entry.record
    for known in (rec.run_id, entry.resumed_run_id):
        if _existing_run(client, known):
            return str(known), False
    exp_id = ensure_experiment(client, rec.experiment_name)
    # An earlier replay may have died between creating the run and writing progress.json.
    found = retry_locked(
        lambda: client.search_runs(
            [exp_id],
            filter_string=f"tags.`{TAG_SPOOL_ID}` = '{entry.spool_id}'",
            run_view_type=ViewType.ALL,
            max_results=1,
        )
    )
    if found:
        entry.mark_created(found[0].info.run_id)
        return found[0].info.run_id, False
    tags = {**rec.tags, TAG_SPOOL_ID: entry.spool_id}
    if rec.parent_run_id:
        tags[TAG_PARENT_RUN_ID] = rec.parent_run_id
    run = retry_locked(
        lambda: client.create_run(
            exp_id, start_time=rec.start_time_ms, tags=tags, run_name=rec.run_name
        )
    )
    entry.mark_created(run.info.run_id)
    return run.info.run_id, True


def _unsent_metrics(client: MlflowClient, run_id: str, points: list[MetricPoint]) -> list:
    """``points`` minus those the server already holds (compared as a multiset)."""

    def key(k: str, step: int, ts: int, value: float) -> tuple[str, int, int, str]:
        return k, int(step), int(ts), repr(float(value))

    held: Counter[tuple[str, int, int, str]] = Counter()
    for name in {p.key for p in points}:
        for m in retry_locked(lambda n=name: client.get_metric_history(run_id, n)):
            held[key(m.key, m.step, m.timestamp, m.value)] += 1
    todo = []
    for p in points:
        k = key(p.key, p.step, p.timestamp_ms, p.value)
        if held[k]:
            held[k] -= 1
        else:
            todo.append(p)
    return todo


def _send(
    client: MlflowClient, entry: SpoolEntry, run_id: str, fresh: bool, batch_size: int
) -> int:
    """Log what the server does not hold yet; then files, inputs and the final status."""
    rec = entry.record
    params, points = dict(rec.params), list(rec.metrics)
    tags = {} if fresh else {**rec.tags, TAG_SPOOL_ID: entry.spool_id}  # fresh: set at create
    if not fresh:
        held = retry_locked(lambda: client.get_run(run_id)).data.params
        params = {k: v for k, v in params.items() if k not in held}  # MLflow params: write-once
        points = _unsent_metrics(client, run_id, points)
    send = replace(rec, run_id=run_id, params=params, tags=tags, metrics=[])
    log_values(client, send)
    size = max(1, min(batch_size, BATCH_METRICS))
    for start in range(0, len(points), size):
        log_values(client, replace(send, params={}, tags={}, metrics=points[start : start + size]))
    log_inputs(client, send)
    log_files(client, send)
    if rec.status != "RUNNING":
        # set_terminated prints two "View run ..." lines per run for a server: not per replay
        with contextlib.redirect_stdout(io.StringIO()):
            retry_locked(lambda: client.set_terminated(run_id, rec.status, rec.end_time_ms))
    return len(points)
