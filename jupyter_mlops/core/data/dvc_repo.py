"""The DVC border: the only module of jupyter-mlops that imports ``dvc``.

Opens DVC repositories and runs ``add``, ``push``, ``status`` and ``checkout``; every DVC
exception becomes a ``DataVersionError`` / ``UsageProblem`` with one actionable line here.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_mlops.core.data.dvc_files import DvcOutput, read_dvc_output
from jupyter_mlops.core.errors import DataVersionError, UsageProblem, message_line

if TYPE_CHECKING:
    from dvc.repo import Repo

LINK_TYPES = ("copy", "reflink", "hardlink", "symlink")


@contextlib.contextmanager
def _quiet_dvc() -> Iterator[None]:
    """Keep DVC's CLI hints and spinners out of the notebook (the Snapshot says what happened).

    DVC logs hints ("To track the changes with git, run ...") and shows ``rich`` spinners
    ("Collecting stages ..."), which in a kernel become empty display outputs.
    """
    from dvc.ui import ui

    log = logging.getLogger("dvc")
    level, quiet = log.level, ui.error_console.quiet
    log.setLevel(logging.WARNING)
    ui.error_console.quiet = True
    try:
        yield
    finally:
        log.setLevel(level)
        ui.error_console.quiet = quiet


@contextlib.contextmanager
def dvc_errors(action: str) -> Iterator[None]:
    """Translate DVC's exceptions into one actionable line."""
    from dvc.exceptions import DvcException
    from dvc.lock import LockError

    try:
        yield
    except LockError as exc:
        raise DataVersionError(
            f"{action}: the DVC repository is locked by another DVC process; wait for it to "
            "finish (or delete .dvc/tmp/lock if that process is gone) and try again"
        ) from exc
    except PermissionError as exc:
        raise DataVersionError(f"{action}: permission denied: {exc.filename or exc}") from exc
    except DvcException as exc:
        first = message_line(exc)
        raise DataVersionError(f"{action}: {first}") from exc


_repos: dict[tuple[Path, str | None], Repo] = {}


def open_repo(root: Path, link_type: str | None = None, reuse: bool = True) -> Repo:
    """A ``dvc.repo.Repo`` on ``root``; ``link_type`` overrides the cache link type.

    Kept open per process: DVC itself drops the repo's cached index, config and git state
    whenever it takes the repo lock, so a reused ``Repo`` sees every change, and an unchanged
    re-snapshot skips reopening DVC's state database.
    """
    from dvc.repo import Repo

    key = (root, link_type)
    cached = _repos.pop(key, None) if reuse else None
    if cached is not None:
        if _still_valid(cached, root):
            _repos[key] = cached
            return cached
        with contextlib.suppress(Exception):
            cached.close()
    # the chosen type first, copy when the filesystem cannot (reflink needs btrfs/XFS)
    config = {"cache": {"type": [link_type, "copy"]}} if link_type else None
    with dvc_errors("cannot open the DVC repository"):
        repo = Repo(str(root), config=config)
    repo.scm_context.quiet = True
    if reuse:
        if len(_repos) >= 8:
            _repos.pop(next(iter(_repos))).close()
        _repos[key] = repo
    return repo


def open_repo_reading_cache(tree: Path, source_root: Path) -> Repo:
    """A ``Repo`` on ``tree`` (a worktree of ``source_root``) using ``source_root``'s DVC cache in
    copy mode, with its local config (remotes, credentials kept out of git)."""
    import shutil

    from dvc.repo import Repo

    if not (source_root / ".dvc").is_dir():
        raise UsageProblem(f"{source_root} has no DVC repository (.dvc/): no data to restore")
    source = open_repo(source_root, reuse=False)
    try:
        cache = str(source.cache.local_cache_dir)
    finally:
        source.close()
    local = source_root / ".dvc" / "config.local"
    (tree / ".dvc").mkdir(exist_ok=True)
    if local.is_file() and not (tree / ".dvc" / "config.local").exists():
        shutil.copyfile(local, tree / ".dvc" / "config.local")
    config = {"cache": {"dir": cache, "type": ["copy"]}}
    with _quiet_dvc(), dvc_errors("cannot open the DVC repository of the worktree"):
        repo = Repo(str(tree), config=config)
    repo.scm_context.quiet = True
    return repo


def _still_valid(repo: Repo, root: Path) -> bool:
    """A reused Repo is stale once its ``.dvc`` folder or cache folder was deleted."""
    try:
        return (root / ".dvc").is_dir() and Path(repo.cache.local.path).is_dir()
    except Exception:  # the config changed under it in a way DVC rejects: open afresh
        return False


def ensure_dvc(root: Path) -> bool:
    """Initialise DVC in the git repo at ``root`` unless it is there; True when it initialised."""
    if (root / ".dvc").is_dir():
        return False
    from dvc.repo import Repo

    with _quiet_dvc(), dvc_errors("cannot initialise DVC"):
        Repo.init(str(root)).close()
    return True


