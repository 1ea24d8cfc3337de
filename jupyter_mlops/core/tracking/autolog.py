"""Framework autologging inside tracked cells: our own capture where we cover the framework,
MLflow's autolog (switched on only while a tracked cell runs, cheaply) for the others.

``COVERED_FRAMEWORKS`` names the frameworks our capture covers (scikit-learn: see
``estimators``); MLflow's autolog is never enabled for them inside tracked cells, so a cell
fitting only scikit-learn models needs no live MLflow run. For the frameworks of
``MLFLOW_AUTOLOG_FLAVORS`` that the process has imported, MLflow's patches are installed once
and then only the integration's ``disable`` setting is flipped (MLflow's autologging table,
reached through ``core.mlflow_internals``); public calls are the fallback.

This is the one place that switches MLflow autolog.
"""

from __future__ import annotations

import sys

from jupyter_mlops.core.mlflow_internals import autolog_config
from jupyter_mlops.core.tracking import estimators

COVERED_FRAMEWORKS: frozenset[str] = frozenset({estimators.FRAMEWORK})
# MLflow autolog flavor -> the module whose presence in sys.modules means the cell may use it
MLFLOW_AUTOLOG_FLAVORS: dict[str, str] = {
    "sklearn": "sklearn",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
}

_installed: set[str] = set()


def live_frameworks() -> frozenset[str]:
    """Modules of the frameworks whose autolog is MLflow's (not covered by our capture): a
    tracked cell using one needs its MLflow run live, since MLflow's autolog writes into it."""
    return frozenset(
        module
        for flavor, module in MLFLOW_AUTOLOG_FLAVORS.items()
        if flavor not in COVERED_FRAMEWORKS
    )


def mlflow_flavors() -> list[str]:
    """The MLflow autolog flavors a tracked cell would switch on now (imported, not covered)."""
    return [
        flavor
        for flavor, module in MLFLOW_AUTOLOG_FLAVORS.items()
        if flavor not in COVERED_FRAMEWORKS and module in sys.modules
    ]


def _switch_flavor(flavor: str, enable: bool) -> bool:
    import importlib

    try:
        integration = importlib.import_module(f"mlflow.{flavor}")
        config = autolog_config(flavor)
        if enable and (flavor not in _installed or config is None):
            integration.autolog(log_models=False, log_datasets=False, silent=True)
            _installed.add(flavor)
        elif config is not None:
            config["disable"] = not enable
        elif not enable:
            integration.autolog(disable=True, silent=True)
            _installed.discard(flavor)
        return enable
    except Exception:
        return False


def switch(enable: bool) -> bool:
    """Turn MLflow autologging (no model saving) of the uncovered frameworks on or off; True
    when some is now on. Covered frameworks are captured by ``estimators`` instead."""
    flavors = mlflow_flavors() if enable else sorted(_installed)
    switched = [_switch_flavor(flavor, enable) for flavor in flavors]
    return enable and any(switched)
