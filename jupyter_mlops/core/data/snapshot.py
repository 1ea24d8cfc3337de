"""Versioned data: ``snapshot`` a path with DVC, commit its ``.dvc`` file, link it to a run.

The only module of jupyter-mlops that imports ``dvc``; DVC and git failures become our errors
here. Git is driven through its CLI (``git add`` / ``git commit --only``) so the user's other
staged changes are never committed, and a failed snapshot puts files and git index back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_mlops.core.data.lineage import (
    DataVersion,
    DvcOutput,
    get_run,
    git,
    git_root,
    git_version_of,
    inside,
    link_versions,
    read_dvc_output,
    resolve_run,
    table_stats,
    versions_of_run,
)
from jupyter_mlops.core.errors import DataVersionError, TrackingUnavailable, UsageProblem

if TYPE_CHECKING:
    from dvc.repo import Repo
    from mlflow.tracking import MlflowClient

LINK_TYPES = ("copy", "reflink", "hardlink", "symlink")


@dataclass(frozen=True)
class Snapshot(DataVersion):
    """What ``snapshot`` made: a data version, where it went and which run it is linked to."""

    remote: str | None = None
    pushed: bool = False
    run_id: str | None = None
    unchanged: bool = False
    rows: int | None = None
    columns: int | None = None
    schema: dict[str, str] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def summary(self) -> str:
        """One line: path, short hash, size, revision."""
        rev = self.git_rev[:8] if self.git_rev else "uncommitted"
        parts = [f"{self.path} {self.dvc_hash[:8]}", _human_size(self.size)]
        if self.nfiles:
            parts.append(f"{self.nfiles} files")
        if self.rows is not None or self.columns is not None:
            parts.append(f"{_or_q(self.rows)} rows x {_or_q(self.columns)} columns")
        parts.append(f"git {rev}")
        return ", ".join(parts)

    def __str__(self) -> str:
        return "\n".join([f"Snapshot {self.summary()}", *self.notes])

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        from html import escape

        notes = "".join(f"<li>{escape(n)}</li>" for n in self.notes)
        schema = ""
        if self.schema:
            cols = ", ".join(f"{escape(k)}: {escape(v)}" for k, v in self.schema.items())
            schema = f"<div><small>schema: {cols}</small></div>"
        return (
            f"<div class='jupyter-mlops-snapshot'><b>Snapshot</b> {escape(self.summary())}"
            f"{schema}<ul>{notes}</ul></div>"
        )


class SnapshotPushError(DataVersionError):
    """The push failed; the snapshots were made and committed locally (``.snapshots``)."""

    def __init__(self, message: str, snapshots: list[Snapshot]) -> None:
        super().__init__(message)
        self.snapshots = snapshots


def _human_size(size: int | None) -> str:
    if size is None:
        return "size ?"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _or_q(value: int | None) -> str:
    return "?" if value is None else str(value)


# --- cheap, no-Repo helpers ------------------------------------------------------------------


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


def link_literal_paths(
    run_id: str, literals: Iterable[str], cwd: Path, client: MlflowClient
) -> list[DataVersion]:
    """Record on ``run_id`` the DVC version of every DVC-tracked path named by a literal."""
    found: dict[Path, DataVersion] = {}
    root: Path | None = None
    for literal in literals:
        if not literal or len(literal) > 1024 or "\n" in literal or "\0" in literal:
            continue
        try:
            dvcfile = dvc_file_of(Path(cwd) / literal)
        except (OSError, ValueError):  # not a usable path (too long, bad characters)
            continue
        if dvcfile is None or dvcfile in found:
            continue
        root = root or git_root(Path(os.path.realpath(cwd)))
        found[dvcfile] = current_version(dvcfile, root)
    versions = list(found.values())
    if versions:
        try:
            link_versions(client, run_id, versions, context="cell")
        except Exception as exc:  # MLflow store errors: the cell's run goes on without lineage
            raise TrackingUnavailable(
                f"cannot record data versions on run {run_id}: {exc}"
            ) from exc
    return versions


# --- DVC access ------------------------------------------------------------------------------


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
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
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


def restore_data(repo: Repo, root: Path, rel: str) -> None:
    """Make the workspace data of ``rel`` match its ``.dvc`` file, fetching when not cached."""
    from dvc.exceptions import CheckoutError

    target = str(root / (rel + ".dvc"))
    with _quiet_dvc():
        try:
            with dvc_errors(f"cannot restore {rel}"):
                repo.checkout(targets=[target], force=True)
            return
        except DataVersionError as exc:
            if not isinstance(exc.__cause__, CheckoutError):
                raise
        with dvc_errors(
            f"the data of {rel} is neither in the DVC cache nor fetchable from a remote"
        ):
            repo.fetch(targets=[target])
            repo.checkout(targets=[target], force=True)


# --- the rollback guard ----------------------------------------------------------------------


class _Rollback:
    """Remembers the files a snapshot may write and the git index, to put them back on failure."""

    def __init__(self, root: Path, index: Path, files: Iterable[Path]) -> None:
        self.root = root
        self.index = index
        self.index_bytes = self.index.read_bytes() if self.index.exists() else None
        self.files = {p: (p.read_bytes() if p.exists() else None) for p in files}
        self.created_dvc = False

    def restore(self) -> None:
        for path, content in self.files.items():
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(content)
        if self.created_dvc:
            shutil.rmtree(self.root / ".dvc", ignore_errors=True)
            (self.root / ".dvcignore").unlink(missing_ok=True)
        if self.index_bytes is None:
            self.index.unlink(missing_ok=True)
        else:
            self.index.write_bytes(self.index_bytes)


# --- snapshot --------------------------------------------------------------------------------


def _check_target(root: Path, base: Path, raw: str | os.PathLike[str]) -> str:
    """Validate one path; return it relative to ``root`` (POSIX)."""
    path = Path(os.path.abspath(base / Path(raw).expanduser()))
    if not inside(root, path):
        raise UsageProblem(f"{raw} is outside the git repository at {root}")
    rel = path.relative_to(root)
    parts = rel.parts
    if not parts:
        raise UsageProblem("cannot snapshot the repository root itself; name a file or folder")
    if parts[0] in (".dvc", ".git"):
        raise UsageProblem(f"{raw} is inside {parts[0]}/, which belongs to {parts[0][1:]} itself")
    if not path.exists():
        raise UsageProblem(f"no such file or directory: {raw}")
    if path.suffix == ".dvc":
        raise UsageProblem(f"{raw} is a .dvc file; snapshot the data it tracks instead")
    owner = dvc_file_of(path)
    if owner is not None and owner != path.with_name(path.name + ".dvc"):
        whole = owner.with_suffix("").relative_to(root).as_posix()
        raise UsageProblem(
            f"{raw} is inside {whole}, which DVC tracks as a whole; snapshot {whole} instead"
        )
    if not os.access(path, os.R_OK) or (path.is_dir() and not os.access(path, os.X_OK)):
        raise UsageProblem(f"permission denied: cannot read {raw}")
    if git(root, "ls-files", "--", rel.as_posix()).strip():
        raise UsageProblem(
            f"{raw} is already tracked by git; stop that first with "
            f"`git rm -r --cached {rel.as_posix()}` and commit, then snapshot it with DVC"
        )
    return rel.as_posix()


def _root_and_index(base: Path) -> tuple[Path, Path]:
    """The work-tree top and the git index file, in one git call."""
    try:
        top, index = git(base, "rev-parse", "--show-toplevel", "--git-path", "index").splitlines()
    except DataVersionError:
        git_root(base)  # raises the clear "run git init" line
        raise
    return Path(top), base / index


def check_git_identity(root: Path) -> None:
    """A clear line when git cannot commit for lack of a name/email."""
    for who in ("GIT_COMMITTER_IDENT",):
        try:
            git(root, "var", who)
        except DataVersionError as exc:
            raise UsageProblem(
                "git has no identity to commit the snapshot with: run "
                '`git config user.email "you@example.com"` and `git config user.name "Your Name"` '
                "(or use --no-commit)"
            ) from exc


def snapshot(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    message: str | None = None,
    push: bool = False,
    remote: str | None = None,
    run_id: str | None = None,
    commit: bool = True,
    link_type: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
    client: MlflowClient | None = None,
    notebook: str | None = None,
    link: bool = True,
) -> Snapshot | list[Snapshot]:
    """Version ``paths`` with DVC, commit their ``.dvc`` files and link them to a run.

    One path gives a ``Snapshot``, a list gives a list. The run is the active ``%%track`` run,
    else ``run_id``, else the latest tracked run of ``notebook``; with none (or ``link=False``)
    the data is still versioned and the snapshot says it is not linked.
    """
    single = isinstance(paths, (str, os.PathLike))
    raw = [paths] if single else list(paths)  # type: ignore[list-item]
    if not raw:
        raise UsageProblem("name at least one path to snapshot")
    if link_type is not None and link_type not in LINK_TYPES:
        raise UsageProblem(f"unknown link type {link_type!r}; use one of {', '.join(LINK_TYPES)}")
    base = Path(os.path.realpath(cwd or os.getcwd()))
    root, index = _root_and_index(base)
    rels = list(dict.fromkeys(_check_target(root, base, p) for p in raw))
    linked: set[tuple[str, str]] = set()
    if link:
        target_run, client, run_note, linked = resolve_run(run_id, client, notebook)
    else:
        target_run, run_note = None, "not linked to a run (linking turned off)"

    dvcfiles = [root / (rel + ".dvc") for rel in rels]
    ignores = [(root / rel).parent / ".gitignore" for rel in rels]
    guard = _Rollback(root, index, [*dvcfiles, *ignores])
    notes: list[str] = []
    try:
        guard.created_dvc = ensure_dvc(root)
        if guard.created_dvc:
            notes.append(f"initialised DVC in {root} (git repo without DVC)")
        repo = open_repo(root, link_type)
        try:
            remote_name = remote_for(repo, remote) if push else None
            before = {f: guard.files[f] for f in dvcfiles}
            outputs = add_to_dvc(repo, root, rels, relink=link_type is not None)
            to_commit = _changed_files(root, [*dvcfiles, *ignores], guard.created_dvc)
            if commit and to_commit:
                check_git_identity(root)
            committed = _commit(root, to_commit, rels, outputs, message, commit)
            snaps = _build(
                root, rels, outputs, before, to_commit, bool(committed), remote_name, notes
            )
            if committed:
                notes.append(f"committed {', '.join(p.name for p in dvcfiles)} as {committed[:8]}")
            elif to_commit:
                notes.append("staged in git only (--no-commit): the revision is uncommitted")
            if push and remote_name:
                try:
                    push_to_remote(repo, root, rels, remote_name)
                except DataVersionError as exc:
                    failed = [replace(s, notes=(*s.notes, *notes)) for s in snaps]
                    _link_quietly(client, target_run, failed, linked)
                    raise SnapshotPushError(f"{exc}; the local snapshot is kept", failed) from exc
                snaps = [replace(s, pushed=True) for s in snaps]
                notes.append(f"pushed to DVC remote {remote_name!r}")
        finally:
            repo.state.close()  # the sqlite state db; it reopens on the next use
    except SnapshotPushError:
        raise
    except BaseException:
        guard.restore()
        raise
    notes.append(_link_quietly(client, target_run, snaps, linked) or run_note)
    result = [replace(s, run_id=target_run, notes=tuple(n for n in notes if n)) for s in snaps]
    return result[0] if single else result


def _link_quietly(
    client: MlflowClient, run_id: str | None, snaps: list[Snapshot], linked: set[tuple[str, str]]
) -> str:
    """Link snapshots to ``run_id``; a tracking failure becomes a note, not a lost snapshot."""
    if run_id is None:
        return ""
    todo = [s for s in snaps if (s.path, s.dvc_hash) not in linked]  # MLflow keeps one anyway
    try:
        if todo:
            link_versions(client, run_id, todo, context="snapshot")
    except Exception as exc:
        return f"NOT linked to run {run_id}: {str(exc).splitlines()[0] if str(exc) else exc}"
    return f"linked to run {run_id}"


def _changed_files(root: Path, files: list[Path], created_dvc: bool) -> list[Path]:
    """The ``.dvc``/``.gitignore`` files (and DVC's init files) git does not have as they are."""
    candidates = [f for f in dict.fromkeys(files) if f.exists()]
    if created_dvc:
        candidates += [root / ".dvc" / ".gitignore", root / ".dvc" / "config", root / ".dvcignore"]
    rel = [p.relative_to(root).as_posix() for p in candidates if p.exists()]
    if not rel:
        return []
    out = git(root, "status", "--porcelain", "--untracked-files=all", "--", *rel)
    dirty = {line[3:].strip().strip('"') for line in out.splitlines() if line.strip()}
    return [root / r for r in rel if r in dirty]


def _commit(
    root: Path,
    files: list[Path],
    rels: list[str],
    outputs: list[DvcOutput],
    message: str | None,
    commit: bool,
) -> str | None:
    """Stage ``files``; commit exactly them (``git commit --only``); return the new revision."""
    if not files:
        return None
    names = [f.relative_to(root).as_posix() for f in files]
    git(root, "add", "--", *names)
    if not commit:
        return None
    msg = message or "data: " + ", ".join(
        f"{rel} {out.md5[:8]}" for rel, out in zip(rels, outputs, strict=True)
    )
    git(root, "commit", "-q", "-m", msg, "--only", "--", *names)
    return git(root, "rev-parse", "HEAD").strip()


def _last_commit(root: Path, file: Path) -> str | None:
    rel = file.relative_to(root).as_posix()
    return git(root, "log", "-1", "--format=%H", "--", rel).strip() or None


def _build(
    root: Path,
    rels: list[str],
    outputs: list[DvcOutput],
    before: dict[Path, bytes | None],
    changed: list[Path],
    committed: bool,
    remote: str | None,
    notes: list[str],
) -> list[Snapshot]:
    snaps = []
    for rel, out in zip(rels, outputs, strict=True):
        dvcfile = root / (rel + ".dvc")
        old = before.get(dvcfile)
        unchanged = old is not None and read_dvc_output(old.decode()).md5 == out.md5
        unchanged = unchanged and dvcfile not in changed
        if unchanged:
            notes.append(f"{rel} unchanged ({out.md5[:8]})")
        rev = None if dvcfile in changed and not committed else _last_commit(root, dvcfile)
        rows, cols, schema = table_stats(root / rel)
        snaps.append(
            Snapshot(
                rel, out.md5, out.size, out.nfiles, rev, rev is not None, remote,
                unchanged=unchanged, rows=rows, columns=cols, schema=schema,
            )
        )  # fmt: skip
    return snaps


# --- checkout_data ---------------------------------------------------------------------------


def checkout_data(
    run_id: str,
    paths: Iterable[str | os.PathLike[str]] | None = None,
    force: bool = False,
    cwd: str | os.PathLike[str] | None = None,
    client: MlflowClient | None = None,
) -> list[DataVersion]:
    """Restore in the work tree the data versions ``run_id`` used (all, or only ``paths``).

    The ``.dvc`` file is rewritten to that version and the data checked out from the DVC cache
    (fetched from the remote when missing). Local data changes not saved in DVC are refused
    unless ``force``.
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
    repo = open_repo(root, reuse=False)
    try:
        if not force:
            dirty = [v.path for v in versions if local_changes(repo, root, v.path)]
            if dirty:
                raise UsageProblem(
                    f"{', '.join(dirty)} has local changes not saved in DVC; snapshot them "
                    "first, or pass --force (force=True) to overwrite them"
                )
        for version in versions:
            _restore_version(repo, root, version)
    finally:
        repo.close()
    return versions


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


def _dvc_file_text(root: Path, version: DataVersion) -> str:
    """The ``.dvc`` file of ``version``: from its git revision, else written from the hash."""
    dvc_rel = version.path + ".dvc"
    if version.git_rev:
        try:
            text = git(root, "show", f"{version.git_rev}:{dvc_rel}")
            if read_dvc_output(text).md5 == version.dvc_hash:
                return text
        except DataVersionError:
            pass  # revision not in this clone (or rewritten): fall back to the hash itself
    lines = ["outs:", f"- md5: {version.dvc_hash}"]
    if version.size is not None:
        lines.append(f"  size: {version.size}")
    if version.nfiles is not None:
        lines.append(f"  nfiles: {version.nfiles}")
    lines += ["  hash: md5", f"  path: {Path(version.path).name}"]
    return "\n".join(lines) + "\n"


def _restore_version(repo: Repo, root: Path, version: DataVersion) -> None:
    dvcfile = root / (version.path + ".dvc")
    old = dvcfile.read_bytes() if dvcfile.exists() else None
    dvcfile.parent.mkdir(parents=True, exist_ok=True)
    dvcfile.write_text(_dvc_file_text(root, version))
    try:
        restore_data(repo, root, version.path)
    except BaseException:
        if old is None:
            dvcfile.unlink(missing_ok=True)
        else:
            dvcfile.write_bytes(old)
        raise


def filesystem_at(root: str | os.PathLike[str], rev: str | None = None) -> Any:
    """A read-only fsspec filesystem of repo ``root`` at git ``rev`` (DVC-tracked files too).

    Paths inside it are relative to the repo root; files stream from the DVC cache (or its
    remote) without being checked out, so drift can read a dataset as it was at ``rev``.
    """
    from dvc.api import DVCFileSystem

    with _quiet_dvc(), dvc_errors(f"open {root} at {rev or 'the working tree'}"):
        fs = DVCFileSystem(str(root), rev=rev)
        fs.isdir("/")  # resolves the revision now, inside the error translation
        return fs
