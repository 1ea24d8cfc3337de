"""Model registry through MLflow aliases: register, promote, demote, and a promotion history.

Every promotion or demotion is also written as one registered-model tag
``jupyter_mlops.promotion.<20-digit epoch ns>-<6 hex>`` whose JSON value holds who, when, which
alias, the new version and the version it replaced. Keys sort in time order and are never
reused, so repeated promotions never overwrite the history.
"""

from __future__ import annotations

import json
import math
import secrets
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from jupyter_mlops.core.contracts import ART_MODEL_DIR, PREFIX
from jupyter_mlops.core.errors import RegistryError
from jupyter_mlops.core.runs.summaries import higher_is_better as default_direction
from jupyter_mlops.core.store import current_user, get_client, resolve_tracking_uri

HISTORY_TAG_PREFIX = PREFIX + "promotion."
CHAMPION = "champion"
CHALLENGER = "challenger"
_PREFERRED_METRICS = ("accuracy", "f1", "auc", "roc_auc", "r2", "precision", "recall", "loss")


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
class Promotion:
    """One entry of the promotion history: ``version`` None means the alias was removed."""

    key: str
    action: str  # "promote" or "demote"
    alias: str
    version: str | None
    previous_version: str | None
    user: str
    time_ms: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return asdict(self)


@dataclass
class ChampionComparison:
    """A candidate version against the alias holder on one metric, for the confirmation step."""

    metric: str | None
    higher_is_better: bool
    candidate_version: str
    candidate_value: float | None
    champion_version: str | None
    champion_value: float | None

    @property
    def delta(self) -> float | None:
        """Candidate minus champion, None when either value is missing."""
        if self.candidate_value is None or self.champion_value is None:
            return None
        return self.candidate_value - self.champion_value

    @property
    def worse(self) -> bool:
        """True when the candidate is strictly worse than the champion on the metric."""
        delta = self.delta
        if delta is None:
            return False
        return delta < 0 if self.higher_is_better else delta > 0

    @property
    def message(self) -> str:
        """One line such as ``accuracy 0.962 vs 0.955 (+0.007)``."""
        if self.metric is None:
            return "no metric to compare"
        if self.candidate_value is None:
            return f"{self.metric}: version {self.candidate_version} has no value"
        if self.champion_version is None:
            return f"{self.metric} {self.candidate_value:.4g} (no current champion)"
        if self.champion_value is None:
            return f"{self.metric} {self.candidate_value:.4g} vs no value for the champion"
        return (
            f"{self.metric} {self.candidate_value:.4g} vs {self.champion_value:.4g} "
            f"({self.delta:+.3g})"
        )


def model_uri(model: str, alias: str = CHAMPION) -> str:
    """The MLflow URI of the version holding ``alias``: ``models:/NAME@alias``."""
    return f"models:/{model}@{alias}"


def default_primary_metric(metrics: Iterable[str]) -> str | None:
    """The metric to compare on by default: a well-known score if present, else the first."""
    names = sorted(set(metrics))
    for preferred in _PREFERRED_METRICS:
        if preferred in names:
            return preferred
    return names[0] if names else None


def _client(tracking_uri: str | None) -> Any:
    return get_client(resolve_tracking_uri(tracking_uri))


def _mlflow_errors() -> type[Exception]:
    from mlflow.exceptions import MlflowException

    return MlflowException


def list_models(tracking_uri: str | None = None) -> list[str]:
    """Names of all registered models, sorted."""
    client = _client(tracking_uri)
    return sorted(m.name for m in client.search_registered_models(max_results=1000))


def model_versions(model: str, tracking_uri: str | None = None) -> list[VersionSummary]:
    """All versions of ``model``, newest first, with aliases and their source runs' metrics."""
    client = _client(tracking_uri)
    try:
        registered = client.get_registered_model(model)
        versions = _search_versions(client, model)
    except _mlflow_errors() as exc:
        raise RegistryError(f"no registered model named {model!r}") from exc
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


def _holder(client: Any, model: str, alias: str) -> str | None:
    """The version currently holding ``alias``, None when no version does."""
    aliases = client.get_registered_model(model).aliases or {}
    version = aliases.get(alias)
    return None if version is None else str(version)


def _check_alias(alias: str) -> str:
    alias = (alias or "").strip()
    if not alias:
        raise RegistryError("an alias must not be empty")
    if alias.lower() == "latest" or (alias[0].lower() == "v" and alias[1:].isdigit()):
        raise RegistryError(f"{alias!r} is reserved by MLflow; choose another alias")
    return alias


def _record(client: Any, model: str, entry: Promotion) -> None:
    value = {k: v for k, v in entry.to_dict().items() if k != "key"}
    client.set_registered_model_tag(model, entry.key, json.dumps(value, sort_keys=True))


