"""Sending one spooled run to a store: create its run once (found again by its spool id),
log only what the store does not hold yet, then its files, inputs and final status."""

from __future__ import annotations

import contextlib
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from jupyter_mlops.core.access import refusal
from jupyter_mlops.core.contracts import TAG_PARENT_RUN_ID, TAG_SPOOL_ID
from jupyter_mlops.core.errors import KIND_FORBIDDEN
from jupyter_mlops.core.store import ensure_experiment, retry_locked
from jupyter_mlops.core.tracking import deferred
from jupyter_mlops.core.tracking.record import MetricPoint
from jupyter_mlops.core.tracking.spool_entry import RECOVERED, SpoolEntry
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
        deferred.prepare(client, entry)
        outcome.run_id, fresh, artifact_uri = _target_run(client, entry)
        if not _settled(client, entry, outcome.run_id, fresh):
            outcome.metric_points = _send(
                client, entry, outcome.run_id, fresh, batch_size, artifact_uri
            )
            deferred.remember(client, entry, outcome.run_id)
    except Exception as exc:
        denied = refusal(exc, "EDIT", f"experiment {entry.record.experiment_name!r}")
        if denied is not None:
            # 403: not this user's to write there (this entry only: set aside); 401: whoever the
            # credentials are, every entry waits for better ones
            outcome.message = str(denied)
            outcome.refused = denied.kind == KIND_FORBIDDEN
        elif isinstance(exc, MlflowException):
            outcome.message = " ".join(str(exc).split())[:300]
            code = exc.get_http_status_code()
            # 401/403/429 are about the caller (credentials, rate), not this entry: keep it
            outcome.refused = 400 <= code < 500 and code not in (401, 403, 429)
        else:  # requests/urllib3/OS errors: the backend is not reachable
            outcome.message = " ".join(str(exc).split())[:300] or type(exc).__name__
        outcome.unavailable = not outcome.refused
    return outcome


def _settled(client: MlflowClient, entry: SpoolEntry, run_id: str, fresh: bool) -> bool:
    """A KILLED entry recovered from an in-flight marker found a run of its spool id that has
    ended: the cell's own entry was delivered (or this one was, before it could leave the
    journal). That run is left exactly as it is."""
    if fresh or RECOVERED not in entry.extras:
        return False
    return retry_locked(lambda: client.get_run(run_id)).info.status != "RUNNING"


def _existing_run(client: MlflowClient, run_id: str | None) -> str | None:
    """The artifact URI of run ``run_id`` when the store holds it, else None."""
    from mlflow.exceptions import MlflowException

    if not run_id:
        return None
    try:
        return retry_locked(lambda: client.get_run(run_id)).info.artifact_uri or ""
    except MlflowException as exc:
        if exc.get_http_status_code() == 404:
            return None
        raise


def _experiment_id(client: MlflowClient, entry: SpoolEntry) -> str:
    """The entry's experiment; a pipeline's children live in the pipeline run's experiment."""
    parent = entry.record.parent_run_id
    if parent:
        return retry_locked(lambda: client.get_run(parent)).info.experiment_id
    return ensure_experiment(client, entry.record.experiment_name, entry.tracking_uri)


def _target_run(client: MlflowClient, entry: SpoolEntry) -> tuple[str, bool, str | None]:
    """The server run to log into, whether this replay just created it (so it is empty), and
    its artifact URI (None: ask the store)."""
    from mlflow.entities import ViewType

    rec = entry.record
    for known in (rec.run_id, entry.resumed_run_id):
        artifact_uri = _existing_run(client, known)
        if artifact_uri is not None:
            return str(known), False, artifact_uri or None
    exp_id = _experiment_id(client, entry)
    # An earlier replay may have died between creating the run and writing progress.json;
    # an entry never attempted cannot have a run yet (one round trip saved per cell).
    if entry.attempted:
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
            return found[0].info.run_id, False, found[0].info.artifact_uri
    entry.mark_attempt()
    tags = {**rec.tags, TAG_SPOOL_ID: entry.spool_id}
    if rec.parent_run_id:
        tags[TAG_PARENT_RUN_ID] = rec.parent_run_id
    run = retry_locked(
        lambda: client.create_run(
            exp_id, start_time=rec.start_time_ms, tags=tags, run_name=rec.run_name
        )
    )
    entry.mark_created(run.info.run_id)
    return run.info.run_id, True, run.info.artifact_uri


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
    client: MlflowClient,
    entry: SpoolEntry,
    run_id: str,
    fresh: bool,
    batch_size: int,
    artifact_uri: str | None = None,
) -> int:
    """Log what the server does not hold yet; then files, inputs and the final status.

    Against a server the independent calls go out together (each waits a round trip)."""
    rec = entry.record
    params, points = dict(rec.params), list(rec.metrics)
    tags = {} if fresh else {**rec.tags, TAG_SPOOL_ID: entry.spool_id}  # fresh: set at create
    if not fresh:
        held = retry_locked(lambda: client.get_run(run_id)).data.params
        params = {k: v for k, v in params.items() if k not in held}  # MLflow params: write-once
        points = _unsent_metrics(client, run_id, points)
    send = replace(rec, run_id=run_id, params=params, tags=tags, metrics=[])
    size = max(1, min(batch_size, BATCH_METRICS))
    first, points_rest = points[:size], points[size:]
    calls: list[Callable[[], None]] = [
        lambda: log_values(client, replace(send, metrics=first)),
        lambda: log_inputs(client, send),
        lambda: log_files(client, send, artifact_uri),
    ]
    _run_all(calls, parallel=client.tracking_uri.startswith(("http://", "https://")))
    for start in range(0, len(points_rest), size):  # long histories: one batch at a time
        log_values(
            client, replace(send, params={}, tags={}, metrics=points_rest[start : start + size])
        )
    if rec.status != "RUNNING":
        # set_terminated prints two "View run ..." lines per run for a server: not per replay
        with contextlib.redirect_stdout(io.StringIO()):
            retry_locked(lambda: client.set_terminated(run_id, rec.status, rec.end_time_ms))
    return len(points)


def _run_all(calls: list[Callable[[], None]], parallel: bool) -> None:
    """Run ``calls``, at once on a few threads when ``parallel``; the first error is raised."""
    if not parallel:
        for call in calls:
            call()
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(8, len(calls))) as pool:
        for future in [pool.submit(call) for call in calls]:
            future.result()
