"""A run's artifacts for the sidebar: safe paths, a listing that skips bad links, typed bytes.

Nothing outside the run's artifact folder is listed or served: symlinks are followed only while
they stay inside it (dangling or escaping links are listed as skipped, never hide the run), and
a file is served as an image only when its bytes are that image type.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from jupyter_mlops.core.errors import NotFound
from jupyter_mlops.server.errors import BadRequest, TooLarge

BINARY = "application/octet-stream"
TEXT = "text/plain; charset=utf-8"
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def check_artifact_path(path: str) -> str:
    """Refuse artifact paths that could leave the run: absolute, ``..``, backslashes, NUL."""
    if not isinstance(path, str) or not path or len(path) > 1024:
        raise BadRequest("artifact path must be a non-empty relative path")
    if "\x00" in path or "\\" in path:
        raise BadRequest("artifact path must not contain NUL or backslashes")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise BadRequest("artifact path must be relative to the run's artifacts")
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise BadRequest("artifact path must not contain '..', '.' or empty segments")
    return path


def local_artifact_root(artifact_uri: str) -> Path | None:
    """The folder behind a run's artifact URI when it is on this machine, else None."""
    parsed = urlparse(artifact_uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        return Path(artifact_uri)
    return None


def inside(root: Path, target: Path) -> Path:
    """``target`` with symlinks resolved, if it stays within ``root``; else BadRequest."""
    real_root = root.resolve()
    real = target.resolve()
    if real != real_root and real_root not in real.parents:
        raise BadRequest("artifact path leaves the run's artifact folder")
    return real


def media_type(data: bytes) -> str:
    """An image type only when the bytes are that image; else UTF-8 text; else binary."""
    for magic, media in _MAGIC:
        if data.startswith(magic):
            return media
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return BINARY
    return TEXT


def read_file(root: Path, target: Path, path: str, max_bytes: int) -> tuple[bytes, str]:
    """Bytes and media type of one artifact file under ``root``."""
    if not target.exists() and not target.is_symlink():
        raise NotFound(f"no artifact {path!r} in this run")
    real = inside(root, target)
    if not real.exists():
        raise NotFound(f"artifact {path!r} is a link to nothing")
    if not real.is_file():
        raise BadRequest(f"artifact {path!r} is not a regular file")
    size = real.stat().st_size
    if size > max_bytes:
        raise TooLarge(f"artifact {path!r} is {size} bytes; the limit is {max_bytes}")
    data = real.read_bytes()
    return data, media_type(data)


def _entry(path: str, is_dir: bool, size: int | None, skipped: str | None = None) -> dict:
    entry: dict[str, Any] = {"path": path, "is_dir": is_dir, "size": size}
    if skipped:
        entry["skipped"] = skipped
    return entry


def list_local(root: Path, max_entries: int) -> tuple[list[dict[str, Any]], bool]:
    """Entries under ``root`` breadth first, sorted per folder; links that dangle or leave the
    folder are listed as skipped, not followed. True when cut off at ``max_entries``."""
    real_root = root.resolve()
    files: list[dict[str, Any]] = []
    pending: list[tuple[Path, str]] = [(root, "")]
    seen: set[Path] = {real_root}
    while pending:
        folder, prefix = pending.pop(0)
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue  # vanished or unreadable: the rest of the run still shows
        for name in names:
            if len(files) >= max_entries:
                return files, True
            path, here = prefix + name, folder / name
            real = here.resolve()
            if not os.path.lexists(real) or not real.exists():
                files.append(_entry(path, False, None, "a link to nothing"))
            elif real != real_root and real_root not in real.parents:
                files.append(_entry(path, False, None, "a link out of the run's artifacts"))
            elif real.is_dir():
                files.append(_entry(path, True, None))
                if real not in seen:
                    seen.add(real)
                    pending.append((here, path + "/"))
            else:
                files.append(_entry(path, False, real.stat().st_size))
    return files, False


def list_remote(client: Any, run_id: str, max_entries: int) -> tuple[list[dict[str, Any]], bool]:
    """Entries of a run on a remote artifact store (breadth first); unlistable folders are
    marked skipped instead of failing the whole listing."""
    files: list[dict[str, Any]] = []
    pending: list[dict[str, Any] | None] = [None]
    while pending:
        folder = pending.pop(0)
        try:
            listed = client.list_artifacts(run_id, folder["path"] if folder else None)
        except Exception:
            if folder is None:
                raise
            folder["skipped"] = "could not be listed"
            continue
        for info in listed:
            if len(files) >= max_entries:
                return files, True
            entry = _entry(info.path, info.is_dir, info.file_size)
            files.append(entry)
            if info.is_dir:
                pending.append(entry)
    return files, False
