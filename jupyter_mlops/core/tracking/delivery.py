"""Handing a tracked cell's record over at the end of the cell: into the journal (delivered by
the background worker), or straight to the store when the journal cannot be written."""

from __future__ import annotations

import contextlib

from jupyter_mlops.core import active
from jupyter_mlops.core.errors import TrackingUnavailable, first_line
from jupyter_mlops.core.tracking import journal
from jupyter_mlops.core.tracking.deferred import CELL_KEY
from jupyter_mlops.core.tracking.gitstate import state_fields
from jupyter_mlops.core.tracking.runstate import STATE, RunState
from jupyter_mlops.core.tracking.spool_entry import complete_context
from jupyter_mlops.core.tracking.writer import check_names

LOCAL_PREFIX = "journal:"  # STATE.last_run of a run not delivered yet: journal:<local id>
LATEST_RUN_WAIT_S = 30.0  # "the latest run" waits this long for this kernel's deliveries


def _deliver_before_lookup() -> None:
    journal.wait_for_delivery(LATEST_RUN_WAIT_S)


active.before_lookup(_deliver_before_lookup)


def hand_over(run: RunState) -> None:
    """Journal the record (a live run is left open for the worker to fill and close)."""
    record = run.record
    run.messages.extend(check_names(record))
    if run.refused:  # the store refused this user the experiment: a delivery would be too
        return
    if run.client is not None and record.run_id:
        from jupyter_mlops.core.mlflow_internals import leave_active_run

        with contextlib.suppress(Exception):
            leave_active_run()
    elif run.live_reason is not None:  # the live run could not be opened: the cell is offline
        run.spooled = True
    extras = {CELL_KEY: run.options.cell_id} if run.options.cell_id else {}
    try:
        path = journal.write(record, run.uri, extras, run.spool_id, run.context_later)
    except TrackingUnavailable as exc:
        if run.context_later:  # delivered now: wait for the git state
            tags, texts = state_fields(run.git_probe.result())
            record.tags.update(tags)
            record.texts.update(texts)
        _deliver_now(run, extras, str(exc))
        return
    run.local_id = path.name
    if run.context_later:  # the cell ended before its git probe: the entry gets the state once read
        run.git_probe.when_done(lambda state: complete_context(path, *state_fields(state)))
    if run.spooled:
        run.messages.append("tracking server unreachable: 1 run spooled (replayed later)")
    STATE.last_run = (run.uri, record.run_id or f"{LOCAL_PREFIX}{run.local_id}")


def _deliver_now(run: RunState, extras: dict, why: str) -> None:
    """The journal failed: deliver synchronously, or say in one line that nothing was logged."""
    run.spooled = False
    try:
        run_id = journal.deliver_now(run.record, run.uri, extras, run.spool_id)
    except Exception as exc:
        run.record.run_id = None
        run.messages.append(
            f"run not logged: spool failed: {why}, and the tracking store failed too "
            f"({first_line(exc)})"
        )
        return
    run.record.run_id = run_id
    run.messages.append(f"not journaled ({why}); delivered directly instead")
    STATE.last_run = (run.uri, run_id)


def resolve_last_run(uri: str, run_ref: str, timeout: float = 30.0) -> str:
    """The run id of ``STATE.last_run``'s reference, waiting for its delivery if needed."""
    if not run_ref.startswith(LOCAL_PREFIX):
        return run_ref
    found = journal.run_id_of(run_ref[len(LOCAL_PREFIX) :], uri, timeout)
    if found is None:
        raise TrackingUnavailable("--continue: the previous run is not delivered yet")
    return found
