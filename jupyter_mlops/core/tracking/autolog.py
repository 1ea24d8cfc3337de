"""MLflow autologging switched on only while a tracked cell runs, cheaply.

``mlflow.sklearn.autolog()`` patches scikit-learn (hundreds of ms); turning it off reverts the
patches. We install the patches once per process and then only flip the integration's
``disable`` setting, which the patched functions read on every call. That setting lives in
MLflow's autologging table (reached through ``core.mlflow_internals``); this module
falls back to MLflow's public calls if that table ever changes shape.

MLflow's post-training metrics call ``sklearn.metrics.log_loss(y_pred=...)``, which
scikit-learn 1.9 answers with a FutureWarning in every tracked cell that fits a classifier
(``silent=True`` does not catch it); that one message is filtered whenever autologging is
switched on.
"""

from __future__ import annotations

import warnings

from jupyter_mlops.core.mlflow_internals import autolog_config

_installed = False
_MLFLOW_LOG_LOSS_WARNING = r"`y_pred` was renamed to `y_proba`"


def switch(enable: bool) -> bool:
    """Turn scikit-learn autologging (no model saving) on or off; True when it is now on."""
    global _installed
    try:
        import mlflow.sklearn

        config = autolog_config("sklearn")
        if enable and (not _installed or config is None):
            mlflow.sklearn.autolog(log_models=False, log_datasets=False, silent=True)
            _installed = True
        elif config is not None:
            config["disable"] = not enable
        elif not enable:
            mlflow.sklearn.autolog(disable=True, silent=True)
            _installed = False
        if enable:  # re-added each time: a warnings.catch_warnings() block may have dropped it
            warnings.filterwarnings(
                "ignore",
                message=_MLFLOW_LOG_LOSS_WARNING,
                category=FutureWarning,
                module=r"sklearn\.metrics",
            )
        return enable
    except Exception:
        return False
