"""Loading models: what a ``Monitor`` watches (``load_model``: a Python object or an MLflow model
URI, plus quality metrics) and the registry's "try it" (``load_alias_pyfunc``: the pyfunc of the
version holding an alias).

A URI ``models:/NAME@alias`` or ``models:/NAME/N`` is resolved in the registry to its version and
training run; the reference data then defaults to the DVC data version that run recorded.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jupyter_mlops.core.errors import RegistryError, TrackingUnavailable, UsageProblem, message_line
from jupyter_mlops.core.models.registry import CHAMPION, model_uri
from jupyter_mlops.core.store import get_client, resolve_tracking_uri

_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")

# metric name -> (function(y_true, y_pred) -> float, higher is better)
_METRICS: dict[str, tuple[str, bool]] = {
    "accuracy": ("accuracy_score", True),
    "f1": ("f1_score", True),
    "precision": ("precision_score", True),
    "recall": ("recall_score", True),
    "r2": ("r2_score", True),
    "mae": ("mean_absolute_error", False),
    "mse": ("mean_squared_error", False),
    "rmse": ("root_mean_squared_error", False),
}


def quality_metric(name: str) -> tuple[str, Callable[[Any, Any], float], bool]:
    """``(name, metric(y_true, y_pred), higher_is_better)`` for a metric name."""
    if name not in _METRICS:
        raise UsageProblem(f"unknown metric {name!r}; choose one of {', '.join(_METRICS)}")
    func_name, higher = _METRICS[name]
    from sklearn import metrics

    func = getattr(metrics, func_name)
    kwargs = (
        {"average": "macro", "zero_division": 0} if name in {"f1", "precision", "recall"} else {}
    )

    def metric(y_true: Any, y_pred: Any) -> float:
        return float(func(y_true, y_pred, **kwargs))

    return name, metric, higher


@dataclass
class LoadedModel:
    """A model ready to predict, with what is known of its registry identity."""

    name: str
    predict: Callable[[pd.DataFrame], Any]
    uri: str | None = None
    version: str | None = None
    run_id: str | None = None
    input_names: list[str] | None = None
    tracking_uri: str | None = None
    predict_proba: Callable[[pd.DataFrame], Any] | None = None
    classes: list[Any] | None = None

    def reference_data(self, target: str | None) -> tuple[pd.DataFrame, Any]:
        """The training run's DVC data version, read from the work tree (must match its hash)."""
        if self.run_id is None:
            raise UsageProblem(
                "pass reference_X: the model has no training run to take reference data from"
            )
        from jupyter_mlops.core.data import dvc_files, lineage
        from jupyter_mlops.core.store import project_root

        client = get_client(resolve_tracking_uri(self.tracking_uri))
        versions = lineage.versions_of_run(lineage.get_run(client, self.run_id))
        tables = [v for v in versions if Path(v.path).suffix in {".csv", ".parquet"}]
        if not tables:
            raise UsageProblem(
                f"pass reference_X: training run {self.run_id} recorded no DVC table snapshot"
            )
        version = tables[-1]
        root = project_root()
        dvcfile = root / (version.path + ".dvc")
        data = root / version.path
        if not dvcfile.exists() or not data.exists():
            raise UsageProblem(f"reference data {version.path} is not in this work tree")
        if dvc_files.current_version(dvcfile, root).dvc_hash != version.dvc_hash:
            raise UsageProblem(
                f"{version.path} differs from the version run {self.run_id} trained on; "
                f"run checkout_data({self.run_id!r}) first or pass reference_X"
            )
        frame = pd.read_csv(data) if data.suffix == ".csv" else pd.read_parquet(data)
        y = None
        if target is not None:
            if target not in frame.columns:
                raise UsageProblem(f"no target column {target!r} in {version.path}")
            y = frame.pop(target).to_numpy()
        if self.input_names:
            missing = [n for n in self.input_names if n not in frame.columns]
            if missing:
                raise UsageProblem(f"{version.path} lacks the model's input {missing[0]!r}")
            frame = frame[self.input_names]
        return frame, y


def load_model(model_or_uri: Any, tracking_uri: str | None = None) -> LoadedModel:
    """Wrap a Python model (anything with ``predict``) or load one from an MLflow URI."""
    if not isinstance(model_or_uri, str):
        if not callable(getattr(model_or_uri, "predict", None)):
            raise UsageProblem(
                f"a {type(model_or_uri).__name__} has no predict(); pass a model or a URI"
            )
        proba = getattr(model_or_uri, "predict_proba", None)
        classes = getattr(model_or_uri, "classes_", None)
        return LoadedModel(
            type(model_or_uri).__name__,
            model_or_uri.predict,
            predict_proba=proba if callable(proba) else None,
            classes=None if classes is None else [str(c) for c in classes],
        )
    return _load_uri(model_or_uri, tracking_uri)


def load_alias_pyfunc(model: str, alias: str = CHAMPION, *, tracking_uri: str | None = None) -> Any:
    """The MLflow pyfunc model of the version of ``model`` holding ``alias``, from this store.

    The version's files are fetched from its storage location with this store's URI, never
    through MLflow's global tracking URI (which need not name this store).
    """
    import mlflow.pyfunc
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException

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
    except MlflowException as exc:
        raise RegistryError(f"cannot load {model_uri(model, alias)}: {exc.message}") from exc


def try_predict(
    model: str, sample: Any, alias: str = CHAMPION, *, tracking_uri: str | None = None
) -> Any:
    """Predict on ``sample`` with the version holding ``alias`` ("try it")."""
    loaded = load_alias_pyfunc(model, alias, tracking_uri=tracking_uri)
    try:
        return loaded.predict(sample)
    except Exception as exc:  # the user's sample may not fit the model's signature
        raise RegistryError(f"{model_uri(model, alias)} could not predict: {exc}") from exc


def _load_uri(uri: str, tracking_uri: str | None) -> LoadedModel:
    import mlflow
    from mlflow.exceptions import MlflowException

    resolved = resolve_tracking_uri(tracking_uri)
    client = get_client(resolved)
    name, version, run_id = uri, None, None
    match = _MODELS_URI.match(uri)
    try:
        if match:
            name = match["name"]
            mv = (
                client.get_model_version_by_alias(name, match["alias"])
                if match["alias"]
                else client.get_model_version(name, match["version"])
            )
            version, run_id = str(mv.version), mv.run_id
        elif uri.startswith("runs:/"):
            run_id = uri.split("/")[1]
            name = uri.rstrip("/").rsplit("/", 1)[-1] or "model"
        previous = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(resolved)
        try:
            pyfunc = mlflow.pyfunc.load_model(uri)
        finally:
            mlflow.set_tracking_uri(previous)
    except MlflowException as exc:
        message = message_line(exc)
        if match:
            raise RegistryError(f"cannot load {uri}: {message}") from exc
        raise UsageProblem(f"cannot load model {uri}: {message}") from exc
    except OSError as exc:
        raise TrackingUnavailable(f"cannot load model {uri}: {exc}") from exc
    schema = pyfunc.metadata.get_input_schema()
    names = schema.input_names() if schema is not None and schema.has_input_names() else None

    def predict(frame: pd.DataFrame) -> Any:
        return np.asarray(pyfunc.predict(frame))

    return LoadedModel(name, predict, uri, version, run_id, names, tracking_uri)
