"""The control route of a serving process: a promotion swaps the served version before it returns.

``POST /jupyter-mlops/control`` (loopback only, ``Authorization: Bearer <control_token>`` from
the process's 0600 runtime file) takes JSON ``{"action", "model", "alias", "version"}``:

* ``prepare`` loads ``version`` beside the served one for every handle following
  ``models:/model@alias`` (the champion or the shadow);
* ``hold`` makes new scoring requests wait (at most ``HOLD_MAX_S``) while the registry moves;
* ``commit`` swaps the prepared version in and lets the held requests go (``"swap": false``
  only lets them go);
* ``check`` runs the alias poll now for those handles (a demotion's notice: an alias that no
  longer resolves leaves the served version in place, as the poll does).

So a request starts on the version that holds the alias at the moment it starts: before the
hold it is the old holder, after the commit the new one, and the registry write lies between.
Polling (``AliasFollower``) remains the way promotions made elsewhere arrive.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from typing import Any

from jupyter_mlops.core.errors import message_line
from jupyter_mlops.core.serving.follow import AliasFollower

__all__ = ["CONTROL_PATH", "HOLD_MAX_S", "SwapControl"]

log = logging.getLogger(__name__)
CONTROL_PATH = "/jupyter-mlops/control"
HOLD_MAX_S = 5.0  # a promotion that never commits cannot stall requests longer than this
MAX_BODY = 4096
LOOPBACK = ("127.0.0.1", "::1", "localhost")


class SwapControl:
    """The gate scoring requests pass and the control route that closes and opens it."""

    def __init__(self, follower: AliasFollower, token: str) -> None:
        self.follower = follower
        self.token = token
        self.held_from: float | None = None
        self._gate: asyncio.Event | None = None
        self._expiry: asyncio.TimerHandle | None = None

    async def passed(self) -> None:
        """Wait while a promotion holds new requests (returns at once otherwise)."""
        if self._gate is not None and not self._gate.is_set():
            await self._gate.wait()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        status, payload = await self._answer(scope, receive)
        body = json.dumps(payload).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope: Any, receive: Any) -> tuple[int, dict[str, Any]]:
        client = (scope.get("client") or ("",))[0]
        if client not in LOOPBACK:
            return _error(403, "the control route answers loopback callers only")
        if scope.get("method") != "POST":
            return _error(405, "POST a JSON action")
        headers = dict(scope.get("headers", []))
        given = headers.get(b"authorization", b"").decode("latin-1")
        if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
            return _error(401, "a valid control token is required")
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if len(raw) > MAX_BODY:
                return _error(413, "control request too large")
            if not message.get("more_body"):
                break
        try:
            request = json.loads(raw)
            action, model, alias = request["action"], request["model"], request["alias"]
            version = str(request.get("version", ""))
        except (ValueError, KeyError, TypeError):
            return _error(400, "send JSON with action, model, alias and version")
        handles = self.follower.following(str(model), str(alias))
        if action == "prepare":
            return await self._prepare(handles, version)
        if action == "hold":
            self._hold()
            return 200, {"following": len(handles), "held_from": self.held_from}
        if action == "commit":
            return 200, self._commit(handles, version, bool(request.get("swap", True)))
        if action == "check":
            return 200, await self._check(handles)
        return _error(400, f"unknown action {str(action)[:40]!r}")

    async def _prepare(self, handles: list[Any], version: str) -> tuple[int, dict[str, Any]]:
        errors = []
        for handle in handles:
            try:
                await asyncio.to_thread(self.follower.prepare, handle, version)
            except Exception as exc:  # the model cannot be loaded: say so, keep serving
                errors.append(f"cannot load version {version}: {message_line(exc)}")
        return 200, {"following": len(handles), "errors": errors}

    async def _check(self, handles: list[Any]) -> dict[str, Any]:
        for handle in handles:
            await asyncio.to_thread(self.follower.check, handle)
        uris = {h.current.ref.uri for h in handles}
        return {
            "following": len(handles),
            "versions": [h.current.version for h in handles],
            "unresolved": sorted(
                why for uri, why in self.follower.unresolved.items() if uri in uris
            ),
        }

    def _hold(self) -> None:
        if self._gate is None:
            self._gate = asyncio.Event()
        if self._gate.is_set() or self.held_from is None:
            self.held_from = time.time()
        self._gate.clear()
        if self._expiry is not None:
            self._expiry.cancel()
        self._expiry = asyncio.get_running_loop().call_later(HOLD_MAX_S, self._expired)

    def _expired(self) -> None:
        log.warning("a promotion held requests for %.0f s without committing", HOLD_MAX_S)
        self._release()

    def _release(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        self.held_from = None
        if self._gate is not None:
            self._gate.set()

    def _commit(self, handles: list[Any], version: str, swap: bool) -> dict[str, Any]:
        served = []
        for handle in handles:
            if swap:
                self.follower.swap(handle, version, self.held_from)
            served.append(handle.current.version)
        self._release()
        return {"following": len(handles), "versions": served}


def _error(status: int, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": message, "status": status}
