"""``sync()``: replay the runs spooled while the tracking store was unreachable (twin of
``%mlops_sync`` and ``jupyter mlops sync``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from jupyter_mlops.core.errors import UsageProblem
from jupyter_mlops.core.store import get_client, redact_uri, resolve_tracking_uri
from jupyter_mlops.core.tracking import inflight, journal, quarantine, spool
from jupyter_mlops.core.tracking.journal import DeliveryStatus
from jupyter_mlops.core.tracking.spool import ReplayResult

__all__ = ["ReplayResult", "delivery_status", "spooled_runs", "sync"]

BUSY_WAIT_S = 30.0  # how long sync waits for another process delivering the same journal


def _spool_folder(spool_dir: str | os.PathLike[str] | None) -> Path | None:
    """The spool folder asked for (None: the user's default); UsageProblem when not a folder."""
    if spool_dir is None:
        return None
    folder = Path(spool_dir).expanduser()
    try:
        found = bool(str(spool_dir).strip()) and folder.is_dir()
    except OSError:  # a name too long for the file system, ...
        found = False
    if not found:
        raise UsageProblem(f"no spool directory {str(spool_dir)[:200]!r}")
    return folder


def sync(
    tracking_uri: str | None = None,
    spool_dir: str | os.PathLike[str] | None = None,
    requeue: bool = False,
) -> ReplayResult:
    """Send every spooled run to the store (the tracking-URI rule), oldest first.

    First the in-flight markers of cells whose kernel died become KILLED entries; with
    ``requeue`` the entries quarantined because the store refused them (e.g. a permission
    granted since) go back into the journal (``result.requeued``: one line per quarantined
    entry, moved or kept). UsageProblem for a spool folder that does not exist or a URI MLflow
    cannot use; a store that is down is not an exception: ``result.error`` says why and the
    runs stay spooled.
    """
    folder = _spool_folder(spool_dir)
    uri = resolve_tracking_uri(tracking_uri)
    client = get_client(uri)
    root = folder or journal.journal_root()
    recovered = inflight.recover(root)
    requeued = quarantine.requeue(root).lines() if requeue else []
    result = spool.replay(client, folder)
    deadline = time.monotonic() + BUSY_WAIT_S
    while result.error == spool.BUSY and time.monotonic() < deadline:
        time.sleep(0.2)  # a kernel's delivery worker holds the journal: let it finish
        result = spool.replay(client, folder)
    if result.error != spool.BUSY:  # kept for `--status`, the sidebar and the summary line
        reason = f"{redact_uri(uri)}: {result.error}" if result.error else None
        journal.record_failure(root, reason)
    result.recovered, result.requeued = recovered, requeued
    return result


def spooled_runs(spool_dir: str | os.PathLike[str] | None = None) -> int:
    """How many runs wait in the spool (``--status``)."""
    return spool.pending_runs(_spool_folder(spool_dir))


def delivery_status(
    spool_dir: str | os.PathLike[str] | None = None, tracking_uri: str | None = None
) -> DeliveryStatus:
    """Pending runs, the oldest, quarantined entries and why delivery fails (``--status``);
    with ``tracking_uri``, of that store's entries (the others are counted apart)."""
    return journal.status(_spool_folder(spool_dir), tracking_uri)
