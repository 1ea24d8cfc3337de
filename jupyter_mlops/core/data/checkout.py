"""``checkout_data``: put back in the work tree the data versions a run used.

Every recorded version is checked against git (``verify``) before anything is written; the
``.dvc`` file comes from git, then DVC checks the data out of its cache (or fetches it).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_mlops.core.data.dvc_files import DataVersion, git_root, inside
from jupyter_mlops.core.data.dvc_repo import (
    local_changes,
    open_repo,
    open_repo_reading_cache,
    restore_data,
)
from jupyter_mlops.core.data.lineage import get_run, versions_of_run
from jupyter_mlops.core.data.verify import dvc_file_to_write
from jupyter_mlops.core.errors import UsageProblem

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from jupyter_mlops.core.data.dvc_repo import Repo


@dataclass(frozen=True)
class RestoredVersion(DataVersion):
    """A data version ``checkout_data`` put in place; ``changed`` False: it was already there."""

    changed: bool = False

    def summary(self, run_id: str) -> str:
        """One line saying what happened to this path."""
        if self.changed:
            return f"restored {self.path} at {self.dvc_hash[:8]} (run {run_id})"
        return f"{self.path} already at {self.dvc_hash[:8]} (run {run_id}): nothing to restore"


def checkout_data(
    run_id: str,
    paths: Iterable[str | os.PathLike[str]] | None = None,
    force: bool = False,
    cwd: str | os.PathLike[str] | None = None,
    client: MlflowClient | None = None,
) -> list[RestoredVersion]:
    """Restore in the work tree the data versions ``run_id`` used (all, or only ``paths``).

    The ``.dvc`` file is set to that version as git holds it and the data checked out from the
    DVC cache (fetched from the remote when missing). A recorded version git cannot confirm is
    refused before anything is written; local data changes not saved in DVC are refused unless
    ``force``.
    """
    from jupyter_mlops.core.store import get_client

    base = Path(os.path.realpath(cwd or os.getcwd()))
    root = git_root(base)
    client = client or get_client()
    versions = versions_of_run(get_run(client, run_id))
    if not versions:
        raise UsageProblem(f"run {run_id} recorded no DVC data version")
    versions = _select(versions, root, base, run_id, paths)
    if not (root / ".dvc").is_dir():
        raise UsageProblem(f"{root} has no DVC repository (.dvc/): nothing to restore from")
    texts = [dvc_file_to_write(root, run_id, v) for v in versions]  # all checked, then written
    repo = open_repo(root, reuse=False)
    try:
        if not force:
            dirty = [v.path for v in versions if local_changes(repo, root, v.path)]
            if dirty:
                raise UsageProblem(
                    f"{', '.join(dirty)} has local changes not saved in DVC; snapshot them "
                    "first, or pass --force (force=True) to overwrite them"
                )
        return [
            _restore_version(repo, root, version, text)
            for version, text in zip(versions, texts, strict=True)
        ]
    finally:
        repo.close()


def _select(
    versions: list[DataVersion],
    root: Path,
    base: Path,
    run_id: str,
    paths: Iterable[str | os.PathLike[str]] | None,
) -> list[DataVersion]:
    by_path = {v.path: v for v in versions}  # the latest record of each path wins
    if not paths:
        return list(by_path.values())
    chosen = []
    for raw in paths:
        rel = Path(os.path.abspath(base / Path(raw).expanduser()))
        key = rel.relative_to(root).as_posix() if inside(root, rel) else str(raw)
        if key not in by_path:
            used = ", ".join(sorted(by_path))
            raise UsageProblem(f"run {run_id} did not use {raw} (it used: {used})")
        chosen.append(by_path[key])
    return chosen


def _restore_version(repo: Repo, root: Path, version: DataVersion, text: str) -> RestoredVersion:
    """Write the checked ``.dvc`` text and check the data out; put the old file back on failure."""
    dvcfile = root / (version.path + ".dvc")
    old = dvcfile.read_bytes() if dvcfile.exists() else None
    missing = [p for p in dvcfile.parents if not p.exists() and inside(root, p)]
    dvcfile.parent.mkdir(parents=True, exist_ok=True)
    try:
        dvcfile.write_text(text)
        data_changed = restore_data(repo, root, version.path)
    except BaseException:
        if old is None:
            dvcfile.unlink(missing_ok=True)
        else:
            dvcfile.write_bytes(old)
        for folder in missing:  # innermost first; only the ones made here, when still empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    changed = data_changed or old != text.encode()
    return RestoredVersion(**vars(version), changed=changed)


def restore_versions_into(
    tree: Path, source_root: Path, versions: Iterable[DataVersion], run_id: str
) -> None:
    """Check out ``run_id``'s data ``versions`` in ``tree``, a temporary git worktree of
    ``source_root`` (reproduce): each version checked against git like ``checkout_data``, the
    data copied (never linked) from ``source_root``'s DVC cache, fetched when not cached. Only
    ``tree`` and the cache change."""
    versions = list(versions)
    if not versions:
        return
    texts = [dvc_file_to_write(tree, run_id, v) for v in versions]  # all checked, then written
    repo = open_repo_reading_cache(tree, source_root)
    try:
        for version, text in zip(versions, texts, strict=True):
            _restore_version(repo, tree, version, text)
    finally:
        repo.close()