def _new_entry(
    action: str, alias: str, version: str | None, previous: str | None, user: str | None
) -> Promotion:
    stamp = time.time_ns()
    key = f"{HISTORY_TAG_PREFIX}{stamp:020d}-{secrets.token_hex(3)}"
    who = user or current_user()
    return Promotion(key, action, alias, version, previous, who, stamp // 1_000_000)


def promote(
    model: str,
    version: str | int,
    alias: str = CHAMPION,
    *,
    tracking_uri: str | None = None,
    user: str | None = None,
) -> Promotion:
    """Point ``alias`` at ``version`` of ``model`` and record it in the promotion history."""
    alias = _check_alias(alias)
    client = _client(tracking_uri)
    version = str(version)
    try:
        client.get_model_version(model, version)
        previous = _holder(client, model, alias)
    except _mlflow_errors() as exc:
        raise RegistryError(f"model {model!r} has no version {version}") from exc
    entry = _new_entry("promote", alias, version, previous, user)
    try:
        client.set_registered_model_alias(model, alias, version)
        try:
            _record(client, model, entry)
        except _mlflow_errors():
            _restore(client, model, alias, previous)  # never an unrecorded promotion
            raise
    except _mlflow_errors() as exc:
        raise RegistryError(f"promoting {model} v{version} to {alias!r} failed: {exc}") from exc
    return entry


def _restore(client: Any, model: str, alias: str, previous: str | None) -> None:
    if previous is None:
        client.delete_registered_model_alias(model, alias)
    else:
        client.set_registered_model_alias(model, alias, previous)


def demote(
    model: str, alias: str, *, tracking_uri: str | None = None, user: str | None = None
) -> Promotion:
    """Remove ``alias`` from ``model`` and record the removal in the promotion history."""
    alias = _check_alias(alias)
    client = _client(tracking_uri)
    try:
        previous = _holder(client, model, alias)
    except _mlflow_errors() as exc:
        raise RegistryError(f"no registered model named {model!r}") from exc
    if previous is None:
        raise RegistryError(f"model {model!r} has no alias {alias!r}")
    entry = _new_entry("demote", alias, None, previous, user)
    try:
        client.delete_registered_model_alias(model, alias)
        try:
            _record(client, model, entry)
        except _mlflow_errors():
            _restore(client, model, alias, previous)
            raise
    except _mlflow_errors() as exc:
        raise RegistryError(f"removing alias {alias!r} from {model} failed: {exc}") from exc
    return entry


def promotion_history(model: str, tracking_uri: str | None = None) -> list[Promotion]:
    """Every recorded promotion and demotion of ``model``, oldest first."""
    client = _client(tracking_uri)
    try:
        tags = client.get_registered_model(model).tags or {}
    except _mlflow_errors() as exc:
        raise RegistryError(f"no registered model named {model!r}") from exc
    out = []
    for key in sorted(k for k in tags if k.startswith(HISTORY_TAG_PREFIX)):
        try:
            data = json.loads(tags[key])
            out.append(Promotion(key=key, **data))
        except (TypeError, ValueError):
            continue  # a hand-edited tag: skip rather than hide the rest
    return out


def compare_with_champion(
    model: str,
    version: str | int,
    metric: str | None = None,
    *,
    higher_is_better: bool | None = None,
    alias: str = CHAMPION,
    tracking_uri: str | None = None,
) -> ChampionComparison:
    """Compare ``version`` with the version holding ``alias`` on ``metric`` (source runs)."""
    versions = {v.version: v for v in model_versions(model, tracking_uri)}
    candidate = versions.get(str(version))
    if candidate is None:
        raise RegistryError(f"model {model!r} has no version {version}")
    holder = next((v for v in versions.values() if alias in v.aliases), None)
    if metric is None:
        metric = default_primary_metric(
            list(candidate.metrics) + (list(holder.metrics) if holder else [])
        )
    direction = default_direction(metric) if higher_is_better is None else higher_is_better

    def value(v: VersionSummary | None) -> float | None:
        found = None if v is None or metric is None else v.metrics.get(metric)
        return None if found is None or math.isnan(found) else found

    return ChampionComparison(
        metric=metric,
        higher_is_better=direction,
        candidate_version=candidate.version,
        candidate_value=value(candidate),
        champion_version=holder.version if holder else None,
        champion_value=value(holder),
    )


def load_model(model: str, alias: str = CHAMPION, *, tracking_uri: str | None = None) -> Any:
    """Load the version holding ``alias`` as an MLflow pyfunc model from this store."""
    import mlflow.pyfunc
    from mlflow.artifacts import download_artifacts

    uri = resolve_tracking_uri(tracking_uri)
    client = get_client(uri)
    try:
        mv = client.get_model_version_by_alias(model, alias)
        local = tempfile.mkdtemp(prefix="jupyter-mlops-model-")
        source = mv.source
        if source.startswith("models:/m-"):  # an MLflow 3 logged model: fetch its artifacts
            source = client.get_logged_model(source[len("models:/") :]).artifact_location
        path = download_artifacts(artifact_uri=source, dst_path=local, tracking_uri=uri)
        return mlflow.pyfunc.load_model(path)
    except _mlflow_errors() as exc:
        raise RegistryError(f"cannot load {model_uri(model, alias)}: {exc.message}") from exc


def try_predict(
    model: str, sample: Any, alias: str = CHAMPION, *, tracking_uri: str | None = None
) -> Any:
    """Predict on ``sample`` with the version holding ``alias`` ("try it")."""
    loaded = load_model(model, alias, tracking_uri=tracking_uri)
    try:
        return loaded.predict(sample)
    except Exception as exc:  # the user's sample may not fit the model's signature
        raise RegistryError(f"{model_uri(model, alias)} could not predict: {exc}") from exc
