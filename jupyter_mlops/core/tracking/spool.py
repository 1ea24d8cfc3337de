"""Offline spool: runs the tracking backend could not take are kept on disk and replayed later.

Layout of a spool directory (one directory per run, published by an atomic rename)::

    <spool>/<ns>-<hex>/entry.json      the RunRecord, artifact paths made entry-relative
    <spool>/<ns>-<hex>/files/<i>/...   private copies of the run's artifact files
    <spool>/<ns>-<hex>/progress.json   written by replay once the run exists on the server
    <spool>/<ns>-<hex>/context.pending the writer's pid: the cell ended before its git probe
    <spool>/<ns>-<hex>/context.json    ... whose tags and diff arrive here (then delivery goes on)
    <spool>/.quarantine/<id>/          corrupted or refused entries, with reason.txt and kind.txt
                                       (``quarantine``; refused ones go back with ``requeue``)
    <spool>/.inflight/<id>.json        a tracked cell running now whose run is made at delivery
                                       (``inflight``): pid, host, start; KILLED if it dies

Entries sort by the time in their id (a tracked cell's start, else when it was spooled), which
is the order they are replayed in.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_mlops.core.contracts import ENV_SPOOL_DIR
from jupyter_mlops.core.errors import TrackingUnavailable
from jupyter_mlops.core.tracking import quarantine as quarantined
from jupyter_mlops.core.tracking.quarantine import QUARANTINE as QUARANTINE  # re-exported
from jupyter_mlops.core.tracking.quarantine import quarantine_dir as quarantine_dir  # re-exported
from jupyter_mlops.core.tracking.record import ArtifactFile, RunRecord
from jupyter_mlops.core.tracking.spool_entry import (
    CONTEXT_PENDING_FILE,
    FORMAT_VERSION,
    SpoolEntry,
    fsync_path,
    wait_for_context,
)
from jupyter_mlops.core.tracking.spool_entry import ENTRY_FILE as ENTRY_FILE  # re-exported
from jupyter_mlops.core.tracking.spool_entry import is_spool_id as is_spool_id  # re-exported
from jupyter_mlops.core.tracking.spool_entry import write_durably as write_durably  # re-exported
from jupyter_mlops.core.tracking.spool_send import TAG_SPOOL_ID as TAG_SPOOL_ID  # re-exported
from jupyter_mlops.core.tracking.spool_send import replay_entry

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

_STAGING = ".staging-"
DONE = ".done-"  # an entry being removed after its delivery: .done-<id>


def default_spool_dir() -> Path:
    """``$JUPYTER_MLOPS_SPOOL_DIR``, else ``${XDG_CACHE_HOME:-~/.cache}/jupyter-mlops/spool``."""
    explicit = os.environ.get(ENV_SPOOL_DIR, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(cache) / "jupyter-mlops" / "spool"


def _root(spool_dir: Path | str | None) -> Path:
    return Path(spool_dir) if spool_dir is not None else default_spool_dir()


# --- writing -------------------------------------------------------------------------------
def _copy(src: Path, dest: Path, sync: bool) -> None:
    """Copy a file or folder (fsync every file and folder of the copy when ``sync``)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not src.is_dir():
        shutil.copyfile(src, dest)
    else:
        shutil.copytree(src, dest)
    if sync:
        sync_tree(dest)


def sync_tree(path: Path) -> None:
    """fsync ``path`` and, for a folder, every file and folder inside it."""
    if not path.is_dir():
        fsync_path(path)
        return
    for folder, _dirs, files in os.walk(path):
        for name in files:
            fsync_path(Path(folder) / name)
        fsync_path(Path(folder))