def remote_for(repo: Repo, remote: str | None) -> str:
    """The remote name a push would use; a clear line when there is none or it is unknown."""
    remotes = dict(repo.config.get("remote", {}))
    name = remote or repo.config.get("core", {}).get("remote")
    if not name:
        raise UsageProblem(
            "--push needs a DVC remote: add one with `dvc remote add -d NAME URL` "
            "(or pass --remote NAME)"
        )
    if name not in remotes:
        known = ", ".join(sorted(remotes)) or "none configured"
        raise UsageProblem(f"unknown DVC remote {name!r} (known: {known})")
    return name


# remote options that are credentials: they belong in .dvc/config.local or the environment
SECRET_REMOTE_OPTIONS = frozenset(
    {
        "access_key_id",
        "secret_access_key",
        "session_token",
        "password",
        "account_key",
        "sas_token",
        "connection_string",
        "gdrive_client_secret",
    }
)


def committed_secrets(repo: Repo, remote: str) -> list[str]:
    """Credential options of ``remote`` in the git-shared ``.dvc/config`` (not config.local)."""
    try:
        options = repo.config.load_one("repo").get("remote", {}).get(remote, {})
    except Exception:  # an unreadable config is reported by DVC itself where it matters
        return []
    return sorted(k for k in options if k in SECRET_REMOTE_OPTIONS)


def add_to_dvc(repo: Repo, root: Path, rels: list[str], relink: bool) -> list[DvcOutput]:
    """``dvc add`` the paths (DVC's state cache skips re-hashing unchanged data).

    Without ``relink`` a copy-mode work-tree file is left as it is instead of re-linked from the
    cache (same bytes; saves a checkout pass).
    """
    config_types = repo.config.get("cache", {}).get("type")
    with _quiet_dvc(), dvc_errors("cannot snapshot"):
        repo.add([str(root / rel) for rel in rels], relink=relink or bool(config_types))
    return [read_dvc_output((root / (rel + ".dvc")).read_text()) for rel in rels]


def push_to_remote(repo: Repo, root: Path, rels: list[str], remote: str) -> None:
    """Upload the data of ``rels`` to ``remote`` (DVC shows its own progress)."""
    from dvc.ui import ui

    # DVC hides its progress bars when stderr is not a terminal (a kernel's never is);
    # DVC_IGNORE_ISATTY is DVC's own switch to show them anyway.
    was_enabled, was_env = ui._enabled, os.environ.get("DVC_IGNORE_ISATTY")
    ui.enable()
    os.environ["DVC_IGNORE_ISATTY"] = "true"
    try:
        with dvc_errors(f"push to DVC remote {remote!r} failed"):
            repo.push(targets=[str(root / (rel + ".dvc")) for rel in rels], remote=remote)
    except DataVersionError:
        raise
    except Exception as exc:  # remote back ends raise their own types (OSError, HTTP errors)
        raise DataVersionError(f"push to DVC remote {remote!r} failed: {exc}") from exc
    finally:
        ui._enabled = was_enabled
        if was_env is None:
            os.environ.pop("DVC_IGNORE_ISATTY", None)
        else:
            os.environ["DVC_IGNORE_ISATTY"] = was_env


def local_changes(repo: Repo, root: Path, rel: str) -> bool:
    """True when the workspace data of ``rel`` differs from what its ``.dvc`` file records."""
    dvcfile = root / (rel + ".dvc")
    if not (root / rel).exists():
        return False  # nothing in the work tree to lose
    if not dvcfile.exists():
        return True
    with _quiet_dvc(), dvc_errors(f"cannot check {rel}"):
        status = repo.status(targets=[str(dvcfile)])
    # "modified", or "not in cache": the work tree holds the only local copy
    return bool(status)


def restore_data(repo: Repo, root: Path, rel: str) -> bool:
    """Make the workspace data of ``rel`` match its ``.dvc`` file, fetching when not cached.

    True when files in the work tree changed, False when the data was already there.
    """
    from dvc.exceptions import CheckoutError

    target = str(root / (rel + ".dvc"))
    with _quiet_dvc():
        try:
            with dvc_errors(f"cannot restore {rel}"):
                return _changed(repo.checkout(targets=[target], force=True))
        except DataVersionError as exc:
            if not isinstance(exc.__cause__, CheckoutError):
                raise
        with dvc_errors(
            f"the data of {rel} is neither in the DVC cache nor fetchable from a remote"
        ):
            repo.fetch(targets=[target])
            return _changed(repo.checkout(targets=[target], force=True))


def _changed(result: object) -> bool:
    """Whether DVC's checkout result counts any added, modified or deleted file."""
    stats = result.get("stats", {}) if isinstance(result, dict) else {}
    return any(stats.get(kind) for kind in ("added", "modified", "deleted"))


def filesystem_at(root: str | os.PathLike[str], rev: str | None = None) -> Any:
    """A read-only fsspec filesystem of repo ``root`` at git ``rev`` (DVC-tracked files too).

    Paths inside it are relative to the repo root; files stream from the DVC cache (or its
    remote) without being checked out, so drift can read a dataset as it was at ``rev``.
    """
    from dvc.api import DVCFileSystem

    if rev is not None and (not rev.strip() or rev.startswith("-")):
        raise UsageProblem(f"not a git revision: {rev[:80]!r}")
    with _quiet_dvc(), dvc_errors(f"open {root} at {rev or 'the working tree'}"):
        fs = DVCFileSystem(str(root), rev=rev)
        fs.isdir("/")  # resolves the revision now, inside the error translation
        return fs
