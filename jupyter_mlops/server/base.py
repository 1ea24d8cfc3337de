"""Base of every jupyter-mlops handler: authenticated JSON, checked arguments, store calls off
the loop, and every error (ours, tornado's, the store's) answered as ``{"error", "status"}``."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from jupyter_server.base.handlers import APIHandler

from jupyter_mlops.server.config import JupyterMlops
from jupyter_mlops.server.errors import BadRequest, public_message, status_for
from jupyter_mlops.server.registry_adapter import RegistryAdapter
from jupyter_mlops.server.runs_adapter import RunsAdapter

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
INT64_MAX = 2**63 - 1
MAX_QUERY_VALUES = 200  # argument values in one request (repeated order_by included)


def shown(value: str, limit: int = 40) -> str:
    """A user-supplied value quoted for an error line, cut to ``limit`` characters."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


class MlopsHandler(APIHandler):
    """JSON API handler; subclasses decorate every verb with ``@tornado.web.authenticated``."""

    def initialize(
        self,
        runs: RunsAdapter,
        registry: RegistryAdapter,
        settings: JupyterMlops,
        pool: Executor,
    ) -> None:
        """Receive the objects built once by the extension loader."""
        self.runs = runs
        self.registry = registry
        self.mlops = settings
        self.pool = pool

    def set_default_headers(self) -> None:
        """Never cache store answers: runs change while the user works."""
        super().set_default_headers()
        self.set_header("Cache-Control", "no-store")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Tornado's own errors (bad URL encoding, 403, 405, ...) as our JSON error body."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if exc is not None and status_code < 500:
            _, message = status_for(exc)
        elif status_code < 500:
            message = self._reason or "bad request"
        else:
            message = "internal server error; see the server log"
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": public_message(message), "status": status_code}))

    def check_query(self) -> None:
        """Refuse query arguments that are not UTF-8 or too many, before any store call."""
        count = 0
        for name, values in self.request.query_arguments.items():
            for raw in values:
                count += 1
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise BadRequest(f"query argument {shown(name)} is not UTF-8 text") from error
        if count > MAX_QUERY_VALUES:
            raise BadRequest(f"at most {MAX_QUERY_VALUES} query argument values, got {count}")

    async def call(self, action: str, work: Callable[[], Any]) -> Any:
        """Check the query, then run ``work`` (argument checks + store calls) in the pool.

        Any exception becomes an ``ApiFailure`` with the status ``errors.status_for`` picks;
        5xx failures are logged with their traceback, 4xx ones as one line.
        """
        loop = asyncio.get_running_loop()
        try:
            self.check_query()
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
            raise BadRequest(f"{what} id must be 1-64 letters, digits, '_' or '-'")
        if what == "experiment" and value.isdigit() and int(value) > INT64_MAX:
            raise BadRequest("experiment id is out of range (a 64-bit integer)")
        return value

    def text_argument(self, name: str, default: str = "", max_length: int = 10_000) -> str:
        """A text query argument (UTF-8, at most ``max_length`` characters)."""
        value = self.get_query_argument(name, default)
        if len(value) > max_length:
            raise BadRequest(f"{name} must be at most {max_length} characters")
        return value

    def int_argument(self, name: str, default: int, low: int, high: int) -> int:
        """An integer query argument within ``[low, high]``; anything else is a 400."""
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return default
        if not (raw.isascii() and raw.lstrip("+-").isdigit() and len(raw) <= 20):
            raise BadRequest(f"{name} must be an integer, got {shown(raw)}")
        value = int(raw)
        if not low <= value <= high:
            raise BadRequest(f"{name} must be between {low} and {high}, got {shown(raw)}")
        return value

    def json_body(self) -> dict[str, Any]:
        """The request body as a JSON object; anything else is a 400."""
        try:
            body = json.loads(self.request.body or b"{}")
        except (ValueError, RecursionError) as error:
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
