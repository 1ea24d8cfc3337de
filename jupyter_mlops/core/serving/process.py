"""The serving child process: ``python -m jupyter_mlops.core.serving.process SPEC_JSON``.

It binds the port first (a port in use is reported at once), loads the model, announces itself
in the runtime dir, prints one JSON line (``{"ready": ...}`` or ``{"error": ...}``) for its
parent and then runs uvicorn until SIGTERM. It dies with its parent: Linux delivers SIGTERM
when the parent exits (``PR_SET_PDEATHSIG``) and a watchdog thread also exits once the
parent pid is gone, so neither a kernel restart nor ``kill -9`` leaves an orphan server.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import logging
import os
import secrets
import signal
import socket
import sys
import threading
import time
from typing import Any

__all__ = ["main"]

PR_SET_PDEATHSIG = 1
WATCHDOG_S = 0.5
GRACE_S = 3.0


def die_with_parent(parent_pid: int) -> None:
    """Ask Linux for SIGTERM when the parent exits; exit now if it already has."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(0)


def _report(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets whose proto says TCP,
    # and without it every response waits out the client's delayed ACK (~40 ms)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise SystemExit(
                f"port {port} on {host} is already in use; pick another --port"
            ) from None
        raise SystemExit(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _load(ref: Any, client: Any) -> Any:
    from jupyter_mlops.core.serving.follow import load_slot, resolve_version

    try:
        version = resolve_version(client, ref) if ref.alias or ref.version else ""
        return load_slot(ref, version)
    except Exception as exc:
        line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SystemExit(f"cannot load {ref.uri}: {line}") from None


class Serving:
    """Everything one serving process holds: model handles, stats, app, follower, tap users."""

    def __init__(self, spec: dict[str, Any]) -> None:
        from jupyter_mlops.core.serving.app import ServingApp
        from jupyter_mlops.core.serving.follow import AliasFollower, ModelHandle, parse_model_uri
        from jupyter_mlops.core.serving.stats import PrometheusMetrics, RequestStats
        from jupyter_mlops.core.store import get_client

        self.spec = spec
        self.client = get_client(spec["tracking_uri"])
        self.stats = RequestStats()
        self.metrics = PrometheusMetrics()
        self.info: dict[str, Any] = {}
        ref = parse_model_uri(spec["model_uri"])
        self.handle = ModelHandle(_load(ref, self.client), self._swapped)
        self.shadow = None
        self.shadow_handle = None
        if spec.get("shadow_uri"):
            shadow_ref = parse_model_uri(spec["shadow_uri"])
            self.shadow_handle = ModelHandle(_load(shadow_ref, self.client), self._announce)
        self.app = ServingApp(self.handle, self.stats, self.metrics, self.describe)
        self.app.observers.append(self.app.count_rows)
        if self.shadow_handle is not None:
            from jupyter_mlops.core.serving.shadow import ShadowRunner

            self.shadow = ShadowRunner(self.shadow_handle, self.stats, self.metrics)
            self.app.observers.append(lambda s, b, ct, r, _: self.shadow.submit(b, ct, r))
        self.traffic = None
        if spec.get("monitor"):
            from jupyter_mlops.core.serving.traffic import TrafficMonitor

            self.traffic = TrafficMonitor(spec["monitor"], spec["tracking_uri"])
            self.app.observers.append(self.traffic.sample)
        handles = [self.handle] + ([self.shadow_handle] if self.shadow_handle else [])
        self.follower = AliasFollower(self.client, handles, float(spec.get("poll_s", 2.0)))
        from jupyter_mlops.core.serving.control import SwapControl

        self.control = SwapControl(self.follower, secrets.token_urlsafe(32))
        self.app.control = self.control

    def _swapped(self, slot: Any, held_from: float | None = None) -> None:
        self.stats.swapped(slot.version, held_from)
        self._announce()

    def _announce(self, *_: Any) -> None:
        if self.info:
            from jupyter_mlops.core.serving.runtime import announce

            self.info.update(self._identity())
            announce(self.info)

    def _identity(self) -> dict[str, Any]:
        current = self.handle.current
        shadow = self.shadow_handle.current if self.shadow_handle else None
        return {
            "model": current.ref.name,
            "version": current.version,
            "shadow_version": shadow.version if shadow else None,
        }

    def describe(self) -> dict[str, Any]:
        """The ``/stats`` body: identity, request stats, shadow and monitor state."""
        shadow = self.shadow_handle.current.version if self.shadow_handle else None
        out = self.stats.snapshot(shadow)
        out.update(self._identity())
        out["model_uri"] = self.spec["model_uri"]
        out["shadow_uri"] = self.spec.get("shadow_uri")
        out["pid"] = os.getpid()
        out["load_failures"] = dict(self.follower.failed)
        out["unresolved_aliases"] = dict(self.follower.unresolved)
        out["monitor"] = self.traffic.summary() if self.traffic else None
        out["tap_dropped"] = self.app.tap_dropped
        return out

    def announce(self, url: str) -> None:
        """Write the runtime file ``servers()``, the Models tab and ``promote`` read."""
        from jupyter_mlops.core.serving.runtime import store_key

        roles = [("model", self.handle)] + (
            [("shadow", self.shadow_handle)] * bool(self.shadow_handle)
        )
        self.info = {
            "pid": os.getpid(),
            "parent_pid": self.spec["parent_pid"],
            "url": url,
            "model_uri": self.spec["model_uri"],
            "shadow_uri": self.spec.get("shadow_uri"),
            "started": time.time(),
            "store": store_key(self.spec["tracking_uri"]),
            "follows": [
                {"model": h.current.ref.name, "alias": h.current.ref.alias, "role": role}
                for role, h in roles
                if h is not None and h.current.ref.alias
            ],
            "control_token": self.control.token,
        }
        self._announce()

    def close(self) -> None:
        """Stop the helper threads and forget the runtime file."""
        from jupyter_mlops.core.serving.runtime import retract

        self.follower.stop()
        self.app.close()
        if self.shadow is not None:
            self.shadow.stop()
        if self.traffic is not None:
            self.traffic.stop()
        retract()


def _watch_parent(parent_pid: int, server: Any) -> None:
    """Exit once the parent is gone (backs up PDEATHSIG on every platform)."""
    while os.getppid() == parent_pid:
        time.sleep(WATCHDOG_S)
    server.should_exit = True
    time.sleep(GRACE_S)
    from jupyter_mlops.core.serving.runtime import retract

    retract()
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    """Serve until terminated; a startup failure is one ``{"error"}`` line and exit 1."""
    spec = json.loads((argv or sys.argv[1:])[0])
    die_with_parent(int(spec["parent_pid"]))
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    os.environ["MLFLOW_TRACKING_URI"] = spec["tracking_uri"]
    try:
        sock = _bind(spec["host"], int(spec["port"]))
        serving = Serving(spec)
    except SystemExit as exc:
        _report({"error": str(exc.code)})
        return 1
    import uvicorn

    host, port = sock.getsockname()[:2]
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    config = uvicorn.Config(
        serving.app, lifespan="off", log_level="warning", access_log=False, timeout_notify=30
    )
    server = uvicorn.Server(config)
    threading.Thread(target=_watch_parent, args=(spec["parent_pid"], server), daemon=True).start()
    serving.announce(url)
    serving.follower.start()
    _report(
        {"ready": True, "url": url, "pid": os.getpid(), "version": serving.handle.current.version}
    )
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), sys.stdout.fileno())
    try:
        server.run(sockets=[sock])
    finally:
        serving.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
