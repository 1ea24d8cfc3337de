"""``serve(models:/NAME@champion)`` → a ``Server``: the parent side of a serving process.

The model runs in a child process (``process.py``) so a slow prediction never blocks the kernel
and the kernel's death takes the server with it. ``Server.stats()`` reads the child's
``/stats``; ``stop()`` terminates it; ``servers()`` lists the running ones.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from jupyter_mlops.core.errors import UsageProblem
from jupyter_mlops.core.serving.follow import parse_model_uri
from jupyter_mlops.core.serving.runtime import public, running_servers

__all__ = ["Server", "serve", "servers"]

STARTUP_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 10.0
_started: list[Server] = []
_started_lock = threading.Lock()


class ServingError(UsageProblem):
    """The server could not start (model not loadable, port in use, process died)."""


class Server:
    """A running model server: ``url``, ``stats()``, ``replay()``, ``stop()``."""

    def __init__(
        self, process: subprocess.Popen[bytes], ready: dict[str, Any], spec: dict[str, Any]
    ) -> None:
        self.process = process
        self.url: str = ready["url"]
        self.pid: int = int(ready["pid"])
        self.model_uri: str = spec["model_uri"]
        self.shadow_uri: str | None = spec.get("shadow_uri")
        self.log_path: Path = Path(spec["log_path"])
        self._last: dict[str, Any] = {"version": ready.get("version")}

    @property
    def running(self) -> bool:
        """True while the serving process is alive."""
        return self.process.poll() is None

    def stats(self) -> dict[str, Any]:
        """requests, errors, p50/p95/p99_ms, version, shadow_agreement, ... (last known if off)."""
        if self.running:
            try:
                with urllib.request.urlopen(self.url + "/stats", timeout=5) as resp:
                    self._last = json.loads(resp.read())
            except (urllib.error.URLError, OSError, ValueError):
                pass
        return {**self._last, "running": self.running, "url": self.url}

    def replay(
        self,
        frame: Any,
        rps: float | None = None,
        concurrency: int = 4,
        *,
        batch_rows: int = 1,
        progress: Any = True,
        rev: str | None = None,
        repo: str | Path = ".",
    ) -> dict[str, Any]:
        """Send ``frame`` (DataFrame, CSV/parquet path; ``rev``: a DVC-tracked file at that git
        revision) as real traffic; latency summary."""
        from jupyter_mlops.core.serving.replay import replay

        return replay(
            self.url,
            frame,
            rps=rps,
            concurrency=concurrency,
            batch_rows=batch_rows,
            progress=progress,
            rev=rev,
            repo=repo,
        )

    def stop(self) -> None:
        """Terminate the serving process (SIGTERM, then SIGKILL after a grace period)."""
        if self.running:
            self.stats()
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with _started_lock:
            if self in _started:
                _started.remove(self)
        shutil.rmtree(self.log_path.parent, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the serving process's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def summary(self) -> str:
        """One line: what is served where, and how it is doing."""
        s = self.stats()
        state = "serving" if s["running"] else "stopped"
        line = f"{self.model_uri} v{s.get('version')} {state} at {self.url}"
        if s.get("requests") is not None:
            line += f": {s['requests']} requests, {s.get('errors', 0)} errors"
            if s.get("p50_ms") is not None:
                line += f", p50 {s['p50_ms']:.2f} ms, p95 {s['p95_ms']:.2f} ms"
        if s.get("shadow_agreement") is not None:
            line += f", shadow agreement {s['shadow_agreement']:.1%}"
        elif s.get("shadow_mae") is not None:
            line += f", shadow MAE {s['shadow_mae']:.4g}"
        return line

    def __repr__(self) -> str:
        return f"<Server {self.summary()}>"


def _spec(
    model_uri: str,
    port: int,
    host: str,
    shadow: str | None,
    tracking_uri: str | None,
    poll_interval: float,
    monitor: Any,
) -> dict[str, Any]:
    from jupyter_mlops.core.store import resolve_tracking_uri

    parse_model_uri(model_uri)
    if shadow is not None:
        parse_model_uri(shadow)
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise UsageProblem(f"port must be an integer 0-65535, not {port!r}")
    if poll_interval <= 0:
        raise UsageProblem("poll_interval must be positive")
    resolved = resolve_tracking_uri(tracking_uri)
    log_dir = Path(tempfile.mkdtemp(prefix="jupyter-mlops-serve-"))
    return {
        "model_uri": model_uri,
        "shadow_uri": shadow,
        "host": host,
        "port": port,
        "tracking_uri": resolved,
        "parent_pid": os.getpid(),
        "poll_s": poll_interval,
        "monitor": _monitor_spec(monitor, log_dir),
        "log_path": str(log_dir / "server.log"),
    }


def _monitor_spec(monitor: Any, folder: Path) -> dict[str, Any] | None:
    if monitor is None or monitor is False:
        return None
    from jupyter_mlops.core.serving.traffic import monitor_spec

    return monitor_spec(monitor, str(folder))


def _wait_ready(process: subprocess.Popen[bytes], timeout: float, log_path: Path) -> dict[str, Any]:
    """The child's first stdout line, parsed; a clear ServingError when it fails or stalls."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    buffer = b""
    while b"\n" not in buffer:
        left = deadline - time.monotonic()
        if left <= 0:
            process.kill()
            process.wait()
            raise ServingError(f"the server did not start within {timeout:.0f} s (log: {log_path})")
        readable, _, _ = select.select([process.stdout], [], [], min(left, 0.5))
        if readable:
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                break
            buffer += chunk
        elif process.poll() is not None:
            break
    line = buffer.split(b"\n", 1)[0].strip()
    try:
        message = json.loads(line) if line else {}
    except ValueError:
        message = {}
    if message.get("ready"):
        return message
    process.wait()
    error = message.get("error")
    if not error:
        tail = (
            log_path.read_text(errors="replace").strip().splitlines()[-1:]
            if log_path.exists()
            else []
        )
        error = f"the server exited with {process.returncode}: {tail[0] if tail else 'no output'}"
    raise ServingError(error)


