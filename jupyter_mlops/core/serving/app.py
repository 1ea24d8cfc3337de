"""The ASGI app a serving process runs: MLflow's scoring app per version, measured.

``/invocations``, ``/ping``, ``/health`` and ``/version`` go to MLflow's own FastAPI app of the
version being served (read once per request, so a swap never moves a running request); around
each scoring call the wrapper times the request, counts it in Prometheus and the live stats,
names the version in the ``X-Jupyter-Mlops-Model-Version`` response header and turns error
responses into one-line JSON ``{"error", "status"}``. ``/metrics`` renders Prometheus text and
``/stats`` the JSON summary; ``/jupyter-mlops/control`` is a promotion's swap (``control.py``).
Copies of successful requests go to a tap thread (rows counted,
shadow model, traffic monitor) after the response is sent.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from jupyter_mlops.core.serving.control import CONTROL_PATH
from jupyter_mlops.core.serving.follow import ModelHandle
from jupyter_mlops.core.serving.stats import PrometheusMetrics, RequestStats

__all__ = ["VERSION_HEADER", "ServingApp", "one_line_error"]

log = logging.getLogger(__name__)
VERSION_HEADER = "x-jupyter-mlops-model-version"
TAP_QUEUE = 10_000
MAX_ERROR_CHARS = 300
_EXC_LINE = re.compile(r"^[\w.]+(?:Error|Exception|Warning)\b.*")
_EXC_REPR = re.compile(
    r"""^'?(?P<kind>\w+(?:Error|Exception))\((?P<q>['"])(?P<text>.*)(?P=q)\)'?"""
)
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Observer = Callable[[Any, bytes, str, bytes, float], None]


def one_line_error(body: bytes, status: int) -> str:
    """The actionable line of an MLflow error body (its message's last ``Error:``, or cause)."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        message = str(data.get("message") or data.get("error") or "")
        trace = str(data.get("stack_trace") or "")
        if message.startswith("Encountered an unexpected error") and trace.strip():
            text = _raised(trace)  # the model's own exception, all its lines
        elif "Error: " in message:  # "Failed to predict ... Error: <the cause>"
            text = message.rsplit("Error: ", 1)[-1]
        else:
            text = message or text
    line = " ".join(text.split()).split(" IMPORTANT: ", 1)[0]
    wrapped = _EXC_REPR.match(line)  # 'ValueError("...")' as MLflow quotes its cause
    if wrapped:
        kind = "invalid JSON" if wrapped["kind"] == "JSONDecodeError" else wrapped["kind"]
        line = f"{kind}: {wrapped['text']}"
    if not line:
        line = f"request failed with HTTP {status}"
    return line if len(line) <= MAX_ERROR_CHARS else line[: MAX_ERROR_CHARS - 1] + "…"


def _raised(trace: str) -> str:
    """The final ``Kind: message`` of a traceback, with the message's continuation lines."""
    lines = trace.strip().splitlines()
    starts = [i for i, line in enumerate(lines) if _EXC_LINE.match(line)]
    return " ".join(lines[starts[-1] :] if starts else lines[-1:])


def _json_response(status: int, payload: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    body = json.dumps(payload).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))],
    }
    return start, {"type": "http.response.body", "body": body}


