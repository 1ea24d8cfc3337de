"""scikit-learn estimators fitted in a tracked cell, captured into its record (no network).

What MLflow's sklearn autolog logs about a fit, at a fraction of its cost: the estimator's
params (``get_params``, deep except for parameter searches), its training metrics under
MLflow's names (``training_score``, ``training_accuracy_score``, ... see
``estimator_metrics``), the ``estimator_name`` / ``estimator_class`` tags, and for a
parameter search ``best_<param>`` params and the ``best_cv_score`` metric. They join the
cell's ``RunRecord`` at collect time, so they are written (or spooled) with the rest.

How: ``fit``, ``fit_transform`` and ``fit_predict`` of the scikit-learn classes loaded in the
process are wrapped once (new modules are scanned when a tracked cell starts, tens of ms the
first time, well under a ms after); scikit-learn modules the cell itself imports are imported
just before it runs so their classes are wrapped too. A cell whose first scikit-learn import is
hidden in another module is not captured (the next tracked cell is). Outside a tracked cell
the wrapper costs one global lookup. Only the outermost fit on the thread that runs the cell
is noted: a Pipeline's or a search's inner fits are not separate captures (their params appear
through the outer estimator's deep params, as with MLflow). X, y and sample_weight are held
by reference until the cell ends.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import math
import re
import sys
import threading
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jupyter_mlops.core import contracts as c
from jupyter_mlops.core.tracking import secrets
from jupyter_mlops.core.tracking.record import MetricPoint, now_ms

if TYPE_CHECKING:
    from jupyter_mlops.core.tracking.runstate import RunState

FRAMEWORK = "sklearn"  # the MLflow autolog flavor this module replaces
FIT_METHODS = ("fit", "fit_transform", "fit_predict")
_MARK = "_jupyter_mlops_fit"


@dataclass
class Fit:
    """One outermost fit call of the cell: the estimator and the data it was fitted on."""

    estimator: Any
    X: Any
    y: Any = None
    sample_weight: Any = None


class _Capture:
    """Which thread captures, what it noted, and whether a fit is already under way."""

    def __init__(self) -> None:
        self.fits: list[list[Fit]] = []  # one list per open capture (a track() inside a cell)
        self.thread: int | None = None
        self.inside = False
        self.scanned: set[str] = set()
        self.classes: list[type] = []  # every class whose fit methods we wrapped
        self.modules_seen = 0
        self.lock = threading.Lock()


_STATE = _Capture()


def _argument_names(function: Any) -> list[str]:
    try:
        return [p for p in inspect.signature(function).parameters][1:]  # without self
    except (TypeError, ValueError):
        return []


def _fit_data(names: list[str], args: tuple, kwargs: dict) -> tuple[Any, Any, Any]:
    """X, y and sample_weight of a fit call, found by the fit's own argument names (MLflow's
    rule: the first two arguments are X and y whatever they are called)."""
    x_name = names[0] if names else "X"
    y_name = names[1] if len(names) > 1 else "y"
    x = args[0] if args else kwargs.get(x_name)
    y = args[1] if len(args) > 1 else kwargs.get(y_name)
    weight = kwargs.get("sample_weight")
    if weight is None and "sample_weight" in names:
        index = names.index("sample_weight")
        weight = args[index] if len(args) > index else None
    return x, y, weight


def _wrap(original: Any) -> Any:
    names = _argument_names(original)

    @functools.wraps(original)
    def noting_fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        state = _STATE
        if not state.fits or state.inside or state.thread != threading.get_ident():
            return original(self, *args, **kwargs)
        state.inside = True
        try:
            result = original(self, *args, **kwargs)
        finally:
            state.inside = False
        if state.fits:
            state.fits[-1].append(Fit(self, *_fit_data(names, args, kwargs)))
        return result

    setattr(noting_fit, _MARK, True)
    return noting_fit


def _wrap_class(cls: type) -> None:
    for method in FIT_METHODS:
        function = cls.__dict__.get(method)
        if inspect.isfunction(function) and not getattr(function, _MARK, False):
            setattr(cls, method, _wrap(function))


def wrap_loaded_estimators() -> None:
    """Wrap the fit methods of scikit-learn classes in modules loaded since the last scan."""
    state = _STATE
    if "sklearn.base" not in sys.modules or len(sys.modules) == state.modules_seen:
        return
    with state.lock:
        base = getattr(sys.modules["sklearn.base"], "BaseEstimator", None)
        if base is None:
            return
        state.modules_seen = len(sys.modules)
        for name, module in list(sys.modules.items()):
            if name in state.scanned or not (name == "sklearn" or name.startswith("sklearn.")):
                continue
            state.scanned.add(name)
            if module is None or ".tests" in name:
                continue
            for value in list(vars(module).values()):
                if (
                    isinstance(value, type)
                    and issubclass(value, base)
                    and value.__module__.startswith("sklearn")
                ):
                    _wrap_class(value)
                    state.classes.append(value)


def _rewrap() -> None:
    """Wrap again what someone unwrapped: ``mlflow.sklearn.autolog(disable=True)`` restores
    the methods it found when it patched, which are ours only if we wrapped first."""
    for cls in _STATE.classes:
        _wrap_class(cls)


_SKLEARN_IMPORT = re.compile(r"^[ \t]*(?:from|import)[ \t]+(sklearn(?:\.\w+)*)", re.MULTILINE)


def _import_named_modules(source: str) -> None:
    """Import the scikit-learn modules the cell imports, so their classes are wrapped before
    it runs (the cell's own import is then a no-op); a module that fails is left to the cell."""
    for name in dict.fromkeys(_SKLEARN_IMPORT.findall(source)):
        if name not in sys.modules:
            with contextlib.suppress(Exception):
                importlib.import_module(name)


def begin(source: str = "") -> bool:
    """Start noting fits made on this thread (a tracked cell with ``source`` begins); True."""
    _import_named_modules(source)
    wrap_loaded_estimators()
    _rewrap()
    _STATE.thread = threading.get_ident()
    _STATE.fits.append([])
    return True


def end() -> list[Fit]:
    """Stop noting fits; the fits noted since ``begin`` (empty when not begun)."""
    fits = _STATE.fits.pop() if _STATE.fits else []
    if not _STATE.fits:
        _STATE.thread = None
    wrap_loaded_estimators()  # classes the cell imported are wrapped for the next cell
    return fits


def _is_search(estimator: Any) -> bool:
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

    return isinstance(estimator, (GridSearchCV, RandomizedSearchCV))


def estimator_params(estimator: Any) -> dict[str, str]:
    """``get_params`` as MLflow autolog logs them (``str`` values; a search's own params plus
    ``best_<param>``)."""
    search = _is_search(estimator)
    params = {k: str(v) for k, v in estimator.get_params(deep=not search).items()}
    if search and hasattr(estimator, "best_params_"):
        params.update({f"best_{k}": str(v) for k, v in estimator.best_params_.items()})
    return params


def estimator_tags(estimator: Any) -> dict[str, str]:
    """MLflow autolog's ``estimator_name`` and ``estimator_class`` tags."""
    cls = type(estimator)
    return {
        c.TAG_ESTIMATOR_NAME: cls.__name__,
        c.TAG_ESTIMATOR_CLASS: f"{cls.__module__}.{cls.__name__}",
    }


def fit_metrics(fit: Fit) -> dict[str, float]:
    """Training metrics of one fit (MLflow's names), plus ``best_cv_score`` for a search."""
    from jupyter_mlops.core.tracking.estimator_metrics import training_metrics

    inside, _STATE.inside = _STATE.inside, True  # our metrics fit helpers: not the user's fits
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            metrics = training_metrics(fit.estimator, fit.X, fit.y, fit.sample_weight)
    finally:
        _STATE.inside = inside
    best = getattr(fit.estimator, "best_score_", None) if _is_search(fit.estimator) else None
    if best is not None:
        metrics["best_cv_score"] = float(best)
    return metrics


def add_fits_to_record(run: RunState, fits: list[Fit]) -> None:
    """Params (the cell's own win), tags and training metrics of ``fits`` into the record."""
    record, stamp = run.record, now_ms()
    for fit in fits:
        try:
            params = estimator_params(fit.estimator)
            metrics = fit_metrics(fit)
            if _is_search(fit.estimator) and hasattr(fit.estimator, "cv_results_"):
                record.texts.setdefault(c.ART_CV_RESULTS, _cv_results_csv(fit.estimator))
        except Exception as exc:  # an odd estimator must not cost the rest of the record
            run.messages.append(f"estimator {type(fit.estimator).__name__} not captured: {exc}")
            continue
        for key, value in params.items():  # values are masked by the writer, as the cell's
            if not secrets.is_secret_name(key):
                record.params.setdefault(key, value)
        record.tags.update(estimator_tags(fit.estimator))
        for key, value in metrics.items():
            if math.isfinite(value):
                record.metrics.append(MetricPoint(key, value, stamp, 0))


def _cv_results_csv(search: Any) -> str:
    import pandas as pd

    return pd.DataFrame.from_dict(search.cv_results_).to_csv(index=False)
