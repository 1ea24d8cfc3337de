"""Offline spool: runs the tracking backend could not take are kept on disk and replayed later.

Layout of a spool directory (one directory per run, published by an atomic rename)::

    <spool>/<ns>-<hex>/entry.json      the RunRecord, artifact paths made entry-relative
    <spool>/<ns>-<hex>/files/<i>/...   private copies of the run's artifact files
    <spool>/<ns>-<hex>/progress.json   written by replay once the run exists on the server
    <spool>/.quarantine/<id>/          corrupted or refused entries, with reason.txt

Entries sort by the time they were spooled, which is the order they are replayed in.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_mlops.core.contracts import PREFIX, TAG_PARENT_RUN_ID
from jupyter_mlops.core.errors import TrackingUnavailable
from jupyter_mlops.core.store import ensure_experiment, retry_locked
from jupyter_mlops.core.tracking.record import ArtifactFile, MetricPoint, RunRecord
from jupyter_mlops.core.tracking.writer import (
    BATCH_METRICS,
    log_files,
    log_inputs,
    log_values,
)

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

from jupyter_mlops.core.contracts import ENV_SPOOL_DIR

TAG_SPOOL_ID = PREFIX + "spool.id"
ENTRY_FILE = "entry.json"
PROGRESS_FILE = "progress.json"
FORMAT_VERSION = 1
_STAGING = ".staging-"
_DONE = ".done-"
_QUARANTINE = ".quarantine"


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
def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file, fsync and rename (all or nothing)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync(path.parent)


def _copy_synced(src: Path, dest: Path) -> None:
    """Copy a file or folder and fsync every file and folder of the copy."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not src.is_dir():
        shutil.copyfile(src, dest)
        _fsync(dest)
        return
    shutil.copytree(src, dest)
    for folder, _dirs, files in os.walk(dest):
        for name in files:
            _fsync(Path(folder) / name)
        _fsync(Path(folder))


def _stage(record: RunRecord, staging: Path, spool_id: str, tracking_uri: str | None) -> None:
    staging.mkdir(parents=True)
    copied = []
    for index, art in enumerate(record.artifacts):
        src = Path(art.local_path)
        if src.exists():  # a file gone before the cell ended cannot be logged online either
            rel = Path("files") / str(index) / src.name
            _copy_synced(src, staging / rel)
            copied.append(ArtifactFile(rel.as_posix(), art.artifact_path))
    entry = {
        "version": FORMAT_VERSION,
        "spool_id": spool_id,
        "tracking_uri": tracking_uri,
        "record": replace(record, artifacts=copied).to_dict(),
    }
    write_durably(staging / ENTRY_FILE, json.dumps(entry).encode())


def spool_run(
    record: RunRecord, spool_dir: Path | None = None, *, tracking_uri: str | None = None
) -> Path:
    """Durably store ``record`` (artifact files copied) as one new spool entry; return its dir.

    ``tracking_uri``, when given, is the store the run was meant for: replay sends it only
    there. Raises ``TrackingUnavailable`` (one line) when the spool cannot be written.
    """
    root = _root(spool_dir)
    spool_id = f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"
    staging = root / f"{_STAGING}{spool_id}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        _stage(record, staging, spool_id, tracking_uri)
        os.rename(staging, root / spool_id)
        _fsync(root)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise TrackingUnavailable(
            f"tracking server unreachable and the offline spool {root} is not writable "
            f"({exc.strerror or type(exc).__name__}): this run was not saved"
        ) from exc
    return root / spool_id


# --- reading -------------------------------------------------------------------------------
def _entry_dirs(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def pending_runs(spool_dir: Path | None = None) -> int:
    """How many spooled runs wait to be replayed."""
    return len(_entry_dirs(_root(spool_dir)))


@dataclass
class SpoolEntry:
    """One spooled run as read back from disk."""

    path: Path
    spool_id: str
    tracking_uri: str | None
    record: RunRecord
    resumed_run_id: str | None  # the run an earlier, interrupted replay created

    @classmethod
    def load(cls, path: Path) -> SpoolEntry:
        """Parse ``path/entry.json``; raises ValueError/KeyError/TypeError when corrupted."""
        data = json.loads((path / ENTRY_FILE).read_text())
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"unknown spool format {data.get('version')!r}")
        record = RunRecord.from_dict(data["record"])
        for art in record.artifacts:
            art.local_path = str(path / art.local_path)
            if not os.path.exists(art.local_path):
                raise ValueError(f"spooled file missing: {art.local_path}")
        progress = path / PROGRESS_FILE
        resumed = json.loads(progress.read_text())["run_id"] if progress.exists() else None
        return cls(path, str(data["spool_id"]), data.get("tracking_uri"), record, resumed)

    def mark_created(self, run_id: str) -> None:
        """Remember durably which server run this entry replays into."""
        write_durably(self.path / PROGRESS_FILE, json.dumps({"run_id": run_id}).encode())


