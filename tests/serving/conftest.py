"""A real sqlite registry with classifier versions, a slow and a broken one, and a regressor."""

from __future__ import annotations

import json
import shutil
import socket
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

# pytest-jupyter's fixtures and async hooks for the handler test (a conftest must import them)
from pytest_jupyter.jupyter_server import *  # noqa: F403

HERE = Path(__file__).parent
COLUMNS = ["x0", "x1", "x2"]


@dataclass
class Registry:
    uri: str
    sample: pd.DataFrame
    expected: dict[str, list[int]]  # version -> predictions of ``sample``


def _fit(seed: int, flip: bool = False) -> Any:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.random((60, 3)), columns=COLUMNS)
    y = (x["x0"] > 0.5).astype(int)
    return LogisticRegression().fit(x, 1 - y if flip else y)


def _log(client: Any, exp: str, name: str, log: Any) -> str:
    import mlflow

    with mlflow.start_run(experiment_id=exp):
        info = log()
    mv = client.create_model_version(name, info.model_uri, model_id=info.model_id)
    return str(mv.version)


@pytest.fixture(scope="session")
def registry_template(tmp_path_factory, empty_store_template) -> Registry:
    """``clf`` v1 (x0>0.5), v2 (flipped), v3 slow (200 ms), v4 fails to load; ``reg`` v1."""
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.linear_model import LinearRegression

    from jupyter_mlops.core.models.promotion import promote

    folder = tmp_path_factory.mktemp("serving-registry")
    db = folder / "mlflow.db"
    shutil.copyfile(empty_store_template, db)
    uri = f"sqlite:///{db}"
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri)
    exp = client.create_experiment("serving", artifact_location=(folder / "artifacts").as_uri())
    sample = pd.DataFrame(np.random.default_rng(9).random((8, 3)), columns=COLUMNS)
    client.create_registered_model("clf")
    client.create_registered_model("reg")
    expected = {}
    for flip in (False, True):
        model = _fit(1, flip)
        sig = infer_signature(sample, model.predict(sample))
        version = _log(
            client,
            exp,
            "clf",
            lambda m=model, s=sig: mlflow.sklearn.log_model(
                m, name="model", signature=s, pip_requirements=[]
            ),
        )
        expected[version] = [int(v) for v in model.predict(sample)]
    for code in ("slow_model.py", "broken_model.py"):
        _log(
            client,
            exp,
            "clf",
            lambda c=code: mlflow.pyfunc.log_model(
                name="model", python_model=str(HERE / c), pip_requirements=[]
            ),
        )
    x = sample.to_numpy()
    regressor = LinearRegression().fit(x, x @ [1.0, 2.0, 3.0])
    _log(
        client,
        exp,
        "reg",
        lambda: mlflow.sklearn.log_model(regressor, name="model", pip_requirements=[]),
    )
    promote("clf", 1, "champion", tracking_uri=uri)
    promote("clf", 2, "challenger", tracking_uri=uri)
    mlflow.set_tracking_uri(None)
    return Registry(uri, sample, expected)


@pytest.fixture
def registry(registry_template: Registry, tmp_path: Path, monkeypatch) -> Iterator[Registry]:
    """A private copy of the registry (aliases may move) as the default store."""
    db = tmp_path / "mlflow.db"
    shutil.copyfile(registry_template.uri[len("sqlite:///") :], db)
    uri = f"sqlite:///{db}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("JUPYTER_MLOPS_SERVING_DIR", str(tmp_path / "serving"))
    yield Registry(uri, registry_template.sample, registry_template.expected)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, payload: Any, content_type: str = "application/json") -> tuple[int, Any, dict]:
    """POST to ``url``; (status, parsed JSON or text, headers), errors included."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    request = urllib.request.Request(url, body, {"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            status, raw, headers = resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        status, raw, headers = exc.code, exc.read(), dict(exc.headers)
    try:
        return status, json.loads(raw), headers
    except ValueError:
        return status, raw.decode(), headers


def split(frame: pd.DataFrame) -> dict[str, Any]:
    """The ``dataframe_split`` request body of a frame."""
    return {"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}
