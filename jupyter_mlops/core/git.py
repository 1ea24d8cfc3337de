"""The one place that runs git: one timeout, no optional locks, never a terminal prompt.

``GIT_OPTIONAL_LOCKS=0`` keeps our read-only probes (``git status`` after every tracked cell)
from taking ``index.lock`` while the user's own git command runs.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from jupyter_mlops.core.errors import DataVersionError

TIMEOUT_S = 60
ENV = {"GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"}


def run(
    cwd: str | os.PathLike[str], *args: str, input: str | None = None, text: bool = True
) -> subprocess.CompletedProcess:
    """``git ARGS`` in ``cwd``, output captured; no git or a time-out gives returncode 127."""
    try:
        return subprocess.run(
            ["git", *args],
            cwd=cwd,
            env={**os.environ, **ENV},
            input=input,
            capture_output=True,
            text=text,
            timeout=TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        empty = "" if text else b""
        return subprocess.CompletedProcess(["git", *args], 127, empty, str(exc))


def output(cwd: str | os.PathLike[str], *args: str) -> str:
    """Stdout of ``git ARGS``; a failure becomes a ``DataVersionError`` with git's own reason."""
    done = run(cwd, *args)
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr or done.stdout or "").splitlines() if ln.strip()]
        detail = next((ln for ln in lines if ln.startswith(("fatal", "error"))), None)
        raise DataVersionError(f"git {args[0]} failed: {detail or (lines or ['?'])[0]}")
    return done.stdout


def capped_output(cwd: str | os.PathLike[str], *args: str, cap: int) -> str:
    """Stdout of ``git ARGS`` read only up to ``cap + 1`` bytes (a changed 1 GB CSV)."""
    try:
        with subprocess.Popen(
            ["git", *args],
            cwd=cwd,
            env={**os.environ, **ENV},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        ) as proc:
            assert proc.stdout is not None
            data = proc.stdout.read(cap + 1)
            proc.kill()
    except OSError:
        return ""
    return data.decode("utf-8", "replace")


_GIT_LAYOUT_ENV = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_CEILING_DIRECTORIES",
    "GIT_DISCOVERY_ACROSS_FILESYSTEM",
)


def top_level(start: str | os.PathLike[str]) -> Path | None:
    """Top of the git work tree holding ``start``, or None outside any repository.

    Found by looking for ``.git`` upwards (a git process costs milliseconds after every
    tracked cell); git itself answers when its environment moves the repository."""
    if not any(os.environ.get(name) for name in _GIT_LAYOUT_ENV):
        here = Path(start).resolve()
        return next((f for f in (here, *here.parents) if _holds_repository(f)), None)
    done = run(start, "rev-parse", "--show-toplevel")
    top = done.stdout.strip() if done.returncode == 0 else ""
    return Path(top).resolve() if top else None


def _holds_repository(folder: Path) -> bool:
    """Whether ``folder/.git`` is a repository (a folder with HEAD) or a worktree's link file."""
    dot_git = folder / ".git"
    if dot_git.is_dir():
        return (dot_git / "HEAD").is_file()
    try:
        return dot_git.is_file() and dot_git.read_bytes()[:7] == b"gitdir:"
    except OSError:
        return False


def head_commit(cwd: str | os.PathLike[str]) -> str | None:
    """The commit id of HEAD, or None (no repository, or no commit yet)."""
    done = run(cwd, "rev-parse", "--verify", "-q", "HEAD")
    return (done.stdout.strip() or None) if done.returncode == 0 else None
