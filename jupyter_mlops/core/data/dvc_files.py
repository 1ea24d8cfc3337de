"""``.dvc`` files and the data versions they record, read as plain YAML (no DVC ``Repo``).

Cheap enough to ask after every tracked cell ("is this path DVC data?"), and the place that
reads a ``.dvc`` file from git at a given revision.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

from jupyter_mlops.core import git
from jupyter_mlops.core.errors import DataVersionError, UsageProblem


@dataclass(frozen=True)
class DataVersion:
    """One DVC-tracked path at one content hash, and the git revision holding its ``.dvc`` file."""

    path: str  # relative to the repository root, POSIX separators
    dvc_hash: str
    size: int | None = None
    nfiles: int | None = None
    git_rev: str | None = None  # None while the ``.dvc`` file is not committed
    committed: bool = False


@dataclass(frozen=True)
class DvcOutput:
    """The single output a ``.dvc`` file records."""

    path: str
    md5: str
    size: int | None
    nfiles: int | None


def read_dvc_output(text: str) -> DvcOutput:
    """Parse a ``.dvc`` file (YAML) into its one output."""
    import yaml

    try:
        data = yaml.safe_load(text) or {}
        out = data["outs"][0]
        return DvcOutput(str(out["path"]), str(out["md5"]), out.get("size"), out.get("nfiles"))
    except (yaml.YAMLError, KeyError, IndexError, TypeError) as exc:
        raise DataVersionError(f"unreadable .dvc file: {exc}") from exc


def git_root(start: Path) -> Path:
    """Top of the git work tree holding ``start``; a clear line outside any git repo."""
    top = git.top_level(start)
    if top is None:
        raise UsageProblem(
            f"{start} is not inside a git repository: run `git init` first "
            "(data versions are tied to a git revision)"
        )
    return top


def inside(root: Path, path: Path) -> bool:
    """True when ``path`` is ``root`` or below it (no symlink resolution of ``path``)."""
    try:
        return os.path.commonpath([root, path]) == str(root)
    except ValueError:
        return False


def last_commit(root: Path, file: Path) -> str | None:
    """The last commit that changed ``file`` (a path under ``root``), or None."""
    rel = file.relative_to(root).as_posix()
    return git.output(root, "log", "-1", "--format=%H", "--", rel).strip() or None


def git_version_of(root: Path, file: Path) -> str | None:
    """The last commit of ``file`` when the work tree matches it, else None (uncommitted)."""
    rel = file.relative_to(root).as_posix()
    if git.output(root, "status", "--porcelain", "--", rel).strip():
        return None
    return last_commit(root, file)


def dvc_file_of(path: Path) -> Path | None:
    """The ``.dvc`` file tracking ``path`` (itself or an ancestor directory), or None. No Repo."""
    path = Path(os.path.abspath(path))
    for candidate in (path, *path.parents):
        if candidate.name in ("", ".dvc", ".git"):
            return None
        dvcfile = candidate.with_name(candidate.name + ".dvc")
        if dvcfile.is_file():
            return dvcfile
        if (candidate.parent / ".dvc").is_dir() or (candidate.parent / ".git").exists():
            return None
    return None


def is_dvc_tracked(path: Path) -> bool:
    """True when a ``.dvc`` file tracks ``path`` or a directory holding it (cheap: no Repo)."""
    return dvc_file_of(path) is not None


def current_version(dvcfile: Path, root: Path) -> DataVersion:
    """The data version a ``.dvc`` file records now, with the git revision that holds it."""
    out = read_dvc_output(dvcfile.read_text())
    rel = Path(os.path.normpath(dvcfile.parent / out.path)).relative_to(root)
    rev = git_version_of(root, dvcfile)
    return DataVersion(rel.as_posix(), out.md5, out.size, out.nfiles, rev, rev is not None)


def dvc_file_at(root: Path, commit: str, rel: str) -> str | None:
    """The text of ``<rel>.dvc`` in git at ``commit`` when it tracks exactly ``rel``, else None.

    ``commit`` must already be a verified full commit id and ``rel`` a normalised relative
    path (``verify`` checks both): the object name ``<commit>:<rel>.dvc`` then starts with a hex
    digit, so git can never read it as an option.
    """
    done = git.run(root, "cat-file", "blob", f"{commit}:{rel}.dvc")
    if done.returncode != 0:
        return None
    try:
        out = read_dvc_output(done.stdout)
    except DataVersionError:
        return None
    parent = posixpath.dirname(rel)
    if posixpath.normpath(posixpath.join(parent, out.path)) != rel:
        return None  # the .dvc file at that revision tracks some other path
    return done.stdout
