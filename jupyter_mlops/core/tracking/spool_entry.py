"""One spooled run on disk: its files, the durable writes that publish them, and reading it
back (``SpoolEntry``). See ``spool`` for the directory layout."""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_mlops.core.tracking.liveness import process_gone
from jupyter_mlops.core.tracking.record import RunRecord

ENTRY_FILE = "entry.json"
PROGRESS_FILE = "progress.json"
ATTEMPT_FILE = "attempt"  # written before a delivery first creates the entry's run
CONTEXT_FILE = "context.json"  # tags and texts a probe read after the entry was published
CONTEXT_PENDING_FILE = "context.pending"  # holds the writer's pid until context.json is there
CONTEXT_WAIT_S = 15.0  # delivery waits at most this long for a live writer's context
FORMAT_VERSION = 1
RECOVERED = "recovered"  # extras: made from the in-flight marker of a dead process (inflight)
_SPOOL_ID = re.compile(r"\d{20}-[0-9a-f]{12}")


def is_spool_id(name: str) -> bool:
    """True for an entry id ``<20 digits>-<12 hex>`` (anything else in the journal is not ours)."""
    return _SPOOL_ID.fullmatch(name) is not None


def fsync_path(path: Path) -> None:
    """Flush ``path`` (a file or a folder's entries) to disk."""
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
    fsync_path(path.parent)


@dataclass
class SpoolEntry:
    """One spooled run as read back from disk."""

    path: Path | None  # None: delivered straight from memory (the journal was not writable)
    spool_id: str
    tracking_uri: str | None
    record: RunRecord
    resumed_run_id: str | None  # the run an earlier, interrupted replay created
    extras: dict = field(default_factory=dict)  # work left for delivery (see ``deferred``)
    attempted: bool = True  # a delivery may have created the run already: look it up first

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
        context = path / CONTEXT_FILE
        if context.exists():
            late = json.loads(context.read_text())
            record.tags.update({str(k): str(v) for k, v in late.get("tags", {}).items()})
            record.texts.update({str(k): str(v) for k, v in late.get("texts", {}).items()})
        progress = path / PROGRESS_FILE
        resumed = json.loads(progress.read_text())["run_id"] if progress.exists() else None
        extras = data.get("extras") or {}
        if not isinstance(extras, dict):
            raise TypeError("spool entry extras is not an object")
        # a recovered entry may find the run its cell's own entry made: always look first
        attempted = resumed is not None or (path / ATTEMPT_FILE).exists() or RECOVERED in extras
        spool_id, uri = str(data["spool_id"]), data.get("tracking_uri")
        return cls(path, spool_id, uri, record, resumed, extras, attempted)

    def mark_attempt(self) -> None:
        """Remember durably that a delivery is about to create this entry's run."""
        if self.path is not None and not self.attempted:
            write_durably(self.path / ATTEMPT_FILE, b"")
        self.attempted = True

    def mark_created(self, run_id: str) -> None:
        """Remember durably which server run this entry replays into."""
        if self.path is not None:
            write_durably(self.path / PROGRESS_FILE, json.dumps({"run_id": run_id}).encode())


def complete_context(path: Path, tags: dict[str, str], texts: dict[str, str]) -> None:
    """Add the tags and texts a probe read after the entry at ``path`` was published, and let
    its delivery go on (nothing happens when the entry is gone already)."""
    with contextlib.suppress(OSError):
        if tags or texts:
            data = json.dumps({"tags": tags, "texts": texts}).encode()
            write_durably(path / CONTEXT_FILE, data)
        (path / CONTEXT_PENDING_FILE).unlink()


def wait_for_context(path: Path) -> None:
    """Wait while a live process still completes the entry's context (``CONTEXT_WAIT_S`` at
    most: a writer that died, or a probe that hangs, leaves the run without it)."""
    pending = path / CONTEXT_PENDING_FILE
    while True:
        try:
            written = pending.stat().st_mtime
            writer = int(pending.read_text() or 0)
        except (OSError, ValueError):
            return
        if time.time() - written > CONTEXT_WAIT_S or process_gone(writer, written):
            return
        time.sleep(0.005)


_TRACKING_URI = re.compile(rb'"tracking_uri": ("(?:[^"\\]|\\.)*"|null)')
HEAD_BYTES = 4096  # entry.json names its store before the record (``spool._stage``)


def entry_uri(path: Path) -> str | None:
    """The store the entry at ``path`` is meant for (None: whichever syncs it), read from the
    first bytes of its entry.json, not the whole record. Raises OSError/ValueError."""
    with open(path / ENTRY_FILE, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    found = _TRACKING_URI.search(head)
    if found is None:
        raise ValueError(f"no tracking_uri in the first {HEAD_BYTES} bytes of {path}")
    value = json.loads(found.group(1))
    return None if value is None else str(value)
