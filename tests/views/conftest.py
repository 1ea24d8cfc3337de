"""Shared stores for the views tests: runs logged through the real ``track()`` twin of %%track."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

XSS = "<img src=x onerror=alert(1)>"


@dataclass
class ModelStore:
    uri: str
    experiment_id: str
    model_runs: list[str]  # runs that logged a model, accuracy 0.80, 0.90, 0.85
    bare_run: str  # a run without a model
    sample: np.ndarray
    expected: list[int]  # predictions of the second run's model on ``sample``


def _train(seed: int):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    x = rng.random((40, 3))
    y = (x[:, 0] + 0.1 * rng.random(40) > 0.5).astype(int)
    return LogisticRegression(C=1.0 + seed).fit(x, y), x


@pytest.fixture(scope="session")
def model_store(tmp_path_factory, empty_store_template) -> ModelStore:
    """Three tracked runs with logged sklearn models and one without, in one sqlite store."""
    import mlflow

    from jupyter_mlops.core.tracking.cellrun import track

    folder = tmp_path_factory.mktemp("models")
    db = folder / "mlflow.db"
    shutil.copyfile(empty_store_template, db)
    uri = f"sqlite:///{db}"
    runs = []
    sample, expected = None, []
    for seed, acc in enumerate((0.80, 0.90, 0.85)):
        model, x = _train(seed)
        if seed == 1:
            sample = x[:5]
            expected = [int(v) for v in model.predict(sample)]
        name = XSS if seed == 1 else f"train-{seed}"
        with track(
            "reg",
            name,
            metrics={"accuracy": acc, "loss": 1 - acc},
            namespace={"model": model},
            log_model="model",
            tracking_uri=uri,
            quiet=True,
            params={"C": 1.0 + seed},
        ) as run:
            pass
        runs.append(run.record.run_id)
    with track("reg", "no-model", metrics={"accuracy": 0.5}, tracking_uri=uri, quiet=True) as run:
        pass
    bare = run.record.run_id
    exp = mlflow.MlflowClient(uri).get_experiment_by_name("reg").experiment_id
    mlflow.set_tracking_uri(None)
    return ModelStore(uri, exp, runs, bare, sample, expected)


@pytest.fixture
def fresh_model_store(model_store: ModelStore, tmp_path: Path) -> ModelStore:
    """A private copy of ``model_store`` a test may change."""
    db = tmp_path / "mlflow.db"
    shutil.copyfile(model_store.uri[len("sqlite:///") :], db)
    return ModelStore(
        f"sqlite:///{db}",
        model_store.experiment_id,
        model_store.model_runs,
        model_store.bare_run,
        model_store.sample,
        model_store.expected,
    )
