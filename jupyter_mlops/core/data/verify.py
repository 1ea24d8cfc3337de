"""What a run recorded is a claim: check it against git before ``checkout_data`` writes a byte.

A run's dataset inputs (``{path, git_rev}`` and a DVC hash) are written by whoever can write to
the tracking store, a shared server included. So a recorded path must be a normalised relative
path inside the repository that a ``.dvc`` file in git at the recorded revision tracks, and a
revision must be a full hex commit id of this repository. The ``.dvc`` file to write is git's,
never one made from the run's word alone.
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path

from jupyter_mlops.core import git
from jupyter_mlops.core.data.dvc_files import (
    DataVersion,
    DvcOutput,
    dvc_file_at,
    inside,
    read_dvc_output,
)
from jupyter_mlops.core.errors import DataVersionError, UsageProblem

COMMIT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # SHA-1 or SHA-256, full length
DVC_HASH = re.compile(r"[0-9a-f]{32}(\.dir)?")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_PATH = 4096
FOREIGN = (".git", ".dvc")  # folders owned by git and DVC themselves


class UntrustedRecord(UsageProblem):
    """A run's recorded data version fails the checks; nothing was written."""

    def __init__(self, run_id: str, reason: str) -> None:
        super().__init__(f"run {run_id} is untrustworthy: {reason}; nothing was restored")


def shown(value: object) -> str:
    """A recorded value fit for a one-line message: quoted, escaped, at most ~80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def dvc_file_to_write(root: Path, run_id: str, version: DataVersion) -> str:
    """The ``.dvc`` text that restores ``version``, taken from git; ``UntrustedRecord`` else.

    A committed version must name a DVC output of its own revision with the same hash. An
    uncommitted one (no revision) must name a DVC output of ``HEAD``; git's ``.dvc`` file then
    gets the recorded hash, after its shape is checked.
    """
    rel = _relative_path(run_id, version.path)
    if version.git_rev is None:
        head = git.head_commit(root)
        text = dvc_file_at(root, head, rel) if head else None
        if text is None:
            raise UntrustedRecord(run_id, f"{shown(rel)} is not a DVC-tracked output at HEAD")
        text = _with_hash(run_id, text, version)
    else:
        commit = _commit(root, run_id, version.git_rev)
        text = dvc_file_at(root, commit, rel)
        if text is None:
            raise UntrustedRecord(
                run_id, f"{shown(rel)} is not a DVC-tracked output at revision {commit[:12]}"
            )
        held = read_dvc_output(text).md5
        if held != version.dvc_hash:
            raise UntrustedRecord(
                run_id,
                f"it records hash {shown(version.dvc_hash)} for {rel}, but {rel}.dvc at "
                f"{commit[:12]} holds {held}",
            )
    _check_destination(root, rel)
    return text


def _relative_path(run_id: str, path: str) -> str:
    """``path`` when it is a normalised relative POSIX path outside ``.git``/``.dvc``."""
    reason = None
    if not path or len(path) > MAX_PATH or CONTROL.search(path) or "\\" in path:
        reason = "is empty, too long or holds control characters or backslashes"
    elif path.startswith("/") or os.path.isabs(path):
        reason = "is an absolute path"
    elif posixpath.normpath(path) != path or ".." in path.split("/"):
        reason = "is not a normalised path inside the repository"
    elif any(part in FOREIGN for part in path.split("/")):
        reason = "points into a .git or .dvc folder"
    if reason:
        raise UntrustedRecord(run_id, f"its recorded data path {shown(path)} {reason}")
    return path


def _commit(root: Path, run_id: str, rev: str) -> str:
    """``rev`` when it is a full hex commit id this repository holds."""
    if not isinstance(rev, str) or not COMMIT_ID.fullmatch(rev):
        raise UntrustedRecord(run_id, f"its recorded git revision {shown(rev)} is not a commit id")
    done = git.run(root, "rev-parse", "--verify", "--quiet", "--end-of-options", rev + "^{commit}")
    if done.returncode != 0 or done.stdout.strip() != rev:
        raise UsageProblem(
            f"run {run_id} used data committed at {rev[:12]}, which this repository does not "
            "have: fetch it (git fetch) and retry; nothing was restored"
        )
    return rev


def _with_hash(run_id: str, text: str, version: DataVersion) -> str:
    """git's ``.dvc`` text for an output, changed to the recorded hash, size and file count."""
    import yaml

    out: DvcOutput = read_dvc_output(text)
    if out.md5 == version.dvc_hash:
        return text
    if not DVC_HASH.fullmatch(version.dvc_hash):
        raise UntrustedRecord(run_id, f"its recorded DVC hash {shown(version.dvc_hash)} is not one")
    data = yaml.safe_load(text)
    entry = data["outs"][0]
    entry["md5"] = version.dvc_hash
    for key in ("size", "nfiles"):
        entry.pop(key, None)
        if getattr(version, key) is not None:
            entry[key] = getattr(version, key)
    return yaml.safe_dump(data, sort_keys=False)


def _check_destination(root: Path, rel: str) -> None:
    """Refuse to write through a symlink that leads out of the repository."""
    real_root = Path(os.path.realpath(root))
    folder = (root / rel).parent
    while not folder.exists() and folder != root:
        folder = folder.parent
    if not inside(real_root, Path(os.path.realpath(folder))):
        raise DataVersionError(f"{rel}: its folder leads out of the repository through a symlink")
    dvcfile = root / (rel + ".dvc")
    if dvcfile.is_symlink() or (dvcfile.exists() and not dvcfile.is_file()):
        raise DataVersionError(f"{rel}.dvc is not a regular file; move it away and retry")
