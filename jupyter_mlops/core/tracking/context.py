"""What a tracked cell runs in: notebook path, kernel identity, environment (git state lives in
``gitstate``, secret masking in ``secrets``; both re-exported here for old imports).

Pure functions over the process, the file system and git; no IPython. The notebook path is
found without help from the front end where possible (env vars, the parent process chain, a
notebook in the working directory holding the cell), because nbconvert and papermill tell the
kernel nothing.
"""

from __future__ import annotations

import os
import platform
import re
import socket
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from jupyter_mlops.core.contracts import (
    ENV_NOTEBOOK_PATH,
    TAG_KERNEL_HOST,
    TAG_KERNEL_ID,
    TAG_KERNEL_PID,
)
from jupyter_mlops.core.notebook_file import code_cells
from jupyter_mlops.core.tracking.gitstate import DIFF_CAP_BYTES as DIFF_CAP_BYTES  # re-exported
from jupyter_mlops.core.tracking.gitstate import GitState as GitState  # re-exported
from jupyter_mlops.core.tracking.gitstate import git_state as git_state  # re-exported
from jupyter_mlops.core.tracking.secrets import is_secret_name as is_secret_name  # re-exported
from jupyter_mlops.core.tracking.secrets import mask_secrets as mask_secrets  # re-exported

_SERVER_PROGRAMS = {"jupyter-lab", "jupyter-notebook", "jupyter-server", "jupyter-nbclassic"}
_SERVER_MODULES = {"jupyterlab", "notebook", "jupyter_server", "nbclassic"}
_SERVER_SUBCOMMANDS = {"lab", "notebook", "server", "nbclassic"}
_OPTIONS_WITH_PATH = {"--output", "-o", "--output-dir", "--output_dir", "--cwd"}


# --- notebook path --------------------------------------------------------------------------


def notebook_path(cell_source: str | None = None, *, root: Path | None = None) -> str | None:
    """The running notebook's path relative to the project root, or None when unknown."""
    ours = os.environ.get(ENV_NOTEBOOK_PATH, "").strip()
    session = os.environ.get("JPY_SESSION_NAME", "").strip()
    if ours:
        found = _locate(ours, os.getcwd())
        if found is None:  # trust our runner: it names the notebook relative to the root
            return Path(ours).as_posix()
    elif session.endswith(".ipynb"):
        found = _locate(session, os.getcwd()) or Path.cwd() / Path(session).name
    else:
        found = _notebook_from_parents()
        if found is None and cell_source and cell_source.strip():
            found = _notebook_holding(cell_source, Path.cwd())
    if found is None:
        return None
    from jupyter_mlops.core.store import project_root

    base = Path(root).resolve() if root is not None else project_root(str(found.parent))
    try:
        return found.relative_to(base).as_posix()
    except ValueError:
        return found.as_posix()


def _locate(name: str, cwd: str) -> Path | None:
    """An absolute path as is; a relative one (to the project root, the server root or the
    kernel's folder) as the existing file it names from ``cwd`` or one of its parents."""
    path = Path(name).expanduser()
    if path.is_absolute():
        return path.resolve()
    here = Path(cwd).resolve()
    for base in (here, *here.parents):
        if (base / path).is_file():
            return (base / path).resolve()
    return None


_parent_scan: list[Path | None] = []


def _notebook_from_parents() -> Path | None:
    """An ``.ipynb`` argument of an ancestor process (nbconvert, papermill); scanned once."""
    if not _parent_scan:
        _parent_scan.append(_scan_parents())
    return _parent_scan[0]


def _scan_parents() -> Path | None:
    try:
        import psutil

        parents = psutil.Process().parents()
    except Exception:
        return None
    for proc in parents:
        try:
            argv, cwd = proc.cmdline(), proc.cwd()
        except Exception:
            continue
        if _is_server(argv):
            return None  # a notebook server: its arguments name what it opens, not this kernel
        found = _notebook_argument(argv, cwd)
        if found is not None:
            return found
    return None


def _is_server(argv: list[str]) -> bool:
    """``jupyter lab``, ``jupyter-notebook``, ``python -m jupyterlab`` and the like."""
    names = [os.path.basename(arg) for arg in argv[:4]]
    for name, following in zip(names, [*names[1:], ""], strict=True):
        if name in _SERVER_PROGRAMS:
            return True
        if name == "jupyter" and following in _SERVER_SUBCOMMANDS:
            return True
        if name == "-m" and following in _SERVER_MODULES:
            return True
    return False