@dataclass
class ReplayResult:
    """What one replay did: runs and metric points sent, entries skipped, what is left."""

    runs_replayed: int = 0
    metric_points: int = 0
    run_ids: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one message per quarantined entry
    pending: int = 0  # entries still spooled afterwards (incl. ones for other stores)
    error: str | None = None  # why replay stopped early (backend unreachable, busy)

    @property
    def ok(self) -> bool:
        """True when nothing was skipped and replay was not stopped."""
        return not self.skipped and self.error is None

    def summary(self) -> str:
        """One line for a user."""
        text = f"replayed {self.runs_replayed} spooled run(s), {self.metric_points} metric point(s)"
        if self.skipped:
            text += f"; skipped {len(self.skipped)}: " + "; ".join(self.skipped)
        if self.error:
            text += f"; stopped: {self.error}"
        return text + (f"; {self.pending} run(s) still spooled" if self.pending else "")


def _quarantine(root: Path, entry_dir: Path, reason: str) -> str:
    target = root / _QUARANTINE / entry_dir.name
    target.parent.mkdir(exist_ok=True)
    os.rename(entry_dir, target)
    write_durably(target / "reason.txt", (reason + "\n").encode())
    return f"{entry_dir.name}: {reason} (moved to {target})"


def _finish(root: Path, entry_dir: Path) -> None:
    # Rename first: an entry is either pending or done, never half-deleted and replayed again.
    done = root / f"{_DONE}{entry_dir.name}"
    os.rename(entry_dir, done)
    _fsync(root)
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


def replay(
    client: MlflowClient, spool_dir: Path | None = None, *, batch_size: int = 1000
) -> ReplayResult:
    """Send every spooled run to ``client``'s store, oldest first; idempotent and resumable.

    Runs keep their original start/end times, statuses and metric timestamps/steps. A run is
    created once (its spool id is tagged and looked up before creating) and points already
    on the server are not sent again. Corrupted or refused entries are quarantined with a
    message; an unreachable backend stops the replay and leaves the rest spooled.
    """
    root = _root(spool_dir)
    result = ReplayResult()
    if not _entry_dirs(root):  # the common case, on every tracked cell: nothing to do
        return result
    try:
        with _replay_lock(root) as acquired:
            if acquired:
                _replay_all(client, root, result, batch_size)
            else:
                result.error = "another replay of this spool is running"
    except OSError as exc:
        result.error = f"spool {root} not usable ({exc.strerror or exc})"
    result.pending = pending_runs(root)
    return result


def _same_store(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def _replay_all(client: MlflowClient, root: Path, result: ReplayResult, batch_size: int) -> None:
    for leftover in root.iterdir():
        if leftover.name.startswith((_DONE, _STAGING)):
            shutil.rmtree(leftover, ignore_errors=True)
    for entry_dir in _entry_dirs(root):
        try:
            entry = SpoolEntry.load(entry_dir)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            result.skipped.append(_quarantine(root, entry_dir, f"corrupted spool entry ({exc})"))
            continue
        if entry.tracking_uri and not _same_store(entry.tracking_uri, client.tracking_uri):
            continue  # meant for another store; replayed when that one is synced
        outcome = _replay_entry(client, entry, batch_size)
        if outcome.unavailable:
            result.error = outcome.message
            return
        if outcome.refused:
            result.skipped.append(_quarantine(root, entry_dir, outcome.message))
            continue
        _finish(root, entry_dir)
        result.runs_replayed += 1
        result.metric_points += outcome.metric_points
        result.run_ids.append(str(outcome.run_id))


# --- sending one entry ---------------------------------------------------------------------
@dataclass
class _Outcome:
    run_id: str | None = None
    metric_points: int = 0
    unavailable: bool = False  # backend down or failing: stop, keep this and later entries
    refused: bool = False  # backend rejected this entry (4xx): quarantine it
    message: str = ""


def _replay_entry(client: MlflowClient, entry: SpoolEntry, batch_size: int) -> _Outcome:
    from mlflow.exceptions import MlflowException

    outcome = _Outcome()
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
