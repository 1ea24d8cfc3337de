"""Registered models and their versions: list, describe, register a run's logged model.

Promotion (aliases and their history) lives in ``promotion``, the champion verdict in
``champion`` and loading a version in ``loader``; all take a tracking URI, never a client.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from jupyter_mlops.core.access import refusal
from jupyter_mlops.core.contracts import ART_MODEL_DIR
from jupyter_mlops.core.errors import (
    MlopsError,
    ModelNotFound,
    RegistryError,
    TrackingUnavailable,
    first_line,
)
from jupyter_mlops.core.store import get_client, resolve_tracking_uri

CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass
class VersionSummary:
    """One registered model version with its aliases and its source run's latest metrics."""

    name: str
    version: str
    run_id: str | None
    source: str
    aliases: list[str]
    creation_time: int
    stage: str | None  # legacy MLflow stage, None when unset
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    run_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        data = asdict(self)
        data["metrics"] = {k: v if math.isfinite(v) else None for k, v in self.metrics.items()}
        return data


@dataclass
class ModelSummary:
    """One registered model: its aliases (alias -> version) and newest version."""

    name: str
    description: str
    aliases: dict[str, str]
    latest_version: str | None
    last_updated: int | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return asdict(self)


def model_uri(model: str, alias: str = CHAMPION) -> str:
    """The MLflow URI of the version holding ``alias``: ``models:/NAME@alias``."""
    return f"models:/{model}@{alias}"


def registry_client(tracking_uri: str | None) -> Any:
    """The MLflow client of the store ``tracking_uri`` names (the URI rule applies)."""
    return get_client(resolve_tracking_uri(tracking_uri))


def _mlflow_errors() -> type[Exception]:
    from mlflow.exceptions import MlflowException

    return MlflowException


def translated(
    exc: Exception, context: str, needed: str = "READ", model: str | None = None
) -> MlopsError:
    """Our error for an MLflow registry failure: ``ModelNotFound(context)`` when MLflow says it
    does not exist, a 401/403 as ``PermissionDenied`` (``needed`` on ``model``), a refused
    request as ``RegistryError``, anything else as an outage."""
    denied = refusal(exc, needed, f"model {model!r}" if model else "the model registry")
    if denied is not None:
        return denied
    code = getattr(exc, "error_code", None)
    detail = first_line(exc)
    if code == "RESOURCE_DOES_NOT_EXIST":
        return ModelNotFound(context)
    if code in _REFUSED_CODES:
        return RegistryError(f"{context}: {detail}")
    return TrackingUnavailable(f"the model registry did not answer ({detail})")


_REFUSED_CODES = {"INVALID_PARAMETER_VALUE", "BAD_REQUEST", "RESOURCE_ALREADY_EXISTS"}


def list_models(tracking_uri: str | None = None) -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(m.name for m in model_summaries(tracking_uri))


def model_summaries(tracking_uri: str | None = None) -> list[ModelSummary]:
    """Every registered model with its aliases and newest version, sorted by name (any case)."""
    client = registry_client(tracking_uri)
    try:
        found = client.search_registered_models(max_results=1000)
    except _mlflow_errors() as exc:
        raise translated(exc, "no registered models") from exc
    out = []
    for model in found:
        versions = [int(v.version) for v in model.latest_versions or []]
        out.append(
            ModelSummary(
                name=model.name,
                description=model.description or "",
                aliases={a: str(v) for a, v in (model.aliases or {}).items()},
                latest_version=str(max(versions)) if versions else None,
                last_updated=model.last_updated_timestamp,
            )
        )
    return sorted(out, key=lambda m: (m.name.lower(), m.name))


def model_versions(model: str, tracking_uri: str | None = None) -> list[VersionSummary]:
    """All versions of ``model``, newest first, with aliases and their source runs' metrics."""
    client = registry_client(tracking_uri)
    try:
        registered = client.get_registered_model(model)
        versions = _search_versions(client, model)
    except _mlflow_errors() as exc:
        raise translated(exc, f"no registered model named {model!r}") from exc
    aliases: dict[str, list[str]] = {}
    for alias, version in (registered.aliases or {}).items():
        aliases.setdefault(str(version), []).append(alias)
    out = []
    for mv in versions:
        metrics, run_name = {}, None
        if mv.run_id:
            try:
                run = client.get_run(mv.run_id)
                metrics, run_name = dict(run.data.metrics), run.info.run_name
            except _mlflow_errors():
                pass  # the source run was deleted: the version still exists
        stage = mv.current_stage if mv.current_stage not in (None, "", "None") else None
        out.append(
            VersionSummary(
                name=model,
                version=str(mv.version),
                run_id=mv.run_id,
                source=mv.source,
                aliases=sorted(aliases.get(str(mv.version), [])),
                creation_time=int(mv.creation_timestamp or 0),
                stage=stage,
                status=str(mv.status),
                metrics=metrics,
                run_name=run_name,
            )
        )
    return sorted(out, key=lambda v: int(v.version), reverse=True)


def _search_versions(client: Any, model: str) -> list[Any]:
    """Every version of ``model``; MLflow's filter has no escapes, so pick a quote it lacks."""
    if '"' not in model:
        return client.search_model_versions(f'name = "{model}"', max_results=10_000)
    if "'" not in model:
        return client.search_model_versions(f"name = '{model}'", max_results=10_000)
    return [v for v in client.search_model_versions(max_results=10_000) if v.name == model]


def _model_source(client: Any, run_id: str) -> tuple[str, str | None] | None:
    """(source URI, logged-model id) of the run's ``model`` model, None when it logged none."""
    run = client.get_run(run_id)
    logged = client.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id = '{run_id}' AND name = '{ART_MODEL_DIR}'",
        max_results=1,
    )
    if logged:  # MLflow 3: the model lives beside the run as a LoggedModel
        # its storage location, not "models:/<id>": MLflow resolves that through the global
        # tracking URI, which need not be this store
        return logged[0].artifact_location, logged[0].model_id
    listed = client.list_artifacts(run_id, ART_MODEL_DIR)
    if any(f.path == f"{ART_MODEL_DIR}/MLmodel" for f in listed):
        return f"runs:/{run_id}/{ART_MODEL_DIR}", None
    return None


def register(run_id: str, name: str, *, tracking_uri: str | None = None) -> VersionSummary:
    """Register the model a run logged at ``model/`` (``%%track --log-model``) as ``name``."""
    if not name or not name.strip():
        raise RegistryError("a registered model needs a non-empty name")
    uri = resolve_tracking_uri(tracking_uri)
    client = get_client(uri)
    try:
        found = _model_source(client, run_id)
    except _mlflow_errors() as exc:
        raise RegistryError(f"no run with id {run_id!r}") from exc
    if found is None:  # checked first so a failed register leaves no empty registered model
        raise RegistryError(
            f"run {run_id} has no logged model at '{ART_MODEL_DIR}/' "
            "(log one with %%track --log-model VAR)"
        )
    source, model_id = found
    try:
        try:
            client.get_registered_model(name)
        except _mlflow_errors():
            client.create_registered_model(name)
        mv = client.create_model_version(name, source, run_id=run_id, model_id=model_id)
    except _mlflow_errors() as exc:
        raise RegistryError(f"registering run {run_id} as {name!r} failed: {exc.message}") from exc
    return next(v for v in model_versions(name, uri) if v.version == str(mv.version))
