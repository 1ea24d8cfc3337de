"""Permissions on the team server: MLflow's basic-auth app as ``jupyter mlops server --auth``
sets it up, and the admin's calls that add users and grant permissions.

The auth app keeps users and grants in its own database (sqlite beside the ini by default, or the
team's PostgreSQL: its tables and migration table never collide with the tracking store's). The
admin password is generated once into a 0600 file and never printed; the default permission is
READ: everyone sees every experiment and model, writes need EDIT (creators get MANAGE on what
they create), moving an alias needs MANAGE.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_mlops.core.access import GRANTABLE, not_authenticated, refusal, tracking_user
from jupyter_mlops.core.contracts import ENV_AUTH_CONFIG
from jupyter_mlops.core.errors import (
    PermissionDenied,
    TrackingUnavailable,
    UsageProblem,
    first_line,
    message_line,
)
from jupyter_mlops.core.store import redact_uri

DEFAULT_PERMISSION = "READ"
DEFAULT_PERMISSIONS = ("READ", "EDIT", "MANAGE", "NO_PERMISSIONS")
AUTH_DIR = ".mlflow-auth"  # under the project root unless --auth-dir says otherwise
INI_NAME = "basic_auth.ini"
ADMIN_PASSWORD_FILE = "admin-password"
FLASK_SECRET_FILE = "flask-secret"
CREATE_USER = "/api/2.0/mlflow/users/create"
GRANT = "/api/3.0/mlflow/users/permissions/grant"
_NAME = re.compile(r"[\w.@+-]{1,255}")


def check_username(name: Any, what: str = "user name") -> str:
    """A user name MLflow can store and a shell can pass: letters, digits, ``. @ + - _``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UsageProblem(f"{what} must be 1-255 letters, digits, '.', '@', '+', '-' or '_'")
    return name