def _stage(
    record: RunRecord,
    staging: Path,
    spool_id: str,
    tracking_uri: str | None,
    extras: dict,
    sync: bool,
    context_later: bool = False,
) -> None:
    staging.mkdir(mode=0o700)  # a record holds the cell's text before secrets are masked
    if context_later:  # delivery waits for complete_context (see spool_entry)
        (staging / CONTEXT_PENDING_FILE).write_text(str(os.getpid()))
    copied = []
    for index, art in enumerate(record.artifacts):
        src = Path(art.local_path)
        if src.exists():  # a file gone before the cell ended cannot be logged online either
            rel = Path("files") / str(index) / src.name
            _copy(src, staging / rel, sync)
            copied.append(ArtifactFile(rel.as_posix(), art.artifact_path))
    entry = {
        "version": FORMAT_VERSION,
        "spool_id": spool_id,
        "tracking_uri": tracking_uri,  # before the record: spool_entry.entry_uri reads it first
        "record": replace(record, artifacts=copied).to_dict(),
        "extras": extras,
    }
    data = json.dumps(entry).encode()
    if sync:
        write_durably(staging / ENTRY_FILE, data)
    else:  # written once into a folder nobody reads before the rename that publishes it
        (staging / ENTRY_FILE).write_bytes(data)


def new_spool_id() -> str:
    """A fresh entry id: sorts by creation time, unique across processes."""
    return f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"


def spool_run(
    record: RunRecord,
    spool_dir: Path | None = None,
    *,
    tracking_uri: str | None = None,
    spool_id: str | None = None,
    extras: dict | None = None,
    sync: bool = True,
    context_later: bool = False,
) -> Path:
    """Durably store ``record`` (artifact files copied) as one new spool entry; return its dir.

    ``tracking_uri``, when given, is the store the run was meant for: replay sends it only
    there; ``extras`` is the work left for delivery (see ``deferred``). ``sync=False`` skips
    the fsyncs (the entry survives the death of this process, not yet of the machine: the
    caller runs ``sync_tree`` on it soon after, off the cell's path). Raises
    ``TrackingUnavailable`` (one line) when the spool cannot be written.
    """
    root = _root(spool_dir)
    spool_id = spool_id or new_spool_id()
    staging = root / f"{_STAGING}{spool_id}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        _stage(record, staging, spool_id, tracking_uri, extras or {}, sync, context_later)
        os.rename(staging, root / spool_id)
        if sync:
            fsync_path(root)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise TrackingUnavailable(
            f"journal {root} is not writable ({exc.strerror or type(exc).__name__}): "
            "this run was not saved there"
        ) from exc
    return root / spool_id


# --- reading -------------------------------------------------------------------------------
def _entry_dirs(root: Path) -> list[Path]:
    """The spool's own entries: folders named like a spool id (``<20 digits>-<12 hex>``).

    Anything else in the folder is not ours and is never read, moved or removed, so a spool
    directory pointed at a folder that holds other things (even ``/``) cannot damage it.
    """
    if not root.is_dir():
        return []
    return sorted(
        p for p in root.iterdir() if is_spool_id(p.name) and p.is_dir() and not p.is_symlink()
    )


entry_dirs = _entry_dirs


def pending_runs(spool_dir: Path | None = None) -> int:
    """How many spooled runs wait to be replayed."""
    return len(_entry_dirs(_root(spool_dir)))


@dataclass
class ReplayResult:
    """What one replay did: runs and metric points sent, entries skipped, what is left."""

    runs_replayed: int = 0
    metric_points: int = 0
    run_ids: list[str] = field(default_factory=list)
    delivered: dict[str, str] = field(default_factory=dict)  # spool id -> run id
    skipped: list[str] = field(default_factory=list)  # one message per quarantined entry
    pending: int = 0  # entries still spooled afterwards (incl. ones for other stores)
    error: str | None = None  # why replay stopped early (backend unreachable, busy)
    recovered: list[str] = field(default_factory=list)  # KILLED entries of dead kernels' cells
    requeued: list[str] = field(default_factory=list)  # ``sync --requeue``: one line per entry

    @property
    def ok(self) -> bool:
        """True when nothing was skipped and replay was not stopped."""
        return not self.skipped and self.error is None

    def summary(self) -> str:
        """One line for a user."""
        text = f"replayed {self.runs_replayed} spooled run(s), {self.metric_points} metric point(s)"
        if self.recovered:
            text += f"; {len(self.recovered)} cell(s) of dead kernels journaled as KILLED"
        if self.skipped:
            text += f"; skipped {len(self.skipped)}: " + "; ".join(self.skipped)
        if self.error:
            text += f"; stopped: {self.error}"
        return text + (f"; {self.pending} run(s) still spooled" if self.pending else "")


