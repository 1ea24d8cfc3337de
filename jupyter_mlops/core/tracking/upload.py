"""Uploading a run's staged artifact folder: small files first, large ones in parts with one
progress line each.

Small files go through the artifact repository as MLflow sends them. A file of at least
``JUPYTER_MLOPS_LARGE_ARTIFACT_MB`` (default 100) MB, sent through a tracking server that
proxies an object store, is uploaded in parts (``mlflow_internals.multipart_upload``): it is
listed only once complete. If the upload is interrupted the error propagates, the record is
spooled, and its replay uploads the whole folder again (same keys, nothing duplicated).
"""

from __future__ import annotations

import os
from pathlib import Path

from jupyter_mlops.core.tracking.progress import MB, ProgressLine

ENV_LARGE_ARTIFACT_MB = "JUPYTER_MLOPS_LARGE_ARTIFACT_MB"
DEFAULT_LARGE_ARTIFACT_MB = 100.0


def large_file_bytes() -> int:
    """The size from which a file is uploaded in parts with a progress line."""
    raw = os.environ.get(ENV_LARGE_ARTIFACT_MB, "")
    try:
        value = float(raw) if raw.strip() else DEFAULT_LARGE_ARTIFACT_MB
    except ValueError:
        value = DEFAULT_LARGE_ARTIFACT_MB
    return max(1, int(value * MB))


def _files(folder: Path) -> list[tuple[Path, str | None]]:
    """``(file, artifact dir)`` for every file under ``folder``, in a stable order."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        parent = path.parent.relative_to(folder).as_posix()
        found.append((path, None if parent == "." else parent))
    return found


def upload_folder(artifact_uri: str, tracking_uri: str, folder: str) -> None:
    """Upload ``folder``'s files to the run's artifact location (large files last, in parts)."""
    from jupyter_mlops.core.mlflow_internals import artifact_repository

    repo = artifact_repository(artifact_uri, tracking_uri)
    threshold = large_file_bytes()
    files = _files(Path(folder))
    large = [(path, rel) for path, rel in files if path.stat().st_size >= threshold]
    remote = tracking_uri.startswith(("http://", "https://"))
    if not large and not remote:
        repo.log_artifacts(folder)
        return
    small = [(path, rel) for path, rel in files if (path, rel) not in large]
    if not remote:
        for path, rel in small:
            repo.log_artifact(str(path), rel)
    elif small:  # against a server each file is one request: send them together
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(8, len(small))) as pool:
            for job in [pool.submit(repo.log_artifact, str(p), rel) for p, rel in small]:
                job.result()
    for path, rel in large:
        upload_large_file(repo, path, rel)


def upload_large_file(repo: object, path: Path, artifact_dir: str | None) -> None:
    """One large file: in parts when the repository can, with one progress line either way."""
    from jupyter_mlops.core.mlflow_internals import multipart_upload

    name = f"{artifact_dir}/{path.name}" if artifact_dir else path.name
    line = ProgressLine(f"uploading {name}", path.stat().st_size)
    try:
        if not multipart_upload(repo, str(path), artifact_dir, line.update):
            repo.log_artifact(str(path), artifact_dir)  # type: ignore[attr-defined]
            line.update(line.total)
    except BaseException:
        line.close(ok=False)
        raise
    line.close()