def secret_file(path: Path, nbytes: int = 24) -> str:
    """The secret kept in ``path`` (0600), generated on first use; never logged."""
    if path.exists():
        os.chmod(path, 0o600)
        value = path.read_text().strip()
        if value:
            return value
        path.unlink()
    value = secrets.token_urlsafe(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


@dataclass
class AuthSetup:
    """The files of one auth-enabled server: ini, admin password, session secret (all 0600)."""

    folder: Path
    database_uri: str | None = None  # default: sqlite:///<folder>/basic_auth.db
    admin_username: str = "admin"
    default_permission: str = DEFAULT_PERMISSION
    cache_seconds: int = 0  # MLflow's auth_cache_ttl_seconds (0: check every request)

    @property
    def ini_path(self) -> Path:
        """The auth app's configuration (``MLFLOW_AUTH_CONFIG_PATH``)."""
        return self.folder / INI_NAME

    @property
    def admin_password_file(self) -> Path:
        """Where the generated admin password is kept (0600)."""
        return self.folder / ADMIN_PASSWORD_FILE

    @property
    def db_uri(self) -> str:
        """The auth database: the given URI, else sqlite beside the ini."""
        return self.database_uri or f"sqlite:///{self.folder / 'basic_auth.db'}"

    def check(self) -> None:
        """UsageProblem for an admin name or default permission the auth app cannot take."""
        check_username(self.admin_username, "--admin-username")
        if self.default_permission not in DEFAULT_PERMISSIONS:
            choices = ", ".join(DEFAULT_PERMISSIONS)
            raise UsageProblem(f"--default-permission must be one of {choices}")
        if not 0 <= self.cache_seconds <= 3600:
            raise UsageProblem("--auth-cache-seconds must be between 0 and 3600")

    def prepare(self) -> dict[str, str]:
        """Write the files (the password only the first time) and return the server's env."""
        self.check()
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        password = secret_file(self.admin_password_file)
        flask_secret = secret_file(self.folder / FLASK_SECRET_FILE, 32)
        text = (
            "[mlflow]\n"
            f"default_permission = {self.default_permission}\n"
            f"database_uri = {self.db_uri}\n"
            f"admin_username = {self.admin_username}\n"
            f"admin_password = {password}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            # a password check is a slow hash on every request; remembering a good one (opt-in:
            # MLflow 3.17 then answers a Bearer-only request with 500 instead of 401, and a
            # changed or deleted password keeps working on another worker that long)
            f"auth_cache_ttl_seconds = {self.cache_seconds}\n"
        )
        fd = os.open(self.ini_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text.replace("%", "%%"))  # configparser interpolates '%'
        os.chmod(self.ini_path, 0o600)
        # MLflow's env vars would override the ini: the server must see ours
        return {
            ENV_AUTH_CONFIG: str(self.ini_path),
            "MLFLOW_AUTH_ADMIN_USERNAME": self.admin_username,
            "MLFLOW_AUTH_ADMIN_PASSWORD": password,
            "MLFLOW_FLASK_SERVER_SECRET_KEY": flask_secret,
        }

    def describe(self) -> str:
        """One line for the operator: the admin and where its password is (never the password)."""
        return (
            f"auth: admin user {self.admin_username!r}, password in {self.admin_password_file} "
            f"(0600); users and grants in {redact_uri(self.db_uri)}; "
            f"default permission {self.default_permission}"
        )


def _call(uri: str, endpoint: str, payload: dict[str, str], what: str) -> None:
    """POST to the auth API as the admin in the environment; our errors for every refusal."""
    from jupyter_mlops.core.mlflow_internals import auth_api

    if not uri.startswith(("http://", "https://")):
        raise UsageProblem(f"{what}: {redact_uri(uri)} is not a tracking server (http://...)")
    try:
        status, body = auth_api(uri, "POST", endpoint, json=payload)
    except Exception as exc:
        message = f"{what}: {redact_uri(uri)} unreachable ({first_line(exc)})"
        raise TrackingUnavailable(message) from exc
    if status == 200:
        return
    message = message_line(body.get("message", "")) if isinstance(body, dict) else ""
    if status == 401:
        raise not_authenticated()
    if status == 403:
        raise PermissionDenied(f"permission denied: {tracking_user()} may not {what}")
    if status == 404 and not message:
        raise UsageProblem(
            f"{what}: {redact_uri(uri)} has no auth app (start it with jupyter mlops server --auth)"
        )
    if 400 <= status < 500:
        raise UsageProblem(f"{what}: {message or f'refused ({status})'}")
    raise TrackingUnavailable(f"{what}: the server failed ({status})")


def add_user(uri: str, username: str, password: str) -> None:
    """Create ``username`` on the auth-enabled server ``uri`` (admin credentials from env)."""
    check_username(username)
    if not password or any(c in password for c in "\r\n\x00"):
        raise UsageProblem("the password must be one non-empty line")
    _call(uri, CREATE_USER, {"username": username, "password": password}, f"add {username}")


def grant(
    uri: str,
    username: str,
    permission: str,
    *,
    experiment: str | None = None,
    model: str | None = None,
) -> str:
    """Give ``username`` ``permission`` on one experiment (name or id) or registered model;
    returns what was granted, as a line."""
    check_username(username)
    permission = str(permission).upper()
    if permission not in GRANTABLE:
        raise UsageProblem(f"--permission must be one of {', '.join(GRANTABLE)}")
    if (experiment is None) == (model is None):
        raise UsageProblem("name exactly one of --experiment NAME and --model NAME")
    if experiment is not None:
        kind, resource_id, label = "experiment", _experiment_id(uri, experiment), experiment
    else:
        kind, resource_id, label = "registered_model", _model_name(uri, str(model)), model
    payload = {
        "username": username,
        "resource_type": kind,
        "resource_id": resource_id,
        "permission": permission,
    }
    target = f"{'experiment' if experiment is not None else 'model'} {label!r}"
    _call(uri, GRANT, payload, f"grant {permission} on {target} to {username}")
    return f"{username} now has {permission} on {target}"


def _experiment_id(uri: str, name: str) -> str:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    try:
        found = client.get_experiment_by_name(name)
        if found is None and name.isdigit():
            found = client.get_experiment(name)
    except Exception as exc:
        raise _lookup_error(exc, f"experiment {name!r}") from exc
    if found is None:
        raise UsageProblem(f"no experiment named {name!r} on {redact_uri(uri)}")
    return str(found.experiment_id)


def _model_name(uri: str, name: str) -> str:
    from mlflow.tracking import MlflowClient

    try:
        return str(MlflowClient(tracking_uri=uri).get_registered_model(name).name)
    except Exception as exc:
        raise _lookup_error(exc, f"model {name!r}") from exc


def _lookup_error(exc: Exception, target: str) -> Exception:
    denied = refusal(exc, "READ", target)
    if denied is not None:
        return denied
    if getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST":
        return UsageProblem(f"no {target}")
    return TrackingUnavailable(f"{target} not readable: {first_line(exc)}")
