"""The journal: every tracked cell's record is written here durably before the cell returns,
and a background worker of the kernel delivers it to the tracking store.

The journal is the spool folder (``spool.default_spool_dir``, ``$JUPYTER_MLOPS_SPOOL_DIR``):
one mechanism for "offline" and "not delivered yet". The worker is a daemon thread started
with the first entry and woken by each new one; replay (``spool.replay``) is idempotent, keeps
original timestamps and holds a lock across processes, so the next kernel, ``%mlops_sync`` or
``jupyter mlops sync`` can finish whatever a dead kernel left. The last delivery failure is
kept in ``<journal>/.delivery.json`` for the server and the CLI.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import threading
import time
from pathlib import Path

from jupyter_mlops.core import store
from jupyter_mlops.core.contracts import ENV_DELIVERY_TIMEOUT, ENV_JOURNAL_FSYNC
from jupyter_mlops.core.errors import first_line
from jupyter_mlops.core.tracking import inflight, spool
from jupyter_mlops.core.tracking.journal_status import STATUS_FILE as STATUS_FILE  # re-exported
from jupyter_mlops.core.tracking.journal_status import DeliveryStatus as DeliveryStatus
from jupyter_mlops.core.tracking.journal_status import record_failure, status
from jupyter_mlops.core.tracking.record import RunRecord
from jupyter_mlops.core.tracking.spool_entry import ENTRY_FILE, SpoolEntry

IDLE_WAKE_S = 60.0  # the worker looks again this often even when nobody wakes it
MAX_BACKOFF_S = 30.0  # longest wait between attempts while the store is failing
DEFAULT_DELIVERY_TIMEOUT_S = 120.0
EXIT_FLUSH_S = 60.0  # at interpreter exit, deliver for at most this long (the rest waits)
EXIT_STALL_S = 5.0  # ... and stop sooner when no entry was delivered for this long


class _Worker:
    """The kernel's delivery thread and what this process journaled."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None
        self.targets: set[tuple[Path, str]] = set()  # (journal folder, tracking URI)
        self.mine: dict[str, Path] = {}  # spool id -> entry folder, until delivered
        self.delivered: dict[str, str] = {}  # spool id -> run id
        self.records: dict[str, RunRecord] = {}  # spool id -> the cell's record, until delivered
        self.backoff = 0.0
        self.retry_at: dict[tuple[Path, str], float] = {}  # target -> next attempt (monotonic)
        self.failures: dict[tuple[Path, str], int] = {}  # target -> failures in a row
        self.reasons: dict[tuple[Path, str], str] = {}  # target -> why its last attempt failed
        self.unsynced: list[Path] = []  # entries written by cells, not flushed to disk yet
        self.notes: list[str] = []  # entries the store refused (quarantined), for the next line

    def add(
        self,
        root: Path,
        uri: str,
        spool_id: str | None = None,
        path: Path | None = None,
        unsynced: bool = False,
    ) -> None:
        """Deliver ``uri``'s entries of ``root`` from now on (and this entry in particular;
        ``unsynced``: flush it to disk first)."""
        with self.lock:
            self.targets.add((root, uri))
            self.retry_at.pop((root, uri), None)  # new work: try this store again now
            if spool_id and path is not None:
                self.mine[spool_id] = path
                if unsynced:
                    self.unsynced.append(path)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(
                    target=self._loop, name="jupyter-mlops-delivery", daemon=True
                )
                self.thread.start()
        self.wake.set()

    def _loop(self) -> None:
        while True:
            self.wake.wait(self.backoff or IDLE_WAKE_S)
            self.wake.clear()
            try:
                self.backoff = self.deliver_once()
            except Exception:  # the worker must never die; the next wake retries
                self.backoff = MAX_BACKOFF_S

    def deliver_once(self) -> float:
        """Replay every target that is due once; seconds until the next attempt (0: idle).

        A failing store is retried with its own backoff, so it never delays another store."""
        busy = False
        with self.lock:
            unsynced, self.unsynced = self.unsynced, []
            self.targets = {t for t in self.targets if t[0].is_dir()}
            targets = sorted(self.targets, key=str)
        for path in unsynced:
            with contextlib.suppress(OSError):  # delivered (and removed) meanwhile
                spool.sync_tree(path)
                spool.fsync_path(path.parent)
        for target in targets:
            if time.monotonic() < self.retry_at.get(target, 0.0):
                continue
            root, uri = target
            if spool.pending_runs(root) == 0:
                continue
            try:
                result = spool.replay(
                    store.get_client(uri),
                    root,
                    before_each=_yield_to_cells,
                    on_delivered=self.delivered_one,
                )
                error = result.error
                if result.skipped:
                    with self.lock:
                        self.notes.extend(result.skipped)
            except Exception as exc:
                error = first_line(exc)
            if error == spool.BUSY:
                busy = True
            elif error:
                self._failed(target, f"{store.redact_uri(uri)}: {error}")
            else:
                self.retry_at.pop(target, None)
                self.failures.pop(target, None)
                self.reasons.pop(target, None)
                record_failure(root, None)
        with self.lock:
            self.mine = {k: p for k, p in self.mine.items() if p.exists()}
            waits = [at - time.monotonic() for at in self.retry_at.values()]
        if busy:
            return 0.2
        return max(0.05, min(waits)) if waits else 0.0

    def delivered_one(self, spool_id: str, run_id: str) -> None:
        """Remember where an entry went; the cell's record now names its run."""
        with self.lock:
            self.delivered[spool_id] = run_id
            record = self.records.pop(spool_id, None)
        if record is not None and not record.run_id:
            record.run_id = run_id

    def _failed(self, target: tuple[Path, str], reason: str) -> None:
        count = self.failures.get(target, 0) + 1
        self.failures[target] = count
        self.reasons[target] = reason
        self.retry_at[target] = time.monotonic() + min(MAX_BACKOFF_S, 2.0 ** (count - 1))
        record_failure(target[0], reason)


