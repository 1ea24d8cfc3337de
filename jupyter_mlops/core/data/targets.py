"""Which paths ``snapshot`` may version: inside the repository, readable files and folders that
neither git nor another ``.dvc`` file already tracks. Each refusal is one line saying why."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from jupyter_mlops.core import git
from jupyter_mlops.core.data.dvc_files import dvc_file_of, inside
from jupyter_mlops.core.errors import UsageProblem

SPECIAL = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def shown(raw: str | os.PathLike[str]) -> str:
    """A user-given path fit for a one-line message (quoted only when it holds odd characters)."""
    text = os.fspath(raw)
    if text.isprintable() and len(text) <= 200:
        return text
    quoted = repr(text)
    return quoted if len(quoted) <= 200 else quoted[:197] + "..."


def check_target(root: Path, base: Path, raw: str | os.PathLike[str]) -> str:
    """Validate one path to snapshot; return it relative to ``root`` (POSIX)."""
    name = shown(raw)
    if "\0" in os.fspath(raw):
        raise UsageProblem(f"{name} is not a usable path (it holds a NUL character)")
    path = Path(os.path.abspath(base / Path(raw).expanduser()))
    if not inside(root, path):
        raise UsageProblem(f"{name} is outside the git repository at {root}")
    rel = path.relative_to(root)
    parts = rel.parts
    if not parts:
        raise UsageProblem("cannot snapshot the repository root itself; name a file or folder")
    if parts[0] in (".dvc", ".git"):
        raise UsageProblem(f"{name} is inside {parts[0]}/, which belongs to {parts[0][1:]} itself")
    _check_kind(path, name)
    if path.suffix == ".dvc":
        raise UsageProblem(f"{name} is a .dvc file; snapshot the data it tracks instead")
    owner = dvc_file_of(path)
    if owner is not None and owner != path.with_name(path.name + ".dvc"):
        whole = owner.with_suffix("").relative_to(root).as_posix()
        raise UsageProblem(
            f"{name} is inside {whole}, which DVC tracks as a whole; snapshot {whole} instead"
        )
    if not os.access(path, os.R_OK) or (path.is_dir() and not os.access(path, os.X_OK)):
        raise UsageProblem(f"permission denied: cannot read {name}")
    if git.output(root, "ls-files", "--", rel.as_posix()).strip():
        raise UsageProblem(
            f"{name} is already tracked by git; stop that first with "
            f"`git rm -r --cached {rel.as_posix()}` and commit, then snapshot it with DVC"
        )
    return rel.as_posix()


def _check_kind(path: Path, name: str) -> None:
    """A file or a folder of files: missing, too long, dangling or special paths are refused."""
    try:
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode):
            try:
                mode = os.stat(path).st_mode
            except FileNotFoundError:
                target = os.readlink(path)
                raise UsageProblem(
                    f"{name} is a dangling symlink: its target {shown(target)} does not exist"
                ) from None
    except FileNotFoundError:
        raise UsageProblem(f"no such file or directory: {name}") from None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise UsageProblem(
                f"path too long ({len(os.fspath(path))} characters; the file system allows "
                f"{os.pathconf('/', 'PC_NAME_MAX')} per name): {name}"
            ) from None
        raise UsageProblem(f"cannot use {name}: {exc.strerror or exc}") from None
    kind = SPECIAL.get(stat.S_IFMT(mode))
    if kind:
        raise UsageProblem(f"{name} is {kind}, not a file or folder: DVC versions only those")
    if stat.S_ISDIR(mode):
        _check_folder(path, name)


def _check_folder(folder: Path, name: str) -> None:
    """Refuse a folder holding a FIFO, socket or device (DVC would block reading a FIFO)."""
    for top, dirs, files in os.walk(folder):
        for entry in (*dirs, *files):
            mode = os.lstat(os.path.join(top, entry)).st_mode
            kind = SPECIAL.get(stat.S_IFMT(mode))
            if kind:
                inner = Path(top, entry).relative_to(folder).as_posix()
                raise UsageProblem(
                    f"{name} holds {shown(inner)}, {kind}: DVC versions only files and folders"
                )
