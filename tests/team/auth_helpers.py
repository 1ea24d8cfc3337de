"""An auth-enabled team server started the way a team starts it: ``jupyter mlops server --auth``
in a child process (real MLflow basic-auth app), plus users switched through MLflow's own env."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_mlops.core.team.server import free_port, is_healthy

CREDENTIAL_VARS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")


@dataclass
class AuthServer:
    """A running ``jupyter mlops server --auth`` and what it printed."""

    url: str
    folder: Path
    admin: str
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    passwords: dict[str, str] = field(default_factory=dict)

    @property
    def admin_password(self) -> str:
        """The generated admin password, read from its 0600 file."""
        return (self.folder / "auth" / "admin-password").read_text().strip()

    @contextlib.contextmanager
    def as_user(self, name: str | None) -> Iterator[None]:
        """MLflow's client in this process acts as ``name`` (None: no credentials)."""
        before = {k: os.environ.get(k) for k in CREDENTIAL_VARS}
        for key in CREDENTIAL_VARS:
            os.environ.pop(key, None)
        if name is not None:
            password = self.admin_password if name == self.admin else self.passwords[name]
            os.environ["MLFLOW_TRACKING_USERNAME"] = name
            os.environ["MLFLOW_TRACKING_PASSWORD"] = password
        try:
            yield
        finally:
            for key, value in before.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def env_of(self, name: str) -> dict[str, str]:
        """Environment for a child process (kernel, CLI) acting as ``name``."""
        env = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARS}
        password = self.admin_password if name == self.admin else self.passwords[name]
        env.update(MLFLOW_TRACKING_USERNAME=name, MLFLOW_TRACKING_PASSWORD=password)
        env["MLFLOW_TRACKING_URI"] = self.url
        return env

    def add_user(self, prefix: str) -> str:
        """A new user (unique name on a shared auth DB) with a known password; its name."""
        from jupyter_mlops.core.team.auth import add_user

        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        password = f"pw-{uuid.uuid4().hex}"
        with self.as_user(self.admin):
            add_user(self.url, name, password)
        self.passwords[name] = password
        return name

    def grant(self, name: str, permission: str, **target: str) -> None:
        """Grant as the admin (core's call, the one the CLI makes)."""
        from jupyter_mlops.core.team.auth import grant

        with self.as_user(self.admin):
            grant(self.url, name, permission, **target)

    def stop(self) -> None:
        """SIGTERM the CLI (it stops its mlflow server), SIGKILL if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_auth_server(
    folder: Path,
    backend_uri: str | None = None,
    auth_db_uri: str | None = None,
    admin: str = "admin",
    workers: int = 1,
    timeout: float = 240.0,
    artifacts_destination: str | None = None,
    env: dict[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
) -> AuthServer:
    """Run ``jupyter mlops server --auth`` on a free loopback port; return once it is healthy."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [
        sys.executable, "-m", "jupyter_mlops.cli", "server", "--auth",
        "--port", str(port), "--workers", str(workers),
        "--auth-dir", str(folder / "auth"), "--admin-username", admin,
        "--backend-store-uri", backend_uri or f"sqlite:///{folder / 'server.db'}",
        "--artifacts-destination", artifacts_destination or str(folder / "artifacts"),
    ]  # fmt: skip
    if auth_db_uri:
        argv += ["--auth-db-uri", auth_db_uri]
    argv += extra_args
    child_env = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARS}
    child_env.update(env or {}, MLFLOW_DISABLE_TELEMETRY="true", TMPDIR=str(folder))
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=child_env,
        cwd=folder,
    )  # fmt: skip
    server = AuthServer(f"http://127.0.0.1:{port}", folder, admin, proc)
    assert proc.stdout is not None
    threading.Thread(target=lambda: server.lines.extend(proc.stdout), daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(line.startswith("add a user:") for line in server.lines):
            if is_healthy(server.url):
                return server
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"jupyter mlops server --auth did not start: {''.join(server.lines)}")
