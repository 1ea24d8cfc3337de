"""The one place where errors become HTTP statuses: domain errors → 4xx, store failures → 5xx."""

from __future__ import annotations

from jupyter_mlops.core.errors import MlopsError, RegistryError, TrackingUnavailable, UsageProblem


class BadRequest(UsageProblem):
    """A request parameter is missing or malformed (HTTP 400)."""


class NotFound(MlopsError):
    """The experiment, run, artifact or model asked for does not exist (HTTP 404)."""


class TooLarge(MlopsError):
    """The artifact is larger than the server is configured to serve (HTTP 413)."""


class Unsupported(MlopsError):
    """The artifact is neither text nor a supported image (HTTP 415)."""


# MLflow error codes (MlflowException.error_code) that are the caller's fault, not the store's.
_MLFLOW_CODES = {
    "RESOURCE_DOES_NOT_EXIST": 404,
    "INVALID_PARAMETER_VALUE": 400,
    "BAD_REQUEST": 400,
    "RESOURCE_ALREADY_EXISTS": 409,
}


def status_for(error: BaseException) -> tuple[int, str]:
    """HTTP status and one-line message for an exception raised while serving a request."""
    if isinstance(error, NotFound):
        return 404, str(error)
    if isinstance(error, TooLarge):
        return 413, str(error)
    if isinstance(error, Unsupported):
        return 415, str(error)
    if isinstance(error, UsageProblem):
        return 400, str(error)
    if isinstance(error, RegistryError):
        text = str(error)
        missing = "not found" in text.lower() or "does not exist" in text.lower()
        return (404 if missing else 400), text
    if isinstance(error, TrackingUnavailable):
        return 503, str(error)
    code = getattr(error, "error_code", None)
    if isinstance(code, str) and code in _MLFLOW_CODES:
        return _MLFLOW_CODES[code], _first_line(getattr(error, "message", None) or str(error))
    return 500, "The tracking store failed to answer; see the server log for details."


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "error"
    return line[:500]