def _finish(root: Path, entry_dir: Path) -> None:
    # Rename first: an entry is either pending or done, never half-deleted and replayed again.
    done = root / f"{DONE}{entry_dir.name}"
    os.rename(entry_dir, done)
    fsync_path(root)
    shutil.rmtree(done, ignore_errors=True)


@contextlib.contextmanager
def _replay_lock(root: Path) -> Iterator[bool]:
    from filelock import FileLock, Timeout

    lock = FileLock(str(root / ".replay.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


BUSY = "another replay of this spool is running"


def replay(
    client: MlflowClient,
    spool_dir: Path | None = None,
    *,
    batch_size: int = 1000,
    before_each: Callable[[], None] | None = None,
    on_delivered: Callable[[str, str], None] | None = None,
) -> ReplayResult:
    """Send every spooled run to ``client``'s store, oldest first; idempotent and resumable.

    Runs keep their original start/end times, statuses and metric timestamps/steps. A run is
    created once (its spool id is tagged and looked up before creating) and points already
    on the server are not sent again. Corrupted or refused entries are quarantined with a
    message; an unreachable backend stops the replay and leaves the rest spooled.
    ``before_each`` is called before each entry (the kernel's worker waits there while a cell
    runs, so delivery does not compete with the user's code); ``on_delivered(spool id, run
    id)`` after each delivered entry, before it leaves the spool.
    """
    root = _root(spool_dir)
    result = ReplayResult()
    if not _entry_dirs(root):  # the common case, on every tracked cell: nothing to do
        return result
    try:
        with _replay_lock(root) as acquired:
            if acquired:
                _replay_all(client, root, result, batch_size, before_each, on_delivered)
            else:
                result.error = BUSY
    except OSError as exc:
        result.error = f"spool {root} not usable ({exc.strerror or exc})"
    result.pending = pending_runs(root)
    return result


STAGING_GRACE_S = 600.0  # a staging folder older than this was left by a dead writer


def _younger_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime < seconds
    except OSError:
        return True


def same_store(a: str, b: str) -> bool:
    """Whether two tracking URIs name the same store (a trailing slash aside)."""
    return a.rstrip("/") == b.rstrip("/")


def _replay_all(
    client: MlflowClient,
    root: Path,
    result: ReplayResult,
    batch_size: int,
    before_each: Callable[[], None] | None = None,
    on_delivered: Callable[[str, str], None] | None = None,
) -> None:
    for leftover in root.iterdir():
        prefix = DONE if leftover.name.startswith(DONE) else _STAGING
        if leftover.name.startswith(prefix) and is_spool_id(leftover.name[len(prefix) :]):
            if prefix == _STAGING and _younger_than(leftover, STAGING_GRACE_S):
                continue  # another kernel may be writing this entry right now
            shutil.rmtree(leftover, ignore_errors=True)
    for entry_dir in _entry_dirs(root):
        if before_each is not None:
            before_each()
        if not entry_dir.exists():
            continue
        wait_for_context(entry_dir)  # milliseconds: the cell's git probe is finishing
        try:
            entry = SpoolEntry.load(entry_dir)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            reason = quarantined.corrupt_reason(exc)
            result.skipped.append(
                quarantined.quarantine(root, entry_dir, reason, quarantined.CORRUPT)
            )
            continue
        if entry.tracking_uri and not same_store(entry.tracking_uri, client.tracking_uri):
            continue  # meant for another store; replayed when that one is synced
        outcome = replay_entry(client, entry, batch_size)
        if outcome.unavailable:
            result.error = outcome.message
            return
        if outcome.refused:
            line = quarantined.quarantine(root, entry_dir, outcome.message, quarantined.REFUSED)
            result.skipped.append(line)
            continue
        if on_delivered is not None:  # before the entry leaves: waiters then see the run id
            on_delivered(entry.spool_id, str(outcome.run_id))
        _finish(root, entry_dir)
        result.runs_replayed += 1
        result.metric_points += outcome.metric_points
        result.run_ids.append(str(outcome.run_id))
        result.delivered[entry.spool_id] = str(outcome.run_id)
