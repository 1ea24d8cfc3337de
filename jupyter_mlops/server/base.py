"""Base of every jupyter-mlops handler: authenticated JSON, blocking store calls off the loop."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from jupyter_server.base.handlers import APIHandler

from jupyter_mlops.server.backend import StoreView
from jupyter_mlops.server.config import JupyterMlops
from jupyter_mlops.server.errors import BadRequest, status_for
from jupyter_mlops.server.registry_view import RegistryView

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class MlopsHandler(APIHandler):
    """JSON API handler; subclasses decorate every verb with ``@tornado.web.authenticated``."""

    def initialize(
        self, store: StoreView, registry: RegistryView, settings: JupyterMlops, pool: Executor
    ) -> None:
        """Receive the objects built once by the extension loader."""
        self.store = store
        self.registry = registry
        self.mlops = settings
        self.pool = pool

    def set_default_headers(self) -> None:
        """Never cache store answers: runs change while the user works."""
        super().set_default_headers()
        self.set_header("Cache-Control", "no-store")

    async def call(self, action: str, work: Callable[[], Any]) -> Any:
        """Run ``work`` (argument checks + blocking store calls) in the worker pool.

        Any exception becomes an ``ApiFailure`` with the status ``errors.status_for`` picks;
        5xx failures are logged with their traceback, 4xx ones as one line.
        """
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.pool, work)
        except Exception as error:
            status, message = status_for(error)
            if status >= 500:
                self.log.error("jupyter-mlops: %s failed", action, exc_info=error)
            else:
                self.log.info("jupyter-mlops: %s -> %d %s", action, status, message)
            raise ApiFailure(status, message) from error

    async def reply(self, action: str, work: Callable[[], Any]) -> None:
        """Run ``work`` off the loop and finish with its JSON result (or a JSON error)."""
        try:
            result = await self.call(action, work)
        except ApiFailure as failure:
            self.fail(failure.status, failure.message)
            return
        self.finish(json.dumps(result, default=str))

    def fail(self, status: int, message: str) -> None:
        """Finish with ``{"error": message, "status": status}``."""
        self.set_status(status)
        self.finish(json.dumps({"error": message, "status": status}))

    def checked_id(self, value: str, what: str) -> str:
        """A run or experiment id from the URL, refused unless it looks like one."""
        if not ID_PATTERN.match(value):
            raise BadRequest(f"{what} id must be letters, digits, '_' or '-'")
        return value

    def int_argument(self, name: str, default: int, low: int, high: int) -> int:
        """An integer query argument within ``[low, high]``; anything else is a 400."""
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError as error:
            raise BadRequest(f"{name} must be an integer, got {raw!r}") from error
        if not low <= value <= high:
            raise BadRequest(f"{name} must be between {low} and {high}, got {value}")
        return value

    def json_body(self) -> dict[str, Any]:
        """The request body as a JSON object; anything else is a 400."""
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError as error:
            raise BadRequest("request body must be JSON") from error
        if not isinstance(body, dict):
            raise BadRequest("request body must be a JSON object")
        return body


class ApiFailure(Exception):
    """A request that ends in a JSON error reply with this status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
