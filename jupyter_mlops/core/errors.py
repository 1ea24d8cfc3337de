"""Our error types: MLflow/DVC failures are translated into these at the core's border."""

from __future__ import annotations


class MlopsError(Exception):
    """Base of every error jupyter-mlops raises on purpose; its message is one actionable line."""


class UsageProblem(MlopsError):
    """Bad input from the user (a flag, a path, a name); adapters show it as one line."""


class TrackingUnavailable(MlopsError):
    """The MLflow tracking store could not be reached or refused a request."""


class DataVersionError(MlopsError):
    """A DVC or git operation for data versioning failed."""


class RegistryError(MlopsError):
    """A model-registry operation failed (unknown model, version or alias)."""


def message_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of ``exc``'s message (at most ``limit`` characters), else its type name."""
    lines = str(exc).strip().splitlines()
    return lines[0][:limit] if lines else type(exc).__name__


def first_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (at most 300 characters) for one-line reports."""
    line = message_line(exc)
    return type(exc).__name__ if line == type(exc).__name__ else f"{type(exc).__name__}: {line}"


class NotFound(MlopsError):
    """What was asked for (experiment, run, artifact, model, version, alias) does not exist."""


class ModelNotFound(RegistryError, NotFound):
    """An unknown registered model, model version or alias."""


KIND_FORBIDDEN = "forbidden"  # PermissionDenied.kind of a 403: the user lacks a permission
KIND_UNAUTHENTICATED = "unauthenticated"  # ... of a 401: the credentials were refused


class PermissionDenied(MlopsError):
    """The tracking server refused the caller: missing credentials (401) or permission (403).

    ``kind`` says which (``KIND_FORBIDDEN`` or ``KIND_UNAUTHENTICATED``): callers that treat
    them differently read it, never the message.
    """

    def __init__(self, message: str = "", kind: str = KIND_FORBIDDEN) -> None:
        super().__init__(message)
        self.kind = kind