def _notebook_argument(argv: list[str], cwd: str) -> Path | None:
    """The first positional ``.ipynb`` argument, preferring one that exists."""
    candidates: list[Path] = []
    skip_next = False
    for arg in argv[1:]:
        if skip_next:
            skip_next = False
            continue
        if arg in _OPTIONS_WITH_PATH:
            skip_next = True
            continue
        if arg.startswith("-") or not arg.lower().endswith(".ipynb"):
            continue
        candidates.append((Path(cwd) / arg).resolve())
    existing = [c for c in candidates if c.is_file()]
    return (existing or candidates or [None])[0]


def _notebook_holding(cell_source: str, folder: Path) -> Path | None:
    """A notebook in ``folder`` with a code cell containing ``cell_source`` (first match)."""
    wanted = cell_source.strip()
    try:
        books = [p for p in folder.glob("*.ipynb") if p.is_file()]
        # outputs of earlier `nbconvert --execute` runs hold the same cells: look at them last
        books.sort(key=lambda p: (p.name.endswith(".nbconvert.ipynb"), -p.stat().st_mtime))
    except OSError:
        return None
    for book in books:
        if any(wanted in cell.source for cell in code_cells(book)):
            return book.resolve()
    return None


def cell_id_of(notebook: Path, cell_source: str) -> str | None:
    """The nbformat id of the one code cell of ``notebook`` holding ``cell_source``.

    Front ends such as JupyterLab send the id with each execution; nbclient and nbconvert do
    not, so the notebook file they run is read instead (cached per file version).
    """
    wanted = cell_source.strip()
    if not wanted:
        return None
    matches = [cell.id for cell in code_cells(notebook) if cell.id and wanted in cell.source]
    return matches[0] if len(matches) == 1 else None


# --- kernel identity ------------------------------------------------------------------------


def kernel_identity(connection_file: str | None = None) -> dict[str, str]:
    """Tags naming this kernel: ``kernel.id`` (from the connection file the adapter passes in,
    else a ``-f FILE`` argument of this process), host and pid."""
    tags = {TAG_KERNEL_HOST: socket.gethostname(), TAG_KERNEL_PID: str(os.getpid())}
    kernel_id = _kernel_id(connection_file or _connection_argument(sys.argv))
    if kernel_id:
        tags[TAG_KERNEL_ID] = kernel_id
    return tags


def _connection_argument(argv: list[str]) -> str:
    """The ``-f``/``--f``/``--file`` argument a kernel launcher received, or ""."""
    connection = ""
    for i, arg in enumerate(argv):
        if arg in ("-f", "--f", "--file") and i + 1 < len(argv):
            connection = argv[i + 1]
        elif arg.startswith(("--f=", "--file=", "-f=")):
            connection = arg.split("=", 1)[1]
    return connection


def _kernel_id(connection: str) -> str:
    """``kernel-<id>.json`` -> ``<id>``; "" when ``connection`` is no connection file."""
    if not connection.endswith(".json"):
        return ""
    stem = Path(connection).stem
    return stem[len("kernel-") :] if stem.startswith("kernel-") else stem


# --- environment ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Environment:
    """Texts for ``environment/python.txt`` and ``environment/requirements.txt``."""

    python: str
    requirements: str


@lru_cache(maxsize=1)
def environment() -> Environment:
    """Python build and installed distributions, computed once per process (no pip call)."""
    python = (
        f"python {platform.python_version()} ({platform.python_implementation()})\n"
        f"executable: {sys.executable}\n"
        f"platform: {platform.platform()}\n"
    )
    pins: dict[str, str] = {}
    for folder in sys.path:  # sys.path order: the first distribution of a name is imported
        for name, version in _distributions_in(folder or "."):
            pins.setdefault(_canonical(name), version)
    return Environment(python, "".join(f"{name}=={pins[name]}\n" for name in sorted(pins)))


def _canonical(name: str) -> str:
    """PEP 503 normalised project name (``Scikit_Learn`` -> ``scikit-learn``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _distributions_in(folder: str) -> list[tuple[str, str]]:
    """(name, version) of the distributions installed in one ``sys.path`` folder.

    Wheel-installed ``*.dist-info`` folders carry both in their names (no file is read, which
    makes this ~100x faster than ``importlib.metadata``); legacy ``*.egg-info`` are read.
    """
    try:
        entries = os.listdir(folder)
    except OSError:
        return []
    found = []
    for entry in entries:
        if entry.endswith(".dist-info"):
            name, _, version = entry[: -len(".dist-info")].partition("-")
            if name and version and "-" not in version:
                found.append((name, version))
                continue
        if entry.endswith((".dist-info", ".egg-info")):
            import importlib.metadata

            meta = importlib.metadata.Distribution.at(os.path.join(folder, entry)).metadata
            if meta and meta["Name"] and meta["Version"]:
                found.append((meta["Name"], meta["Version"]))
    return found
