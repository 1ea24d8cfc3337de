"""Training metrics of a fitted scikit-learn estimator, as MLflow's sklearn autolog computes
and names them, with fewer passes over the data.

Classifiers: ``training_{precision_score,recall_score,f1_score}`` (weighted averages, one
``precision_recall_fscore_support`` call instead of three), ``training_accuracy_score``, and
with ``predict_proba`` ``training_log_loss`` and ``training_roc_auc`` (weighted, one-vs-one).
Regressors: ``training_{mean_squared_error,root_mean_squared_error,mean_absolute_error,
r2_score}``. Both: ``training_score`` (``estimator.score``; reused from accuracy / r2 when the
estimator keeps scikit-learn's default ``score``). Parameter validation is skipped (the
arguments are ours). A metric that fails is left out, as MLflow leaves it out.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

PREFIX = "training_"


def _try(metrics: dict[str, float], name: str, compute: Callable[[], Any]) -> None:
    try:
        metrics[PREFIX + name] = float(compute())
    except Exception:
        return


def _classifier(estimator: Any, X: Any, y: Any, weight: Any) -> dict[str, float]:
    from sklearn import metrics as m

    found: dict[str, float] = {}
    y_pred = estimator.predict(X)
    try:
        p, r, f, _ = m.precision_recall_fscore_support(
            y, y_pred, average="weighted", sample_weight=weight
        )
        found.update({PREFIX + "precision_score": float(p), PREFIX + "recall_score": float(r)})
        found[PREFIX + "f1_score"] = float(f)
    except Exception:
        pass
    _try(found, "accuracy_score", lambda: m.accuracy_score(y, y_pred, sample_weight=weight))
    if hasattr(estimator, "predict_proba"):
        try:
            proba = estimator.predict_proba(X)
        except Exception:
            return found
        _try(found, "log_loss", lambda: m.log_loss(y, proba, sample_weight=weight))
        scores = proba[:, 1] if proba.ndim == 2 and proba.shape[1] == 2 else proba
        _try(
            found,
            "roc_auc",
            lambda: m.roc_auc_score(
                y, scores, average="weighted", sample_weight=weight, multi_class="ovo"
            ),
        )
    return found


def _regressor(estimator: Any, X: Any, y: Any, weight: Any) -> dict[str, float]:
    import numpy as np
    from sklearn import metrics as m

    found: dict[str, float] = {}
    y_pred = estimator.predict(X)
    kw = {"sample_weight": weight, "multioutput": "uniform_average"}
    _try(found, "mean_squared_error", lambda: m.mean_squared_error(y, y_pred, **kw))
    _try(found, "mean_absolute_error", lambda: m.mean_absolute_error(y, y_pred, **kw))
    _try(found, "r2_score", lambda: m.r2_score(y, y_pred, **kw))
    if PREFIX + "mean_squared_error" in found:
        found[PREFIX + "root_mean_squared_error"] = float(
            np.sqrt(found[PREFIX + "mean_squared_error"])
        )
    return found


def _score(estimator: Any, X: Any, y: Any, weight: Any, found: dict[str, float]) -> None:
    from sklearn.base import ClassifierMixin, RegressorMixin

    own = getattr(type(estimator), "score", None)
    if own is ClassifierMixin.score and PREFIX + "accuracy_score" in found:
        found[PREFIX + "score"] = found[PREFIX + "accuracy_score"]
    elif own is RegressorMixin.score and PREFIX + "r2_score" in found:
        found[PREFIX + "score"] = found[PREFIX + "r2_score"]
    elif own is not None:
        try:
            takes_weight = "sample_weight" in inspect.signature(estimator.score).parameters
        except (TypeError, ValueError):
            takes_weight = False
        args = (X, y, weight) if takes_weight else (X, y)
        _try(found, "score", lambda: estimator.score(*args))


def training_metrics(estimator: Any, X: Any, y: Any, weight: Any = None) -> dict[str, float]:
    """MLflow autolog's training metrics of ``estimator`` fitted on (X, y); {} without y."""
    if y is None or X is None:
        return {}
    from sklearn import config_context
    from sklearn.base import is_classifier, is_regressor

    with config_context(skip_parameter_validation=True):
        if is_classifier(estimator):
            found = _classifier(estimator, X, y, weight)
        elif is_regressor(estimator):
            found = _regressor(estimator, X, y, weight)
        else:
            found = {}
        _score(estimator, X, y, weight, found)
    return found
