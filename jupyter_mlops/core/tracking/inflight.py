"""In-flight markers: a trace of a tracked cell while it runs, so a kernel killed mid-cell still
leaves a KILLED run.

A cell whose MLflow run is created at delivery writes nothing to the store until it ends. At
its start it therefore writes ``<journal>/.inflight/<spool id>.json`` (one small write, no
fsync: what it guards against is the death of the process, not of the machine) with what is
known then: pid, host, start time, store, experiment, run name, start tags, literal params and
the masked source. The cell's journal entry later takes the same spool id, and the marker is
removed once the record is handed over (journaled, delivered directly, or refused).

``recover`` (run by ``journal.resume`` at ``%load_ext``, by ``%mlops_sync`` and by ``jupyter
mlops sync``) turns the marker of a process of this host that is gone (pid dead, or reused by a
younger process) into a journal entry with status KILLED: start time from the marker, end time
the moment the death was noticed (like ``liveness.reconcile_orphans``). It is delivered like
any entry, once (idempotent by spool id). A marker whose entry exists (pending, being finished
or quarantined) is only removed; a recovered entry that finds a run of its spool id that has
already ended (the cell's own entry was delivered before the marker was removed) leaves that
run untouched (``spool_send``). Markers of live processes and of other hosts are left alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path

from jupyter_mlops.core import contracts as c
from jupyter_mlops.core.errors import TrackingUnavailable
from jupyter_mlops.core.tracking import capture, secrets, spool
from jupyter_mlops.core.tracking.deferred import CELL_KEY
from jupyter_mlops.core.tracking.liveness import process_gone
from jupyter_mlops.core.tracking.record import RunRecord, now_ms
from jupyter_mlops.core.tracking.runstate import RunState
from jupyter_mlops.core.tracking.spool_entry import RECOVERED

MARKERS = ".inflight"  # <journal>/.inflight/<spool id>.json
FORMAT_VERSION = 1
UNREADABLE_GRACE_S = 60.0  # an unreadable marker older than this was torn by a dead writer
_HOST = socket.gethostname()
_FOLDERS: set[Path] = set()  # marker folders this process made (or found) already


def begin(run: RunState) -> None:
    """Write the marker of a cell whose run does not exist yet; never raises (no marker then).

    Sets ``run.spool_id`` (the id its journal entry will take) and ``run.marker``."""
    record = run.record
    if record.run_id or run.refused:
        return
    spool_id = spool.new_spool_id()
    params = {k: capture.param_text(v) for k, v in run.analysis.params.items()}
    params.update(run.options.params)
    marker = {
        "version": FORMAT_VERSION,
        "spool_id": spool_id,
        "pid": os.getpid(),
        "host": _HOST,
        "started": time.time(),
        "tracking_uri": run.uri,
        "experiment": record.experiment_name,
        "run_name": record.run_name,
        "parent_run_id": record.parent_run_id,
        "start_time_ms": record.start_time_ms,
        "tags": record.tags,
        "params": {k: v for k, v in params.items() if not secrets.is_secret_name(k)},
        "source": secrets.mask_text(run.source),  # cached: the cell's end masks it again
        CELL_KEY: run.options.cell_id,
    }
    folder = spool.default_spool_dir() / MARKERS
    path = folder / f"{spool_id}.json"
    try:
        data = json.dumps(marker).encode()
        if folder not in _FOLDERS:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            _FOLDERS.add(folder)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    except (OSError, TypeError, ValueError):
        _FOLDERS.discard(folder)
        return
    run.spool_id, run.marker = spool_id, path


def end(run: RunState) -> None:
    """The cell's record was handed over: remove its marker."""
    if run.marker is not None:
        with contextlib.suppress(OSError):
            os.unlink(run.marker)
        run.marker = None


def markers(root: Path | None = None) -> list[Path]:
    """The in-flight markers of a journal folder, oldest first."""
    folder = (root if root is not None else spool.default_spool_dir()) / MARKERS
    try:
        found = [p for p in folder.iterdir() if p.suffix == ".json"]
    except OSError:
        return []
    return sorted(p for p in found if spool.is_spool_id(p.stem))


def recover(root: Path | None = None) -> list[str]:
    """Turn the markers of dead processes of this host into KILLED journal entries; the spool
    ids journaled (cheap when there are no markers)."""
    folder = root if root is not None else spool.default_spool_dir()
    made = []
    for path in markers(folder):
        with contextlib.suppress(OSError):
            if _recover_one(folder, path):
                made.append(path.stem)
    return made


def _read(path: Path) -> dict | None:
    """The marker's content, None when it is unreadable or not ours."""
    try:
        marker = json.loads(path.read_bytes())
        if marker.get("version") != FORMAT_VERSION or marker.get("spool_id") != path.stem:
            return None
        int(marker["pid"]), float(marker["started"]), str(marker["host"])
        return marker
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _recover_one(root: Path, path: Path) -> bool:
    """Journal one dead process's marker as a KILLED entry; True when an entry was made."""
    marker = _read(path)
    if marker is None:
        if time.time() - path.stat().st_mtime > UNREADABLE_GRACE_S:
            path.unlink(missing_ok=True)
        return False
    if marker["host"] != _HOST or not process_gone(int(marker["pid"]), float(marker["started"])):
        return False
    spool_id = path.stem
    made = False
    if not _handed_over(root, spool_id):
        extras = {RECOVERED: True}
        if marker.get(CELL_KEY):
            extras[CELL_KEY] = str(marker[CELL_KEY])
        try:
            spool.spool_run(
                killed_record(marker), root, tracking_uri=marker.get("tracking_uri"),
                spool_id=spool_id, extras=extras,
            )  # fmt: skip
            made = True
        except TrackingUnavailable:  # another process recovered it meanwhile, or a full disk
            if not _handed_over(root, spool_id):
                return False  # keep the marker: the next recovery tries again
    path.unlink(missing_ok=True)
    return made


def _handed_over(root: Path, spool_id: str) -> bool:
    """The cell's own entry exists: pending, being finished, or quarantined."""
    return any(
        p.exists()
        for p in (
            root / spool_id,
            root / f"{spool.DONE}{spool_id}",
            spool.quarantine_dir(root) / spool_id,
        )
    )


def killed_record(marker: dict) -> RunRecord:
    """The run of a cell whose process died while it ran: what was known at its start."""
    start = int(marker.get("start_time_ms") or float(marker["started"]) * 1000)
    record = RunRecord(
        experiment_name=str(marker.get("experiment") or c.DEFAULT_EXPERIMENT),
        run_name=marker.get("run_name") or None,
        parent_run_id=marker.get("parent_run_id") or None,
        start_time_ms=start,
        end_time_ms=max(start, now_ms()),
        status="KILLED",
        params={str(k): str(v) for k, v in (marker.get("params") or {}).items()},
        tags={str(k): str(v) for k, v in (marker.get("tags") or {}).items()},
    )
    if marker.get("source"):
        record.texts[c.ART_CELL_SOURCE] = str(marker["source"])
    return record
