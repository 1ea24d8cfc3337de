"""A run's code and data, rebuilt beside the user's checkout: a temporary git worktree.

``git worktree add --detach`` at the run's commit, the run's ``git/diff.patch`` applied there,
the DVC data versions checked out there in copy mode from the user's cache (else the remote).
The user's working tree, index and branch are never touched; the worktree is removed after.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from jupyter_mlops.core import git
from jupyter_mlops.core.data.dvc_files import DataVersion, read_dvc_output
from jupyter_mlops.core.errors import DataVersionError, UsageProblem

PREFIX = "jupyter-mlops-reproduce-"


@contextlib.contextmanager
def temporary_worktree(root: Path, commit: str) -> Iterator[Path]:
    """A detached worktree of ``root`` at ``commit``, removed (and pruned) on exit."""
    folder = Path(tempfile.mkdtemp(prefix=PREFIX))
    tree = folder / "tree"
    try:
        git.output(root, "cat-file", "-e", f"{commit}^{{commit}}")
    except DataVersionError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise UsageProblem(f"commit {commit[:12]} is not in the repository at {root}") from exc
    git.output(root, "worktree", "add", "--detach", "--quiet", str(tree), commit)
    try:
        yield tree
    finally:
        with contextlib.suppress(DataVersionError):
            git.output(root, "worktree", "remove", "--force", str(tree))
        shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(DataVersionError):
            git.output(root, "worktree", "prune")


def apply_diff(tree: Path, patch: str) -> list[str]:
    """Apply a run's ``git/diff.patch`` in ``tree``; the files it could not apply (if any)."""
    if not patch.strip() or "diff --git" not in patch:
        return []
    file = tree.parent / "run.patch"
    file.write_text(patch, encoding="utf-8")
    base = ["git", "apply", "--whitespace=nowarn", "--allow-empty"]
    done = subprocess.run([*base, str(file)], cwd=tree, capture_output=True, text=True)
    if done.returncode == 0:
        return []
    # binary or truncated hunks: apply what applies, report the rest
    partial = subprocess.run(
        [*base, "--reject", str(file)], cwd=tree, capture_output=True, text=True
    )
    failed = []
    for line in (partial.stderr or "").splitlines():
        if line.startswith(("error:", "Rejected")) and ":" in line:
            failed.append(line.split(":", 1)[1].strip())
    for reject in tree.rglob("*.rej"):
        reject.unlink()
    return failed or ["(part of the patch)"]


def copy_files(source_root: Path, tree: Path, rels: Iterable[str]) -> list[str]:
    """Copy files (relative to both roots) that the worktree lacks from the user's checkout."""
    copied = []
    for rel in rels:
        src, dst = source_root / rel, tree / rel
        if src.is_file() and not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
            copied.append(rel)
    return copied


def version_at(root: Path, rel: str, rev: str) -> DataVersion:
    """The data version of DVC-tracked ``rel`` recorded by its ``.dvc`` file at git ``rev``."""
    try:
        text = git.output(root, "show", "--end-of-options", f"{rev}:{rel}.dvc")
        commit = git.output(
            root, "rev-parse", "--verify", "--end-of-options", f"{rev}^{{commit}}"
        ).strip()
    except DataVersionError as exc:
        raise UsageProblem(f"{rel} has no DVC version at git revision {rev!r}") from exc
    out = read_dvc_output(text)
    return DataVersion(rel, out.md5, out.size, out.nfiles, commit, True)


def version_in_tree(tree: Path, rel: str) -> DataVersion | None:
    """The data version the worktree's ``.dvc`` file of ``rel`` records, if there is one."""
    dvcfile = tree / (rel + ".dvc")
    if not dvcfile.is_file():
        return None
    out = read_dvc_output(dvcfile.read_text(encoding="utf-8"))
    return DataVersion(rel, out.md5, out.size, out.nfiles, None, False)