_WORKER = _Worker()
_CELL = {"since": None}  # when the cell executing now started (monotonic), None when idle
YIELD_AT_MOST_S = 2.0  # a cell running longer than this no longer holds delivery back


def take_notes() -> list[str]:
    """Entries the worker quarantined since the last call (e.g. a store's permission refusal),
    one line each, for the next summary line."""
    with _WORKER.lock:
        notes, _WORKER.notes = _WORKER.notes, []
    return [f"run not logged: {note}" for note in notes]


def cell_started() -> None:
    """The kernel starts executing a cell: the worker holds back until it ends (briefly)."""
    _CELL["since"] = time.monotonic()


def cell_finished() -> None:
    """The kernel is idle again."""
    _CELL["since"] = None


def _yield_to_cells() -> None:
    """Wait while a short cell executes: the worker's Python would take the GIL from it."""
    while (since := _CELL["since"]) is not None and time.monotonic() - since < YIELD_AT_MOST_S:
        time.sleep(0.005)


def journal_root() -> Path:
    """The journal folder (the spool folder)."""
    return spool.default_spool_dir()


def write(
    record: RunRecord, uri: str, extras: dict, spool_id: str | None = None, later: bool = False
) -> Path:
    """Durably journal ``record`` for store ``uri`` (as ``spool_id`` when the cell's start chose
    it) and wake the worker; the entry's folder, named by its local id. ``later``: delivery
    waits for ``complete_context``. Raises ``TrackingUnavailable`` (one line)."""
    root, in_cell, spool_id = journal_root(), fsync_in_cell(), spool_id or spool.new_spool_id()
    path = spool.spool_run(record, root, tracking_uri=uri, spool_id=spool_id, extras=extras,
                           sync=in_cell, context_later=later)  # fmt: skip
    with _WORKER.lock:
        _WORKER.records[spool_id] = record
    _WORKER.add(root, uri, spool_id, path, unsynced=not in_cell)
    return path


def fsync_in_cell() -> bool:
    """``$JUPYTER_MLOPS_JOURNAL_FSYNC``: ``cell`` flushes each entry to disk before the cell
    returns; ``worker`` (default) lets the cell return once the entry is written (it survives
    the kernel's death) and the worker flushes it to disk at once."""
    return os.environ.get(ENV_JOURNAL_FSYNC, "").strip().lower() == "cell"


def deliver_now(record: RunRecord, uri: str, extras: dict, spool_id: str | None = None) -> str:
    """Deliver ``record`` synchronously (the journal could not be written); its run id.

    Raises ``TrackingUnavailable`` with the store's reason when it fails."""
    from jupyter_mlops.core.errors import TrackingUnavailable
    from jupyter_mlops.core.tracking.spool_send import replay_entry

    entry = SpoolEntry(None, spool_id or spool.new_spool_id(), uri, record, None, extras, False)
    outcome = replay_entry(store.get_client(uri), entry, 1000)
    if outcome.unavailable or outcome.refused:
        raise TrackingUnavailable(outcome.message)
    return str(outcome.run_id)


def resume(uri: str) -> None:
    """Deliver what dead kernels left for ``uri``: entries, and in-flight cells (as KILLED)."""
    root = journal_root()
    if inflight.recover(root) or spool.pending_runs(root):
        _WORKER.add(root, uri)


