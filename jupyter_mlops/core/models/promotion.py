"""Promotion through MLflow aliases, with a history that repeated promotions never overwrite.

On a server with MLflow's auth app, promoting and demoting need MANAGE on the model (MLflow
itself would let EDIT move an alias): checked before anything changes.

Every promotion or demotion is also written as one registered-model tag
``jupyter_mlops.promotion.<20-digit epoch ns>-<6 hex>`` whose JSON value holds who, when, which
alias, the new version and the version it replaced. Keys sort in time order and are never
reused. A promotion also swaps the new version into the model servers of this host that follow
the alias before it returns (``core.serving.notify``); a demotion tells them the alias is gone
(they keep serving their version, as their poll would). ``Promotion.serving`` holds one line per
server that could not act.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from jupyter_mlops.core.access import require_manage
from jupyter_mlops.core.contracts import TAG_PROMOTION_PREFIX
from jupyter_mlops.core.errors import ModelNotFound, RegistryError
from jupyter_mlops.core.models.registry import CHAMPION, _mlflow_errors, registry_client, translated
from jupyter_mlops.core.store import current_user, resolve_tracking_uri

HISTORY_TAG_PREFIX = TAG_PROMOTION_PREFIX
MAX_ALIAS_LENGTH = 255  # MLflow's own limit
_ALIAS = re.compile(r"[\w-]+")  # MLflow's alias characters (``_REGISTERED_MODEL_ALIAS_REGEX``)


@dataclass
class Promotion:
    """One entry of the promotion history: ``version`` None means the alias was removed."""

    key: str
    action: str  # "promote" or "demote"
    alias: str
    version: str | None
    previous_version: str | None
    user: str
    time_ms: int
    serving: list[str] = field(default_factory=list)  # servers that could not swap (not recorded)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return asdict(self)


def check_alias(alias: Any) -> str:
    """An alias MLflow accepts: letters, digits, ``_``, ``-``; not ``latest`` nor ``v<N>``."""
    alias = alias.strip() if isinstance(alias, str) else ""
    if not alias:
        raise RegistryError("an alias must be a non-empty name")
    if len(alias) > MAX_ALIAS_LENGTH or not _ALIAS.fullmatch(alias):
        raise RegistryError(f"an alias is at most {MAX_ALIAS_LENGTH} letters, digits, '_' or '-'")
    if alias.lower() == "latest" or (alias[0].lower() == "v" and alias[1:].isdigit()):
        raise RegistryError(f"{alias!r} is reserved by MLflow; choose another alias")
    return alias


def _holder(client: Any, model: str, alias: str) -> str | None:
    """The version currently holding ``alias``, None when no version does."""
    aliases = client.get_registered_model(model).aliases or {}
    version = aliases.get(alias)
    return None if version is None else str(version)


def _record(client: Any, model: str, entry: Promotion) -> None:
    value = {k: v for k, v in entry.to_dict().items() if k not in ("key", "serving")}
    client.set_registered_model_tag(model, entry.key, json.dumps(value, sort_keys=True))


def _new_entry(
    action: str, alias: str, version: str | None, previous: str | None, user: str | None
) -> Promotion:
    stamp = time.time_ns()
    key = f"{HISTORY_TAG_PREFIX}{stamp:020d}-{secrets.token_hex(3)}"
    who = user or current_user()
    return Promotion(key, action, alias, version, previous, who, stamp // 1_000_000)


def _restore(client: Any, model: str, alias: str, previous: str | None) -> None:
    if previous is None:
        client.delete_registered_model_alias(model, alias)
    else:
        client.set_registered_model_alias(model, alias, previous)


def _apply(client: Any, model: str, entry: Promotion, change: Any, failed: str) -> Promotion:
    """Make ``change``, then record ``entry``; undo the change if it cannot be recorded."""
    try:
        change()
        try:
            _record(client, model, entry)
        except _mlflow_errors():
            _restore(client, model, entry.alias, entry.previous_version)
            raise
    except _mlflow_errors() as exc:
        raise translated(exc, failed, "MANAGE", model) from exc
    return entry


def promote(
    model: str,
    version: str | int,
    alias: str = CHAMPION,
    *,
    tracking_uri: str | None = None,
    user: str | None = None,
) -> Promotion:
    """Point ``alias`` at ``version`` of ``model`` and record it in the promotion history."""
    alias = check_alias(alias)
    client = registry_client(tracking_uri)
    require_manage(model, client.tracking_uri)
    version = str(version)
    if not (version.isascii() and version.isdigit()):
        raise ModelNotFound(f"model {model!r} has no version {version!r}")
    try:
        client.get_model_version(model, version)
        previous = _holder(client, model, alias)
    except _mlflow_errors() as exc:
        raise translated(exc, f"model {model!r} has no version {version}", model=model) from exc
    from jupyter_mlops.core.serving.notify import swap_during

    entry = _new_entry("promote", alias, version, previous, user)
    uri = resolve_tracking_uri(tracking_uri)
    with swap_during(model, alias, version, uri, entry.serving) as servers_swap:

        def change() -> None:
            client.set_registered_model_alias(model, alias, version)
            servers_swap()  # local servers serve the new holder from now (history write next)

        return _apply(
            client, model, entry, change, f"promoting {model} v{version} to {alias!r} failed"
        )


def demote(
    model: str, alias: str, *, tracking_uri: str | None = None, user: str | None = None
) -> Promotion:
    """Remove ``alias`` from ``model`` and record the removal in the promotion history."""
    alias = check_alias(alias)
    client = registry_client(tracking_uri)
    require_manage(model, client.tracking_uri)
    try:
        previous = _holder(client, model, alias)
    except _mlflow_errors() as exc:
        raise translated(exc, f"no registered model named {model!r}") from exc
    if previous is None:
        raise ModelNotFound(f"model {model!r} has no alias {alias!r}")
    from jupyter_mlops.core.serving.notify import tell_removed

    entry = _new_entry("demote", alias, None, previous, user)
    _apply(
        client,
        model,
        entry,
        lambda: client.delete_registered_model_alias(model, alias),
        f"removing alias {alias!r} from {model} failed",
    )
    tell_removed(model, alias, resolve_tracking_uri(tracking_uri), entry.serving)
    return entry


def promotion_history(model: str, tracking_uri: str | None = None) -> list[Promotion]:
    """Every recorded promotion and demotion of ``model``, oldest first."""
    client = registry_client(tracking_uri)
    try:
        tags = client.get_registered_model(model).tags or {}
    except _mlflow_errors() as exc:
        raise translated(exc, f"no registered model named {model!r}") from exc
    out = []
    for key in sorted(k for k in tags if k.startswith(HISTORY_TAG_PREFIX)):
        try:
            data = json.loads(tags[key])
            out.append(Promotion(key=key, **data))
        except (TypeError, ValueError):
            continue  # a hand-edited tag: skip rather than hide the rest
    return out
