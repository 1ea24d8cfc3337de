"""Stale runs: the code of a cell in the run's slice, or one of its DVC inputs, changed since.

Hash comparison only, nothing re-executed: each slice entry's source hash against the cell
with the same id in the notebook now (any code cell when the id is unknown), each DVC input's
hash against the ``.dvc`` file in the work tree now. Slices are read once per run (immutable).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_mlops.core import contracts as c
from jupyter_mlops.core.notebook_file import code_cells
from jupyter_mlops.core.reproduce.history import source_hash

_slices: dict[tuple[str, str], dict[str, Any] | None] = {}
MAX_CACHED = 5000


@dataclass(frozen=True)
class Staleness:
    """Whether a run is stale and why (one short reason per changed cell or data input)."""

    run_id: str
    stale: bool
    reasons: tuple[str, ...] = field(default_factory=tuple)
    reproducible: bool = False  # it has a code slice to re-run

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the server's ``stale`` field)."""
        return {
            "stale": self.stale,
            "reasons": list(self.reasons),
            "reproducible": self.reproducible,
        }


def _slice_json(uri: str, run_id: str) -> dict[str, Any] | None:
    key = (uri, run_id)
    if key not in _slices:
        from jupyter_mlops.core.reproduce.rerun import read_text_artifact
        from jupyter_mlops.core.store import get_client

        text = read_text_artifact(get_client(uri), run_id, c.ART_CELL_SLICE_JSON)
        try:
            _slices[key] = json.loads(text) if text else None
        except ValueError:
            _slices[key] = None
        if len(_slices) > MAX_CACHED:
            _slices.pop(next(iter(_slices)))
    return _slices[key]


def _hashes(source: str) -> set[str]:
    """Hashes a cell's text may have been recorded under (front ends differ in the last newline)."""
    return {source_hash(source), source_hash(source.rstrip("\n")), source_hash(source + "\n")}


def _notebook_cells(notebook: Path) -> tuple[dict[str, set[str]], frozenset[str]]:
    """(cell id -> its hashes, every code cell's hashes) of the notebook file as it is now."""
    by_id: dict[str, set[str]] = {}
    every: set[str] = set()
    for cell in code_cells(notebook):
        hashes = _hashes(cell.source)
        every |= hashes
        if cell.id:
            by_id[cell.id] = hashes
    return by_id, frozenset(every)


def code_changes(meta: Mapping[str, Any], notebook: Path) -> list[str]:
    """Slice entries whose cell is gone or holds other code now (latest version of each cell)."""
    if not notebook.is_file():
        return []  # the notebook is not here: nothing to compare with
    by_id, every = _notebook_cells(notebook)
    latest: dict[str, Mapping[str, Any]] = {}
    for entry in meta.get("entries", []):
        latest[entry.get("cell_id") or f"#{entry.get('execution_count')}"] = entry
    reasons = []
    for key, entry in latest.items():
        recorded = entry.get("source_hash")
        if entry.get("cell_id"):
            now = by_id.get(entry["cell_id"])
            if now is None:
                if recorded not in every:
                    reasons.append(f"cell {entry['cell_id']} was deleted")
            elif recorded not in now:
                reasons.append(f"cell {entry['cell_id']} changed")
        elif recorded not in every and entry.get("tracked"):
            reasons.append("the tracked cell changed")
        elif recorded not in every:
            reasons.append(f"the code of execution {key[1:]} is no longer in the notebook")
    return reasons


def data_changes(versions: Iterable[Mapping[str, str]], root: Path) -> list[str]:
    """DVC inputs whose ``.dvc`` file in the work tree records another hash now."""
    from jupyter_mlops.core.data.dvc_files import read_dvc_output
    from jupyter_mlops.core.errors import DataVersionError

    reasons = []
    for version in versions:
        name, digest = version.get("name") or version.get("path"), version.get("digest")
        if not name or not digest:
            continue
        dvcfile = root / (name + ".dvc")
        try:
            now = read_dvc_output(dvcfile.read_text(encoding="utf-8")).md5
        except (OSError, DataVersionError):
            continue  # not tracked here (another checkout): nothing to compare with
        if now != digest:
            reasons.append(f"{name} changed ({digest[:8]} -> {now[:8]})")
    return list(dict.fromkeys(reasons))


_committed: dict[tuple[str, str, str], str | None] = {}


def slice_data_changes(meta: Mapping[str, Any], commit: str | None, root: Path) -> list[str]:
    """DVC-tracked files the slice read whose ``.dvc`` file differs from the run's commit."""
    from jupyter_mlops.core import git
    from jupyter_mlops.core.data.dvc_files import dvc_file_of, read_dvc_output
    from jupyter_mlops.core.errors import DataVersionError

    if not commit:
        return []
    folder = root / (meta.get("cwd") or ".")
    reasons = []
    for path in meta.get("files_read", []):
        dvcfile = dvc_file_of(folder / path)
        if dvcfile is None:
            continue
        rel = dvcfile.relative_to(root).as_posix()
        key = (str(root), commit, rel)
        if key not in _committed:
            try:
                _committed[key] = read_dvc_output(git.output(root, "show", f"{commit}:{rel}")).md5
            except DataVersionError:
                _committed[key] = None  # not committed then: nothing to compare with
        then = _committed[key]
        try:
            now = read_dvc_output(dvcfile.read_text(encoding="utf-8")).md5
        except (OSError, DataVersionError):
            continue
        if then is not None and now != then:
            reasons.append(f"{rel[: -len('.dvc')]} changed ({then[:8]} -> {now[:8]})")
    return reasons


def run_staleness(
    uri: str,
    run_id: str,
    tags: Mapping[str, str],
    data_versions: Iterable[Mapping[str, str]],
    root: Path,
) -> Staleness:
    """The staleness of one run, from its tags (notebook), slice and recorded data versions."""
    if c.TAG_CELL_HASH not in tags:
        return Staleness(run_id, False)
    meta = _slice_json(uri, run_id)
    reasons: list[str] = []
    if meta is not None and tags.get(c.TAG_SOURCE_NAME):
        reasons += code_changes(meta, root / tags[c.TAG_SOURCE_NAME])
    reasons += data_changes(data_versions, root)
    if meta is not None:
        reasons += slice_data_changes(meta, tags.get(c.TAG_GIT_COMMIT), root)
    reasons = list(dict.fromkeys(reasons))
    return Staleness(run_id, bool(reasons), tuple(reasons), meta is not None)


def stale_runs(uri: str, runs: Iterable[Any], root: str | os.PathLike[str]) -> dict[str, Staleness]:
    """Staleness of ``RunSummary``-like runs (``run_id``, ``tags``, ``data_versions``)."""
    folder = Path(root)
    return {
        run.run_id: run_staleness(uri, run.run_id, run.tags, run.data_versions, folder)
        for run in runs
    }
