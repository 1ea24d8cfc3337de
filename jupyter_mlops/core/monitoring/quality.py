"""A model's quality metric over data seen a chunk at a time: exact, mergeable tallies.

Every metric a ``Monitor`` knows (``models.loader.quality_metric``) is a function of a few sums
(accuracy, MAE, MSE, RMSE, R²) or of per-label counts (macro F1, precision, recall with
``zero_division=0``), so a ``QualityTally`` keeps those, adds chunks and merges with another in
any order, and gives the same value as scikit-learn on all the rows at once (to rounding).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from jupyter_mlops.core.errors import UsageProblem

__all__ = ["QualityTally"]

_SUMS = {"accuracy", "mae", "mse", "rmse", "r2"}
_LABELS = {"f1", "precision", "recall"}


class QualityTally:
    """Running sums (or per-label counts) from which ``metric`` is computed exactly."""

    def __init__(self, metric: str) -> None:
        if metric not in _SUMS | _LABELS:
            raise UsageProblem(f"metric {metric!r} cannot be computed a chunk at a time")
        self.metric = metric
        self.rows = 0
        self.sums = np.zeros(5)  # correct, |e|, e², y - y0, (y - y0)²
        self.origin: float | None = None  # y0: the first label seen (keeps R²'s sums stable)
        self.labels: dict[Any, np.ndarray] = {}  # label -> [true, predicted, both]

    def add(self, y_true: Any, y_pred: Any) -> None:
        """Add one chunk of labels and predictions."""
        y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
        if len(y_true) != len(y_pred):
            raise UsageProblem("labels and predictions differ in length")
        if not len(y_true):
            return
        self.rows += len(y_true)
        if self.metric in _LABELS:
            self._add_labels(y_true, y_pred)
        elif self.metric == "accuracy":
            self.sums[0] += float(np.count_nonzero(y_true == y_pred))
        else:
            truth, pred = y_true.astype(float), y_pred.astype(float)
            if self.origin is None:
                self.origin = float(truth[0])
            error, centred = truth - pred, truth - self.origin
            self.sums[1:] += (np.abs(error).sum(), error @ error, centred.sum(), centred @ centred)

    def _add_labels(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        for values, slot in ((y_true, 0), (y_pred, 1), (y_true[y_true == y_pred], 2)):
            keys, counts = np.unique(values, return_counts=True)
            for key, count in zip(keys.tolist(), counts.tolist(), strict=True):
                self.labels.setdefault(key, np.zeros(3, np.int64))[slot] += count

    def merge(self, other: QualityTally) -> QualityTally:
        """Add another tally of the same metric (returns self)."""
        if other.rows and self.metric not in _LABELS and self.metric != "accuracy":
            if self.origin is None:
                self.origin = other.origin
            elif other.origin != self.origin:  # re-centre the other's sums on our origin
                shift = other.origin - self.origin  # type: ignore[operator]
                s, s2 = other.sums[3], other.sums[4]
                other_sums = other.sums.copy()
                other_sums[3] = s + other.rows * shift
                other_sums[4] = s2 + 2 * shift * s + other.rows * shift**2
                other = _with_sums(other, other_sums)
        self.rows += other.rows
        self.sums += other.sums
        for key, counts in other.labels.items():
            self.labels.setdefault(key, np.zeros(3, np.int64))[:] += counts
        return self

    def value(self) -> float | None:
        """The metric over every row added (None before any)."""
        if not self.rows:
            return None
        n = self.rows
        if self.metric == "accuracy":
            return float(self.sums[0] / n)
        if self.metric in _LABELS:
            return self._macro()
        mae, mse = self.sums[1] / n, self.sums[2] / n
        if self.metric == "mae":
            return float(mae)
        if self.metric in {"mse", "rmse"}:
            return float(mse if self.metric == "mse" else math.sqrt(mse))
        total = self.sums[4] - self.sums[3] ** 2 / n  # sum of (y - mean)²
        if total <= 0:  # scikit-learn's force_finite convention
            return 1.0 if self.sums[2] == 0 else 0.0
        return float(1 - self.sums[2] / total)

    def _macro(self) -> float:
        scores = []
        for true, predicted, both in self.labels.values():
            precision = both / predicted if predicted else 0.0
            recall = both / true if true else 0.0
            f1 = 2 * both / (true + predicted) if true + predicted else 0.0
            scores.append({"precision": precision, "recall": recall, "f1": f1}[self.metric])
        return float(np.mean(scores))


def _with_sums(tally: QualityTally, sums: np.ndarray) -> QualityTally:
    copy = QualityTally(tally.metric)
    copy.rows, copy.sums, copy.origin = tally.rows, sums, tally.origin
    return copy
