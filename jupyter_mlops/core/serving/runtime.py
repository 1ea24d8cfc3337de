"""Where running model servers announce themselves: one JSON file per server, pid-checked.

A serving process writes ``<runtime dir>/jupyter-mlops-serving/<pid>.json`` once it listens
and removes it when it stops; readers skip (and delete) files whose process is gone, so the
kernel's ``servers()`` and the Jupyter server's Models tab see the same live list. The file is
private to the user (0600 in a 0700 folder): it holds the control token with which a promotion
asks the server to swap versions at once (``control.py``); ``public`` leaves it out.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

__all__ = [
    "ENV_SERVING_DIR",
    "announce",
    "followers",
    "public",
    "retract",
    "running_servers",
    "serving_dir",
    "store_key",
]

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
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / f"{pid or os.getpid()}.json"
    tmp = path.with_suffix(".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(info))
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


def store_key(tracking_uri: str) -> str:
    """A short digest naming a tracking store (the URI itself may hold credentials)."""
    return hashlib.sha256(tracking_uri.encode()).hexdigest()[:16]


def public(info: dict[str, Any]) -> dict[str, Any]:
    """A server's description without its control token."""
    return {k: v for k, v in info.items() if k != "control_token"}


def followers(model: str, alias: str, tracking_uri: str) -> list[dict[str, Any]]:
    """Live servers of this host following ``models:/model@alias`` of that store."""
    key = store_key(tracking_uri)
    return [
        info
        for info in running_servers()
        if info.get("store") == key
        and info.get("control_token")
        and any(
            f.get("model") == model and f.get("alias") == alias for f in info.get("follows", [])
        )
    ]
