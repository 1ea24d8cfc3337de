"""Quarantined journal entries: set aside with why (a corrupt entry, or one the store refused),
and put back into the journal once a refusal no longer holds (``requeue``).

Layout: ``<journal>/.quarantine/<spool id>/`` is the entry as it was, plus ``reason.txt`` (one
line) and ``kind.txt`` (``refused`` or ``corrupt``), both written before the entry moves there.
An entry quarantined before ``kind.txt`` existed is ``corrupt`` when its reason says so, else
``refused``.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_mlops.core.tracking.spool_entry import is_spool_id, write_durably

QUARANTINE = ".quarantine"
REASON_FILE = "reason.txt"
KIND_FILE = "kind.txt"
REFUSED = "refused"  # the store refused the entry (e.g. 403): requeue once it is allowed
CORRUPT = "corrupt"  # the entry cannot be read: it stays
_CORRUPT_REASON = "corrupted spool entry"


def quarantine_dir(root: Path) -> Path:
    """The quarantine folder of journal ``root``."""
    return root / QUARANTINE


def quarantine(root: Path, entry_dir: Path, reason: str, kind: str) -> str:
    """Move ``entry_dir`` aside with its reason and kind; one line saying so."""
    write_durably(entry_dir / REASON_FILE, (reason + "\n").encode())
    write_durably(entry_dir / KIND_FILE, (kind + "\n").encode())
    target = quarantine_dir(root) / entry_dir.name
    target.parent.mkdir(exist_ok=True)
    os.rename(entry_dir, target)
    return f"{entry_dir.name}: {reason} (moved to {target})"


def corrupt_reason(detail: object) -> str:
    """The reason line of an entry that cannot be read."""
    return f"{_CORRUPT_REASON} ({detail})"


def _text(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return ""


def kind_of(folder: Path) -> str:
    """``REFUSED`` or ``CORRUPT`` for a quarantined entry (unknown: ``CORRUPT``, it stays)."""
    kind = _text(folder / KIND_FILE)
    if kind in (REFUSED, CORRUPT):
        return kind
    reason = _text(folder / REASON_FILE)
    return REFUSED if reason and not reason.startswith(_CORRUPT_REASON) else CORRUPT


@dataclass
class Requeued:
    """What ``requeue`` moved back into the journal and what stayed quarantined."""

    moved: list[str] = field(default_factory=list)  # one line per entry
    kept: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """One line per quarantined entry looked at."""
        return [*self.moved, *self.kept]


def requeue(root: Path) -> Requeued:
    """Move every entry the store refused back into journal ``root`` (delivered by the next
    replay with its original timestamps); corrupt entries stay."""
    result = Requeued()
    folder = quarantine_dir(root)
    try:
        found = sorted(p for p in folder.iterdir() if is_spool_id(p.name))
    except OSError:
        return result
    for path in found:
        if path.is_symlink() or not path.is_dir():
            continue
        reason = _text(path / REASON_FILE) or "no reason recorded"
        if kind_of(path) != REFUSED:
            result.kept.append(f"kept {path.name}: {CORRUPT} ({reason})")
            continue
        target = root / path.name
        try:
            if target.exists():
                raise FileExistsError(target)
            os.rename(path, target)
        except OSError as exc:
            result.kept.append(f"kept {path.name}: not moved ({exc.strerror or exc})")
            continue
        for name in (REASON_FILE, KIND_FILE):
            with contextlib.suppress(OSError):
                (target / name).unlink()
        result.moved.append(f"requeued {path.name} (was: {reason})")
    return result
