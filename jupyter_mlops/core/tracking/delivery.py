"""Delivering a tracked cell's record: write it into its run and close it, or spool it when
the store fails; and replay what earlier cells spooled once the store answers again."""

from __future__ import annotations

import contextlib

from jupyter_mlops.core import access, store
from jupyter_mlops.core.errors import first_line
from jupyter_mlops.core.tracking import spool
from jupyter_mlops.core.tracking.runstate import RunState
from jupyter_mlops.core.tracking.writer import log_record, sanitise


def deliver(run: RunState) -> bool:
    """Write the record into its run and close it; spool it when MLflow fails (True)."""
    import mlflow

    record = run.record
    run.messages.extend(sanitise(record))
    if run.client is not None and record.run_id:
        try:
            log_record(run.client, record, run.written_tags, run.artifact_uri)
            store.retry_locked(lambda: mlflow.end_run(status=record.status))
            return False
        except Exception as exc:
            denied = access.refusal(exc, "EDIT", f"experiment {record.experiment_name!r}")
            run.refused = run.refused or denied is not None
            run.messages.append(
                f"run not fully logged: {denied}"
                if denied
                else f"tracking store failed mid-run ({first_line(exc)})"
            )
            with contextlib.suppress(Exception):
                mlflow.end_run(status=record.status)
    if run.refused:  # a replay would be refused the same way
        return False
    return _spool_record(run)


def _spool_record(run: RunState) -> bool:
    try:
        spool.spool_run(run.record, tracking_uri=run.uri)
    except Exception as exc:
        run.messages.append(f"run not logged, spool failed: {first_line(exc)}")
        return False
    run.messages.append("tracking server unreachable: 1 run spooled (replayed later)")
    return True


def replay_spool(run: RunState) -> None:
    """Send runs spooled by earlier cells to the store this cell just reached."""
    if run.client is None:
        return
    try:
        if spool.pending_runs() == 0:
            return
        result = spool.replay(run.client)
    except Exception as exc:
        run.messages.append(f"offline runs not replayed yet: {first_line(exc)}")
        return
    if result.runs_replayed or result.skipped or result.error:
        run.messages.append(result.summary())
