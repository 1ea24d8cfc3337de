"""Where running model servers announce themselves: one JSON file per server, pid-checked.

A serving process writes ``<runtime dir>/jupyter-mlops-serving/<pid>.json`` once it listens
and removes it when it stops; readers skip (and delete) files whose process is gone, so the
kernel's ``servers()`` and the Jupyter server's Models tab see the same live list.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["ENV_SERVING_DIR", "announce", "retract", "running_servers", "serving_dir"]

ENV_SERVING_DIR = "JUPYTER_MLOPS_SERVING_DIR"


def serving_dir() -> Path:
    """``$JUPYTER_MLOPS_SERVING_DIR``, else ``jupyter-mlops-serving`` in Jupyter's runtime dir."""
    explicit = os.environ.get(ENV_SERVING_DIR)
    if explicit:
        return Path(explicit)
    from jupyter_core.paths import jupyter_runtime_dir

    return Path(jupyter_runtime_dir()) / "jupyter-mlops-serving"


def announce(info: dict[str, Any], pid: int | None = None) -> Path:
    """Write this server's description atomically; returns the file."""
    folder = serving_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{pid or os.getpid()}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info))
    os.replace(tmp, path)
    return path


def retract(pid: int | None = None) -> None:
    """Remove this server's file (no error when already gone)."""
    with contextlib.suppress(OSError):
        (serving_dir() / f"{pid or os.getpid()}.json").unlink()


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def running_servers() -> list[dict[str, Any]]:
    """The live servers' descriptions, oldest first; stale files are removed."""
    folder = serving_dir()
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            info = json.loads(path.read_text())
            pid = int(info["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not _alive(pid):
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        found.append(info)
    return sorted(found, key=lambda i: i.get("started", 0))