def serve(
    model_uri: str,
    port: int = 0,
    host: str = "127.0.0.1",
    shadow: str | None = None,
    *,
    tracking_uri: str | None = None,
    poll_interval: float = 2.0,
    monitor: Any = None,
    startup_timeout: float = STARTUP_TIMEOUT_S,
    server_class: type[Server] | None = None,
) -> Server:
    """Serve ``model_uri`` with MLflow's scoring protocol in a child process; returns the Server.

    ``models:/NAME@alias`` follows the alias: a ``promote()`` on this host swaps the new version
    in before it returns; a promotion made elsewhere is picked up within ``poll_interval`` +
    load time; neither fails a request. ``shadow`` copies every request to a
    second model off the response path. ``monitor`` (True, a batch size or a dict, see
    ``monitor_spec``) feeds sampled traffic to a ``Monitor`` logged to MLflow per batch.
    ``server_class``: the ``Server`` subclass to return (adapters pass theirs).
    """
    spec = _spec(model_uri, port, host, shadow, tracking_uri, poll_interval, monitor)
    log_path = Path(spec["log_path"])
    env = {**os.environ, "MLFLOW_TRACKING_URI": spec["tracking_uri"], "PYTHONUNBUFFERED": "1"}
    # the child imports this very copy of jupyter_mlops, wherever the parent found it
    package_root = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyter_mlops.core.serving.process", json.dumps(spec)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            close_fds=True,
        )
    try:
        ready = _wait_ready(process, startup_timeout, log_path)
    except ServingError:
        shutil.rmtree(log_path.parent, ignore_errors=True)
        raise
    server = (server_class or Server)(process, ready, spec)
    with _started_lock:
        _started.append(server)
    return server


def servers(everywhere: bool = False) -> list[Any]:
    """The servers this process started and still running; ``everywhere``: all on this host."""
    if everywhere:
        return [public(info) for info in running_servers()]
    with _started_lock:
        return [s for s in _started if s.running]