def pending() -> int:
    """Entries this process journaled into the journal folder in use, not delivered yet."""
    root = journal_root()
    with _WORKER.lock:
        return sum(1 for p in _WORKER.mine.values() if p.parent == root and p.exists())


def failing(uri: str) -> str | None:
    """Why this kernel's last delivery to ``uri`` failed (None: it works or was not tried)."""
    with _WORKER.lock:
        return next((r for (_root, u), r in _WORKER.reasons.items() if u == uri), None)


def wait_for_delivery(timeout: float = 30.0) -> bool:
    """Wait until every entry this process journaled is delivered; False on timeout."""
    deadline = time.monotonic() + timeout
    cell_finished()  # the cell now waits for delivery itself: the worker must not hold back
    _WORKER.wake.set()
    while pending():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def run_id_of(spool_id: str, uri: str, timeout: float = 30.0) -> str | None:
    """The run entry ``spool_id`` was delivered into (waits for it up to ``timeout``)."""
    deadline = time.monotonic() + timeout
    _WORKER.wake.set()
    while True:
        with _WORKER.lock:
            found = _WORKER.delivered.get(spool_id)
            waiting = spool_id in _WORKER.mine and _WORKER.mine[spool_id].exists()
        if found or (not waiting) or time.monotonic() >= deadline:
            break
        time.sleep(0.02)
    return found or _search_delivered(spool_id, uri)


def _search_delivered(spool_id: str, uri: str) -> str | None:
    """Find a run delivered by another process through its spool id tag."""
    from jupyter_mlops.core.contracts import TAG_SPOOL_ID

    with contextlib.suppress(Exception):
        client = store.get_client(uri)
        experiments = [e.experiment_id for e in client.search_experiments(max_results=1000)]
        found = client.search_runs(
            experiments, filter_string=f"tags.`{TAG_SPOOL_ID}` = '{spool_id}'", max_results=1
        )
        if found:
            return found[0].info.run_id
    return None


def delivery_timeout() -> float:
    """``$JUPYTER_MLOPS_DELIVERY_TIMEOUT`` seconds (default 120): how long CI steps wait."""
    text = os.environ.get(ENV_DELIVERY_TIMEOUT, "").strip()
    try:
        return max(0.0, float(text)) if text else DEFAULT_DELIVERY_TIMEOUT_S
    except ValueError:
        return DEFAULT_DELIVERY_TIMEOUT_S


def _pending_for(root: Path, uri: str) -> int:
    count = 0
    for path in spool.entry_dirs(root):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            meant = json.loads((path / ENTRY_FILE).read_text()).get("tracking_uri") or ""
            count += meant.rstrip("/") == uri.rstrip("/")
    return count


def deliver_pending(uri: str, timeout: float | None = None, root: Path | None = None) -> None:
    """Deliver every journaled run meant for store ``uri`` before returning (``jupyter mlops
    run`` and ``gate`` call this so no gate reads a half-delivered run).

    Raises ``TrackingUnavailable`` (one line) when runs are still waiting after ``timeout``."""
    from jupyter_mlops.core.errors import TrackingUnavailable

    folder = root if root is not None else journal_root()
    limit = delivery_timeout() if timeout is None else timeout
    deadline = time.monotonic() + limit
    reason = None
    while (left := _pending_for(folder, uri)) > 0:
        if time.monotonic() >= deadline:
            why = f" (delivery failing: {reason})" if reason else ""
            raise TrackingUnavailable(
                f"{left} tracked run(s) not delivered to {store.redact_uri(uri)} within "
                f"{limit:.0f} s{why}; see `jupyter mlops sync --status`"
            )
        try:
            result = spool.replay(store.get_client(uri), folder)
            reason = None if result.error == spool.BUSY else result.error
        except Exception as exc:
            reason = first_line(exc)
        if reason:
            record_failure(folder, f"{store.redact_uri(uri)}: {reason}")
        if _pending_for(folder, uri):
            time.sleep(0.2 if reason is None else 1.0)


def _flush_at_exit() -> None:
    """At interpreter exit (a script using ``track()``), deliver while delivery progresses."""
    left, last_progress = pending(), time.monotonic()
    deadline = last_progress + EXIT_FLUSH_S
    while left and time.monotonic() < min(deadline, last_progress + EXIT_STALL_S):
        wait_for_delivery(0.2)
        if pending() < left:
            left, last_progress = pending(), time.monotonic()


atexit.register(_flush_at_exit)

__all__ = ["ENTRY_FILE", "DeliveryStatus", "pending", "status", "wait_for_delivery", "write"]
