"""Files a slice reads that neither git nor DVC versions: a re-run may see other bytes.

Cheap on the tracked cell's path: DVC tracking is read from ``.dvc`` files next to the data
(no DVC import), git tracking from one ``git ls-files`` call cached per state of the index.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from jupyter_mlops.core.data.dvc_files import dvc_file_of
from jupyter_mlops.core.reproduce.slicing import CodeSlice, Hazard
from jupyter_mlops.core.store import project_root

_git_tracked: dict[tuple[str, int, str], bool] = {}


def _index_stamp(root: Path) -> int:
    try:
        return (root / ".git" / "index").stat().st_mtime_ns
    except OSError:  # a worktree (.git is a file) or no commit yet: stamp by the folder
        return -1


def git_tracked(root: Path, rels: list[str]) -> set[str]:
    """Which of ``rels`` (relative to ``root``) git tracks; cached while the index is unchanged."""
    stamp = _index_stamp(root)
    unknown = [r for r in rels if (str(root), stamp, r) not in _git_tracked]
    if unknown:
        try:
            out = subprocess.run(
                ["git", "ls-files", "-z", "--", *unknown],
                cwd=root,
                capture_output=True,
                timeout=10,
                check=False,
                env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
            )
            listed = (
                set(out.stdout.decode(errors="replace").split("\0"))
                if out.returncode == 0
                else set()
            )
        except (OSError, subprocess.TimeoutExpired):
            listed = set()
        for rel in unknown:
            _git_tracked[(str(root), stamp, rel)] = rel in listed
    return {r for r in rels if _git_tracked[(str(root), stamp, r)]}


def untracked_files(paths: list[str], cwd: Path) -> list[str]:
    """The existing files among ``paths`` (relative to ``cwd``) that git and DVC do not track."""
    root = project_root(str(cwd))
    candidates: dict[str, str] = {}
    for path in paths:
        full = Path(os.path.abspath(cwd / path))
        if not full.is_file() or dvc_file_of(full) is not None:
            continue
        try:
            candidates[full.relative_to(root).as_posix()] = path
        except ValueError:
            candidates[full.as_posix()] = path  # outside the project: never versioned here
    if not candidates:
        return []
    tracked = git_tracked(root, [r for r in candidates if not r.startswith("/")])
    return sorted(shown for rel, shown in candidates.items() if rel not in tracked)


def add_file_hazards(code_slice: CodeSlice, cwd: Path) -> None:
    """Append an ``untracked_file`` hazard per unversioned file the slice reads."""
    readers = {}
    for entry in code_slice.entries:
        for path in entry.facts.files_read:
            readers.setdefault(path, entry.count)
    for path in untracked_files(code_slice.files_read, cwd):
        code_slice.hazards.append(
            Hazard("untracked_file", f"{path} is neither git- nor DVC-tracked", readers.get(path))
        )
