"""``snapshot``: version paths with DVC, commit their ``.dvc`` files, link them to a run.

DVC is reached through ``dvc_repo`` (the one module importing it). Git is driven through its
CLI (``git add`` / ``git commit --only``) so the user's other staged changes are never
committed, and a failed snapshot puts files and git index back.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_mlops.core import git
from jupyter_mlops.core.data.dvc_files import (
    DataVersion,
    DvcOutput,
    git_root,
    last_commit,
    read_dvc_output,
)
from jupyter_mlops.core.data.dvc_repo import (
    LINK_TYPES,
    add_to_dvc,
    committed_secrets,
    ensure_dvc,
    open_repo,
    push_to_remote,
    remote_for,
)
from jupyter_mlops.core.data.lineage import link_versions, resolve_run
from jupyter_mlops.core.data.tables import table_stats
from jupyter_mlops.core.data.targets import check_target
from jupyter_mlops.core.errors import DataVersionError, UsageProblem, first_line

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient


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


def _root_and_index(base: Path) -> tuple[Path, Path]:
    """The work-tree top and the git index file, in one git call."""
    try:
        top, index = git.output(
            base, "rev-parse", "--show-toplevel", "--git-path", "index"
        ).splitlines()
    except DataVersionError:
        git_root(base)  # raises the clear "run git init" line
        raise
    return Path(top), base / index


def check_git_identity(root: Path) -> None:
    """A clear line when git cannot commit for lack of a name/email."""
    for who in ("GIT_COMMITTER_IDENT",):
        try:
            git.output(root, "var", who)
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
    rels = list(dict.fromkeys(check_target(root, base, p) for p in raw))
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
            if remote_name and (leaked := committed_secrets(repo, remote_name)):
                notes.append(
                    f"DVC remote {remote_name!r} keeps {', '.join(leaked)} in .dvc/config, "
                    f"which git shares: move it with `dvc remote modify --local {remote_name}`"
                )
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
        return f"NOT linked to run {run_id}: {first_line(exc)}"
    return f"linked to run {run_id}"


def _changed_files(root: Path, files: list[Path], created_dvc: bool) -> list[Path]:
    """The ``.dvc``/``.gitignore`` files (and DVC's init files) git does not have as they are."""
    candidates = [f for f in dict.fromkeys(files) if f.exists()]
    if created_dvc:
        candidates += [root / ".dvc" / ".gitignore", root / ".dvc" / "config", root / ".dvcignore"]
    rel = [p.relative_to(root).as_posix() for p in candidates if p.exists()]
    if not rel:
        return []
    out = git.output(root, "status", "--porcelain", "--untracked-files=all", "--", *rel)
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
    git.output(root, "add", "--", *names)
    if not commit:
        return None
    msg = message or "data: " + ", ".join(
        f"{rel} {out.md5[:8]}" for rel, out in zip(rels, outputs, strict=True)
    )
    git.output(root, "commit", "-q", "-m", msg, "--only", "--", *names)
    return git.output(root, "rev-parse", "HEAD").strip()


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
        rev = None if dvcfile in changed and not committed else last_commit(root, dvcfile)
        rows, cols, schema = table_stats(root / rel)
        snaps.append(
            Snapshot(
                rel, out.md5, out.size, out.nfiles, rev, rev is not None, remote,
                unchanged=unchanged, rows=rows, columns=cols, schema=schema,
            )
        )  # fmt: skip
    return snaps
