"""A shared MLflow tracking server as a child process: start it, wait until healthy, stop it.

Used by ``jupyter mlops server`` and by the team-mode tests; the server is plain
``mlflow server`` (any SQLAlchemy backend store, proxied artifacts with ``--serve-artifacts``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_mlops.core.errors import TrackingUnavailable, UsageProblem
from jupyter_mlops.core.team.child import log_tail, signal_group

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def is_healthy(url: str, timeout: float = 2.0) -> bool:
    """True when the MLflow server at ``url`` answers ``GET /health`` with 200."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=timeout) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


def server_command(
    backend_store_uri: str,
    artifacts_destination: str,
    host: str,
    port: int,
    workers: int = 1,
    app_name: str | None = None,
) -> list[str]:
    """The ``mlflow server`` argv for a proxied-artifact tracking server."""
    argv = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        backend_store_uri,
        "--artifacts-destination",
        artifacts_destination,
        "--serve-artifacts",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    if app_name:
        argv += ["--app-name", app_name]
    return argv


@dataclass
class TeamServer:
    """An ``mlflow server`` child process; ``start()`` returns once ``/health`` answers."""

    backend_store_uri: str
    artifacts_destination: str
    host: str = LOOPBACK
    port: int = 0  # 0: pick a free port on start
    workers: int = 1
    app_name: str | None = None
    log_path: Path | None = None
    startup_timeout: float = 120.0
    env: dict[str, str] = field(default_factory=dict, repr=False)  # extra, e.g. the auth app's
    process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        """The tracking URI clients use (``http://host:port``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self.process is not None and self.process.poll() is None

    def start(self) -> TeamServer:
        """Launch the server and block until it is healthy (or raise with its log tail)."""
        if self.running:
            return self
        if not self.port:
            self.port = free_port(self.host)
        if self.log_path is None:
            self.log_path = (
                Path(os.environ.get("TMPDIR", "/tmp")) / f"mlflow-server-{self.port}.log"
            )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        argv = server_command(
            self.backend_store_uri,
            self.artifacts_destination,
            self.host,
            self.port,
            self.workers,
            self.app_name,
        )
        env = {**os.environ, **self.env, "MLFLOW_DISABLE_TELEMETRY": "true"}
        # MLflow's background job runner (GenAI evaluation jobs) is not needed for tracking
        # and the registry, and it forks eight more processes: off unless asked for.
        env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
        with open(self.log_path, "ab") as log:
            try:
                # Own session: stop() signals the whole group (uvicorn/gunicorn workers too).
                self.process = subprocess.Popen(
                    argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
                )
            except OSError as exc:
                raise UsageProblem(f"cannot start mlflow server: {exc.strerror}") from exc
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise TrackingUnavailable(
                    f"mlflow server exited with code {self.process.returncode}: {self.log_tail()}"
                )
            if is_healthy(self.url, timeout=1.0):
                return
            time.sleep(0.2)
        self.stop()
        raise TrackingUnavailable(
            f"mlflow server on {self.url} not healthy after {self.startup_timeout:.0f} s: "
            f"{self.log_tail()}"
        )

    def log_tail(self, lines: int = 3) -> str:
        """The last lines of the server log, joined on one line."""
        return log_tail(self.log_path, lines)

    def stop(self, timeout: float = 15.0) -> None:
        """Terminate the server's process group (SIGTERM, then SIGKILL after ``timeout``)."""
        self._signal(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL the server's process group at once (a crash, for fault tests)."""
        self._signal(signal.SIGKILL, 10.0)

    def restart(self) -> TeamServer:
        """Start again on the same port and stores (after ``stop``/``kill`` or a crash)."""
        self.stop()
        return self.start()

    def _signal(self, sig: int, timeout: float) -> None:
        signal_group(self.process, sig, timeout)
        self.process = None

    def __enter__(self) -> TeamServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