class ServingApp:
    """ASGI app: measured dispatch to the served version's MLflow app, plus /metrics, /stats."""

    def __init__(
        self,
        handle: ModelHandle,
        stats: RequestStats,
        metrics: PrometheusMetrics,
        describe: Callable[[], dict[str, Any]],
    ) -> None:
        self.handle = handle
        self.stats = stats
        self.metrics = metrics
        self.describe = describe
        self.observers: list[Observer] = []
        self.control: Any = None  # a SwapControl: the control route and the gate requests pass
        self.tap_dropped = 0
        self._tap: queue.Queue[tuple[Any, bytes, str, bytes, float] | None] = queue.Queue(TAP_QUEUE)
        self._thread = threading.Thread(target=self._drain, name="jupyter-mlops-tap", daemon=True)
        self._thread.start()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/metrics":
            await self._plain(send, self.metrics.render(), b"text/plain; version=0.0.4")
        elif path == "/stats":
            await self._plain(send, json.dumps(self.describe()).encode(), b"application/json")
        elif path == "/invocations":
            if self.control is not None:
                await self.control.passed()  # a promotion is moving the alias right now
            await self._invoke(scope, receive, send)
        elif path == CONTROL_PATH and self.control is not None:
            await self.control(scope, receive, send)
        else:
            await self.handle.current.app(scope, receive, send)

    async def _plain(self, send: Send, body: bytes, content_type: bytes) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", b"%d" % len(body)),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _invoke(self, scope: Scope, receive: Receive, send: Send) -> None:
        slot = self.handle.current  # this request's version, whatever swaps meanwhile
        name, version = slot.ref.name, slot.version
        began = time.perf_counter()
        request: list[bytes] = []
        response: list[bytes] = []
        state: dict[str, Any] = {"status": 500, "held": None, "sent": False}
        version_header = (VERSION_HEADER.encode(), version.encode())

        async def receive_copy() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "http.request":
                request.append(message.get("body", b""))
            return message

        async def send_measured(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                headers = [*message.get("headers", []), version_header]
                message = {**message, "headers": headers}
                if message["status"] >= 400:  # rewritten once the whole body is known
                    state["held"] = message
                    return
                state["sent"] = True
                await send(message)
                return
            response.append(message.get("body", b""))
            if state["held"] is None:
                await send(message)
            elif not message.get("more_body", False):
                await self._send_error(send, state, b"".join(response), version_header)

        self.metrics.in_flight.labels(name).inc()
        try:
            await slot.app(scope, receive_copy, send_measured)
        except Exception as exc:  # a failure MLflow's app did not turn into a response
            state["status"] = 500
            if not state["sent"]:
                reason = f"{type(exc).__name__}: {exc}"
                await self._send_error(send, state, reason.encode(), version_header)
        finally:
            self.metrics.in_flight.labels(name).dec()
        elapsed = time.perf_counter() - began
        status = state["status"]
        self.metrics.requests.labels(name, version, str(status)).inc()
        self.metrics.duration.labels(name, version).observe(elapsed)
        self.stats.record(elapsed * 1000, status < 400, version)
        if status == 200 and self.observers:
            headers = dict(scope.get("headers", []))
            content_type = headers.get(b"content-type", b"application/json").decode("latin-1")
            item = (slot, b"".join(request), content_type, b"".join(response), elapsed)
            try:
                self._tap.put_nowait(item)
            except queue.Full:
                self.tap_dropped += 1

    async def _send_error(
        self, send: Send, state: dict[str, Any], body: bytes, version_header: tuple[bytes, bytes]
    ) -> None:
        status = state["status"]
        start, message = _json_response(
            status, {"error": one_line_error(body, status), "status": status}
        )
        start["headers"].append(version_header)
        state["sent"] = True
        await send(start)
        await send(message)

    def _drain(self) -> None:
        while (item := self._tap.get()) is not None:
            for observer in self.observers:
                try:
                    observer(*item)
                except Exception as exc:  # an observer never stops the others
                    log.warning("traffic observer failed: %s", exc)

    def count_rows(self, slot: Any, body: bytes, ctype: str, response: bytes, _: float) -> None:
        """Observer counting the rows a response predicted."""
        data = json.loads(response)
        predictions = data.get("predictions") if isinstance(data, dict) else data
        rows = len(predictions) if isinstance(predictions, list) else 1
        self.stats.add_rows(rows)
        self.metrics.rows.labels(slot.ref.name, slot.version).inc(rows)

    def close(self) -> None:
        """Stop the tap thread."""
        try:
            self._tap.put_nowait(None)
        except queue.Full:
            pass
