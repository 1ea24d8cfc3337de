"""Who the tracking server sees and what it lets them do: credentials, permissions, refusals.

MLflow's client itself sends ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` (or
``~/.mlflow/credentials``) as HTTP basic auth on every request, and ``MLFLOW_TRACKING_TOKEN`` as
a Bearer header when no password is set; kernels, the server extension and the CLI only inherit
them, and no text of ours ever carries them. A 401/403 from the server becomes one
``PermissionDenied`` line here, the one place that reads MLflow's refusal codes.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

from jupyter_mlops.core.contracts import (
    ENV_TRACKING_PASSWORD,
    ENV_TRACKING_TOKEN,
    ENV_TRACKING_USERNAME,
)
from jupyter_mlops.core.errors import (
    KIND_UNAUTHENTICATED,
    PermissionDenied,
    TrackingUnavailable,
    first_line,
)

FORBIDDEN = "PERMISSION_DENIED"  # MLflow's error code for HTTP 403
UNAUTHENTICATED = "UNAUTHENTICATED"  # ... and for HTTP 401
GRANTABLE = ("READ", "EDIT", "MANAGE")
CURRENT_USER = "/api/2.0/mlflow/users/current"
USER_PERMISSION = "/api/3.0/mlflow/users/permissions/get"


def tracking_user() -> str:
    """The name the tracking server knows this process by (for messages; never a secret)."""
    from jupyter_mlops.core.store import current_user

    return os.environ.get(ENV_TRACKING_USERNAME, "").strip() or current_user()


def credentials_hint() -> str:
    """What to set when the server refused to authenticate us."""
    if os.environ.get(ENV_TRACKING_TOKEN) and not os.environ.get(ENV_TRACKING_PASSWORD):
        return (
            f"{ENV_TRACKING_TOKEN} is sent as a Bearer token, which MLflow's basic-auth app "
            f"does not accept: set {ENV_TRACKING_USERNAME} and {ENV_TRACKING_PASSWORD}"
        )
    return f"set {ENV_TRACKING_USERNAME} and {ENV_TRACKING_PASSWORD}"


def _refusal_code(exc: BaseException | None) -> str | None:
    """FORBIDDEN or UNAUTHENTICATED when ``exc`` (or an error it was raised from) is a 401/403."""
    seen = 0
    while exc is not None and seen < 5:
        code = getattr(exc, "error_code", None)
        if code in (FORBIDDEN, UNAUTHENTICATED):
            return str(code)
        if isinstance(exc, PermissionDenied):
            return UNAUTHENTICATED if exc.kind == KIND_UNAUTHENTICATED else FORBIDDEN
        exc, seen = exc.__cause__, seen + 1
    return None


def is_refusal(exc: BaseException) -> bool:
    """True when ``exc`` is (or was raised from) the tracking server's 401 or 403."""
    return _refusal_code(exc) is not None


def refusal(exc: BaseException, needed: str, target: str) -> PermissionDenied | None:
    """``PermissionDenied`` with one line for a 401/403 ``exc``; None for any other error. Its
    ``kind`` is ``KIND_FORBIDDEN`` (403) or ``KIND_UNAUTHENTICATED`` (401).

    ``needed`` is the permission the call needs (READ, EDIT, MANAGE), ``target`` what it was
    for, e.g. ``model 'churn'``.
    """
    if isinstance(exc, PermissionDenied):
        return exc
    code = _refusal_code(exc)
    if code == FORBIDDEN:
        return PermissionDenied(f"permission denied: {tracking_user()} lacks {needed} on {target}")
    if code == UNAUTHENTICATED:
        return not_authenticated()
    return None


def not_authenticated() -> PermissionDenied:
    """The one line for a 401: whose credentials were refused and what to set."""
    who = os.environ.get(ENV_TRACKING_USERNAME, "").strip()
    subject = f"the credentials of {who!r}" if who else "anonymous requests"
    return PermissionDenied(
        f"not authenticated: the tracking server refused {subject} ({credentials_hint()})",
        kind=KIND_UNAUTHENTICATED,
    )


@dataclass
class Access:
    """What the current user may do on one resource; ``permission`` None means no auth app."""

    user: str
    permission: str | None
    is_admin: bool = False

    @property
    def can_manage(self) -> bool:
        """MANAGE (or admin, or a server without permissions)."""
        return self.permission is None or self.is_admin or self.permission == "MANAGE"

    @property
    def can_edit(self) -> bool:
        """EDIT or more."""
        return self.can_manage or self.permission == "EDIT"

    def denial(self, needed: str, target: str) -> str | None:
        """The one-line reason ``needed`` is missing on ``target``, None when it is not."""
        ok = self.can_manage if needed == "MANAGE" else self.can_edit
        if ok:
            return None
        return f"permission denied: {self.user} lacks {needed} on {target}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return asdict(self)


def _is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def resource_access(uri: str, resource_type: str, resource_id: str) -> Access:
    """The current user's permission on ``resource_type``/``resource_id`` of the server ``uri``.

    Local stores and servers without the auth app allow everything (``permission`` None).
    """
    from jupyter_mlops.core.mlflow_internals import auth_api

    user = tracking_user()
    if not _is_server(uri):
        return Access(user, None)
    try:
        status, body = auth_api(uri, "GET", CURRENT_USER)
        if status == 404:
            return Access(user, None)  # no auth app on this server
        if status == 401:
            raise not_authenticated()
        if status == 403 or not isinstance(body, dict):
            return Access(user, "NO_PERMISSIONS")
        me = body.get("user") or {}
        name = str(me.get("username") or user)
        if me.get("is_admin"):
            return Access(name, "MANAGE", is_admin=True)
        params = {"username": name, "resource_type": resource_type, "resource_id": resource_id}
        status, body = auth_api(uri, "GET", USER_PERMISSION, params=params)
    except PermissionDenied:
        raise
    except Exception as exc:  # connection refused, timeout: the caller's store call says more
        raise TrackingUnavailable(f"permissions of {user} not readable: {first_line(exc)}") from exc
    if status != 200 or not isinstance(body, dict):
        return Access(name, "NO_PERMISSIONS")
    return Access(name, str(body.get("permission") or "NO_PERMISSIONS"))


def model_access(model: str, uri: str) -> Access:
    """The current user's permission on registered model ``model``."""
    return resource_access(uri, "registered_model", model)


def require_manage(model: str, uri: str) -> None:
    """``PermissionDenied`` unless the current user holds MANAGE on ``model``."""
    reason = model_access(model, uri).denial("MANAGE", f"model {model!r}")
    if reason:
        raise PermissionDenied(reason)
