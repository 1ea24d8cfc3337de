"""Logging a Python object as an MLflow model: flavor detection and explicit requirements.

MLflow spends seconds inferring a model's pip requirements; we pass them explicitly, from the
versions installed in this environment, so logging takes milliseconds.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from jupyter_mlops.core.contracts import ART_MODEL_DIR
from jupyter_mlops.core.errors import UsageProblem


@dataclass(frozen=True)
class Flavor:
    """An MLflow flavor: the module with ``log_model`` and the distributions the model needs."""

    name: str
    module: str
    distributions: tuple[str, ...]


# class-module prefix -> flavor; checked in order
_FLAVORS: list[tuple[str, Flavor]] = [
    ("sklearn", Flavor("sklearn", "mlflow.sklearn", ("scikit-learn", "cloudpickle"))),
    ("xgboost", Flavor("xgboost", "mlflow.xgboost", ("xgboost",))),
    ("lightgbm", Flavor("lightgbm", "mlflow.lightgbm", ("lightgbm", "cloudpickle"))),
    ("catboost", Flavor("catboost", "mlflow.catboost", ("catboost",))),
    ("statsmodels", Flavor("statsmodels", "mlflow.statsmodels", ("statsmodels",))),
    ("torch", Flavor("pytorch", "mlflow.pytorch", ("torch", "cloudpickle"))),
    ("keras", Flavor("keras", "mlflow.tensorflow", ("tensorflow",))),
    ("tensorflow", Flavor("tensorflow", "mlflow.tensorflow", ("tensorflow",))),
]


def _class_modules(obj: Any) -> list[str]:
    return [getattr(cls, "__module__", "") or "" for cls in type(obj).__mro__]


def detect_flavor(obj: Any) -> Flavor:
    """The MLflow flavor that can save ``obj``, or ``UsageProblem`` naming what it is."""
    modules = _class_modules(obj)
    for prefix, flavor in _FLAVORS:
        if any(m == prefix or m.startswith(prefix + ".") for m in modules):
            return flavor
    raise UsageProblem(
        f"no MLflow flavor knows a {type(obj).__module__}.{type(obj).__qualname__} object; "
        "--log-model supports scikit-learn, XGBoost, LightGBM, CatBoost, statsmodels, "
        "PyTorch and Keras/TensorFlow models"
    )


def requirements(flavor: Flavor) -> list[str]:
    """Pinned requirements for ``flavor`` from what is installed here (``mlflow`` included)."""
    pins = []
    for dist in ("mlflow", *flavor.distributions):
        try:
            pins.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pins.append(dist)
    return pins


# MLflow warns on every sklearn model saved with (cloud)pickle; the format is our choice, not
# the user's, and documented (README, "Models"), so the cell is not filled with it every time
_PICKLE_NOTICE = "Saving scikit-learn models in the pickle or cloudpickle format"


class _DropPickleNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_PICKLE_NOTICE)


@contextmanager
def _quiet_pickle_notice(logger_name: str) -> Iterator[None]:
    logger, drop = logging.getLogger(logger_name), _DropPickleNotice()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


def log_model(obj: Any, register_as: str | None = None) -> str:
    """Log ``obj`` as an MLflow model named ``model`` in the active run; return its model URI."""
    flavor = detect_flavor(obj)
    module = importlib.import_module(flavor.module)
    extra: dict[str, Any] = {}
    if flavor.name == "sklearn":
        # MLflow 3's default (skops) refuses most estimators' types unless listed as trusted
        extra["serialization_format"] = "cloudpickle"
    with _quiet_pickle_notice(flavor.module):
        info = module.log_model(
            obj,
            name=ART_MODEL_DIR,
            pip_requirements=requirements(flavor),
            registered_model_name=register_as,
            **extra,
        )
    return str(info.model_uri)
