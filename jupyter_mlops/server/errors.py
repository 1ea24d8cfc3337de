"""The one place where errors become HTTP statuses and reply text: by error TYPE, never by text.

Domain errors are 4xx with their own one-line message; store failures are 5xx with a fixed
line (the cause goes to the server log). No reply carries SQL, a server path or a traceback.
"""

from __future__ import annotations

import re

from tornado.web import HTTPError

from jupyter_mlops.core.errors import (
    MlopsError,
    NotFound,
    PermissionDenied,
    RegistryError,
    TrackingUnavailable,
    UsageProblem,
)

__all__ = ["BadRequest", "NotFound", "TooLarge", "public_message", "status_for"]

STORE_FAILED = "The tracking store failed to answer; see the server log for details."
STORE_UNAVAILABLE = "The tracking store is unavailable; see the server log for details."
MAX_MESSAGE = 300


class BadRequest(UsageProblem):
    """A request parameter is missing or malformed (HTTP 400)."""


class TooLarge(MlopsError):
    """The artifact is larger than the server is configured to serve (HTTP 413)."""


# checked in order: the first matching type decides (subclasses before their bases)
_STATUS_BY_TYPE: list[tuple[type[BaseException], int]] = [
    (PermissionDenied, 403),  # the tracking server refused this user: its one line, no page
    (NotFound, 404),
    (TooLarge, 413),
    (UsageProblem, 400),
    (RegistryError, 400),
    (TrackingUnavailable, 503),
]

# MLflow error codes (MlflowException.error_code) that are the caller's fault, not the store's.
_MLFLOW_CODES = {
    "RESOURCE_DOES_NOT_EXIST": 404,
    "INVALID_PARAMETER_VALUE": 400,
    "BAD_REQUEST": 400,
    "RESOURCE_ALREADY_EXISTS": 409,
}

# text that must never reach a browser: SQL, driver chatter, tracebacks, absolute paths
_LEAKS = re.compile(
    r"\b(SELECT|INSERT|UPDATE|DELETE)\b.*\b(FROM|INTO|SET|WHERE)\b|\[SQL:|\[parameters:|"
    r"sqlalche\.me|Traceback|sqlite3?\.|File \"",
    re.IGNORECASE | re.DOTALL,
)
_ABSOLUTE_PATH = re.compile(
    r"(?<![\w.])(?:[A-Za-z][\w+.-]*:/*)?(?:[A-Za-z]:)?[/\\](?:[^\s'\"/\\]+[/\\])+[^\s'\"]*"
)


def public_message(text: str, fallback: str = STORE_FAILED) -> str:
    """The first line of ``text``, bounded, with absolute paths hidden; ``fallback`` when it
    holds SQL or a traceback."""
    lines = str(text).strip().splitlines()
    line = lines[0] if lines else ""
    if not line or _LEAKS.search(str(text)):
        return fallback
    line = _ABSOLUTE_PATH.sub("<path>", line)
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 1] + "…"


def status_for(error: BaseException) -> tuple[int, str]:
    """HTTP status and one-line public message for an exception raised while serving."""
    for kind, status in _STATUS_BY_TYPE:
        if isinstance(error, kind):
            if status >= 500:  # the cause (store URI, driver text) is for the server log only
                return status, STORE_UNAVAILABLE
            return status, public_message(str(error), "bad request")
    if isinstance(error, HTTPError) and 400 <= error.status_code < 500:
        text = error.log_message or error.reason or "bad request"
        if error.log_message and error.args:
            text = error.log_message % error.args
        return error.status_code, public_message(text, "bad request")
    code = getattr(error, "error_code", None)
    if isinstance(code, str) and code in _MLFLOW_CODES:
        text = getattr(error, "message", None) or str(error)
        return _MLFLOW_CODES[code], public_message(text, "the store refused the request")
    return 500, STORE_FAILED
