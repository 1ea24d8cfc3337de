"""Replay a table as real HTTP traffic against a scoring server and summarise the latencies.

The table is a DataFrame, a CSV/parquet file, or a DVC-tracked file as it was at a git
revision (``rev=``, or ``at_revision(path, rev)``), read from the DVC cache or remote without
touching the working tree. Each request carries ``batch_rows`` rows in MLflow's
``dataframe_split`` format over one keep-alive connection per client thread; ``rps`` paces the
total request rate.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jupyter_mlops.core.errors import UsageProblem, message_line
from jupyter_mlops.core.monitoring.sources import DvcPath
from jupyter_mlops.core.serving.app import VERSION_HEADER
from jupyter_mlops.core.serving.stats import percentiles

__all__ = ["Client", "payloads", "replay"]


class Client:
    """A keep-alive HTTP connection posting scoring requests; reconnects after errors."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parsed = urllib.parse.urlsplit(url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None

    def post(self, body: bytes, path: str = "/invocations") -> tuple[int, bytes, str | None]:
        """(status, body, served version); status 0 when the connection failed."""
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request("POST", path, body, {"Content-Type": "application/json"})
                resp = self.conn.getresponse()
                return resp.status, resp.read(), resp.getheader(VERSION_HEADER)
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt:
                    return 0, b"", None
        return 0, b"", None

    def close(self) -> None:
        """Drop the connection."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _read(path: Path, opened: Any) -> pd.DataFrame:
    """A CSV or parquet table from a path or an open binary file."""
    if path.suffix == ".parquet":
        return pd.read_parquet(opened)
    if path.suffix == ".csv":
        return pd.read_csv(opened)
    raise UsageProblem(f"cannot replay {path.name}: give a DataFrame, .csv or .parquet")


def _at_revision(path: str | Path, rev: str | None, repo: str | Path) -> pd.DataFrame:
    """A table tracked by DVC (or git) in ``repo`` as it was at git revision ``rev``."""
    from jupyter_mlops.core.data.dvc_files import git_root, inside
    from jupyter_mlops.core.data.dvc_repo import filesystem_at

    base = Path(repo).expanduser()
    root = git_root(base.resolve())
    full = Path(os.path.abspath(base / path)).resolve()
    if not inside(root, full):
        raise UsageProblem(f"{path} is outside the git repository at {root}")
    rel = full.relative_to(root).as_posix()
    fs = filesystem_at(root, rev)
    where = f"at {rev}" if rev else "in the working tree"
    try:
        with fs.open(rel, "rb") as opened:
            return _read(full, opened)
    except (FileNotFoundError, IsADirectoryError):
        raise UsageProblem(f"{rel} does not exist {where} in {root}") from None
    except (OSError, ValueError) as exc:
        raise UsageProblem(f"cannot read {rel} {where}: {message_line(exc)}") from None


def _frame(data: Any, rev: str | None = None, repo: str | Path = ".") -> pd.DataFrame:
    if isinstance(data, DvcPath):
        return _at_revision(data.path, data.rev, data.repo)
    if isinstance(data, pd.DataFrame):
        if rev is not None:
            raise UsageProblem("rev= names a revision of a file: give its path, not a DataFrame")
        return data
    if isinstance(data, (str, Path)):
        if rev is not None:
            return _at_revision(data, rev, repo)
        path = Path(data)
        if not path.exists():
            raise UsageProblem(f"no file {str(path)!r} to replay")
        return _read(path, path)
    try:
        return pd.DataFrame(data)
    except (TypeError, ValueError) as exc:
        raise UsageProblem(f"cannot replay a {type(data).__name__}: {exc}") from None


def payloads(frame: pd.DataFrame, batch_rows: int = 1) -> list[bytes]:
    """The request bodies: ``dataframe_split`` JSON of each ``batch_rows`` rows."""
    if batch_rows < 1:
        raise UsageProblem("batch_rows must be at least 1")
    out = []
    for start in range(0, len(frame), batch_rows):
        part = frame.iloc[start : start + batch_rows]
        split = json.loads(part.to_json(orient="split", index=False))
        out.append(json.dumps({"dataframe_split": split}).encode())
    return out


def replay(
    url: str,
    data: Any,
    rps: float | None = None,
    concurrency: int = 4,
    *,
    batch_rows: int = 1,
    progress: Any = True,
    rev: str | None = None,
    repo: str | Path = ".",
) -> dict[str, Any]:
    """Send every row of ``data`` to ``url``; requests, errors, latency percentiles, versions.

    ``data``: a DataFrame, a CSV/parquet path, or ``at_revision(path, rev)``; ``rev`` (with
    ``repo``, default the working directory) reads the path as it was at that git revision.
    ``progress``: True for a tqdm bar, False for none, or a tqdm-like class to use.
    """
    if concurrency < 1:
        raise UsageProblem("concurrency must be at least 1")
    if rps is not None and rps <= 0:
        raise UsageProblem("rps must be positive")
    bodies = payloads(_frame(data, rev, repo), batch_rows)
    if not bodies:
        raise UsageProblem("nothing to replay: the table has no rows")
    bar = _progress(progress, len(bodies))
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    versions: Counter[str] = Counter()
    lock = threading.Lock()
    cursor = iter(range(len(bodies)))
    began = time.perf_counter()

    def work() -> None:
        client = Client(url)
        while True:
            with lock:
                index = next(cursor, None)
            if index is None:
                break
            if rps is not None:
                delay = began + index / rps - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            t0 = time.perf_counter()
            status, _, version = client.post(bodies[index])
            elapsed = (time.perf_counter() - t0) * 1000
            with lock:
                latencies.append(elapsed)
                statuses[status] += 1
                if version:
                    versions[version] += 1
                if bar is not None:
                    bar.update(1)
        client.close()

    threads = [threading.Thread(target=work, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    duration = time.perf_counter() - began
    if bar is not None:
        bar.close()
    lat = percentiles(latencies)
    errors = sum(n for status, n in statuses.items() if status != 200)
    return {
        "requests": len(bodies),
        "errors": errors,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "p50_ms": lat["p50"],
        "p95_ms": lat["p95"],
        "p99_ms": lat["p99"],
        "mean_ms": float(np.mean(latencies)),
        "duration_s": duration,
        "throughput_rps": len(bodies) / duration if duration > 0 else None,
        "versions": dict(versions),
    }


def _progress(progress: Any, total: int) -> Any:
    if progress is False or progress is None:
        return None
    if progress is True:
        from tqdm import tqdm

        return tqdm(total=total, unit="req", desc="replay")
    return progress(total=total, unit="req", desc="replay")
