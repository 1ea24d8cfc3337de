"""What waits in a journal folder and why: the line of ``sync --status``, the sidebar's
indicator and the summary line.

A journal folder is shared by every store this user tracks into; the status of one store counts
only the entries meant for it (and those meant for whichever store syncs them) and says how
many wait for other stores. The last delivery failure is kept in ``<journal>/.delivery.json``.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from jupyter_mlops.core.tracking import spool
from jupyter_mlops.core.tracking.spool_entry import entry_uri, write_durably

STATUS_FILE = ".delivery.json"  # {"failing": reason | null, "since": epoch s}


@dataclass
class DeliveryStatus:
    """What waits in a journal folder and why it is not delivered."""

    pending: int
    oldest: float | None  # epoch seconds the oldest pending entry was journaled
    failing: str | None  # the last delivery failure, None once delivery works again
    quarantined: int
    other_stores: int = 0  # entries waiting for stores other than the one asked about

    def to_dict(self) -> dict:
        """JSON form (server API)."""
        return {
            "pending": self.pending,
            "oldest": self.oldest,
            "failing": self.failing,
            "quarantined": self.quarantined,
            "other_stores": self.other_stores,
        }

    def text(self) -> str:
        """One line for a user."""
        line = f"{self.pending} run(s) waiting for delivery"
        if self.oldest is not None:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.oldest))
            line += f", oldest journaled {when}"
        if self.other_stores:
            line += f" ({self.other_stores} more for other stores)"
        if self.quarantined:
            line += f", {self.quarantined} quarantined"
        if self.failing:
            line += f"; delivery failing: {self.failing}"
        return line


def status(root: Path | None = None, uri: str | None = None) -> DeliveryStatus:
    """Pending entries, the oldest, quarantined ones and the last failure of a journal folder;
    with ``uri``, of the entries meant for that store (the others are counted apart)."""
    folder = root if root is not None else spool.default_spool_dir()
    ids = [p.name for p in spool.entry_dirs(folder) if uri is None or _meant_for(p, uri)]
    others = spool.pending_runs(folder) - len(ids) if uri is not None else 0
    oldest = int(ids[0].split("-")[0]) / 1e9 if ids else None
    quarantine = folder / spool.QUARANTINE
    quarantined = sum(1 for _ in quarantine.iterdir()) if quarantine.is_dir() else 0
    failing = None
    if ids:  # a failure with nothing pending is history
        with contextlib.suppress(OSError, ValueError, AttributeError):
            failing = json.loads((folder / STATUS_FILE).read_text()).get("failing")
    return DeliveryStatus(len(ids), oldest, failing, quarantined, max(others, 0))


def _meant_for(entry: Path, uri: str) -> bool:
    try:
        meant = entry_uri(entry)
    except (OSError, ValueError):
        return True  # unreadable: counted here, where it shows (sync quarantines it)
    return meant is None or spool.same_store(meant, uri)


def record_failure(root: Path, reason: str | None) -> None:
    """Persist the last delivery failure (None: delivery works) when it changed."""
    path = root / STATUS_FILE
    with contextlib.suppress(OSError, ValueError):
        before = json.loads(path.read_text()).get("failing") if path.exists() else None
        if before == reason:
            return
        data = {"failing": reason, "since": time.time()}
        write_durably(path, json.dumps(data).encode())
