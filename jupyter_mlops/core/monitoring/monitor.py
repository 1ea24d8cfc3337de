"""Model monitoring: data drift, prediction drift, quality drop and latency spikes per batch.

``Monitor(model_or_uri, reference_X, reference_y)`` predicts on the reference once (timing each
call) to learn the baselines; ``observe(X, y_true)`` predicts on a new batch in timed chunks and
compares it with them. Each batch becomes metrics (step = batch index) and the JSON artifact
``monitor/batch-<k>.json`` of the monitor's own MLflow run, named after the model and tagged
with its registry version when the model came from ``models:/NAME@alias`` or ``models:/NAME/N``.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from jupyter_mlops.core import contracts as c
from jupyter_mlops.core.errors import MlopsError, TrackingUnavailable, UsageProblem
from jupyter_mlops.core.models.loader import LoadedModel, load_model, quality_metric
from jupyter_mlops.core.monitoring.dashboard_view import dashboard_view
from jupyter_mlops.core.monitoring.drift import ColumnDrift, DriftReport, detect_drift, finite

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

__all__ = ["BatchReport", "Monitor", "MonitorStatus"]

SIGNALS = ("data_drift", "prediction_drift", "quality_drop", "latency_spike")
DEFAULT_ALERTS: dict[str, float | None] = {
    "data_drift": 0.5,  # share of drifted columns that raises the alert
    "prediction_drift": None,  # threshold of the predictions' drift test (None: its default)
    "quality_drop": 0.05,  # absolute drop of the metric vs the reference
    "latency_spike": 2.0,  # p95 latency over the reference p95
}
LATENCY_FLOOR_MS = 1.0  # a spike must also add this much to p95 (sub-ms timings are noise)


@dataclass
class BatchReport:
    """What one observed batch showed, and which alerts it fired."""

    batch: int
    rows: int
    timestamp_ms: int
    data_drift: DriftReport
    prediction_drift: ColumnDrift
    probability_drift: list[ColumnDrift] = field(default_factory=list)
    quality: float | None = None
    quality_drop: float | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)
    latency_ratio: float | None = None
    alerts: list[str] = field(default_factory=list)
    run_id: str | None = None

    def metrics(self) -> dict[str, float]:
        """The batch's numbers as flat MLflow metrics."""
        out = {
            "monitor.rows": float(self.rows),
            "monitor.data_drift_share": self.data_drift.share_drifted,
            "monitor.dataset_drift": float(self.data_drift.dataset_drift),
            "monitor.prediction_drift": float(self.prediction_drift.drift),
            "monitor.alerts": float(len(self.alerts)),
        }
        if self.probability_drift:
            drifted = sum(col.drift for col in self.probability_drift)
            out["monitor.probability_drifted_columns"] = float(drifted)
        score = self.prediction_drift.score
        if score is not None and np.isfinite(score):
            out["monitor.prediction_drift_score"] = float(score)
        if self.quality is not None:
            out["monitor.quality"] = self.quality
        if self.quality_drop is not None:
            out["monitor.quality_drop"] = self.quality_drop
        for name, value in self.latency_ms.items():
            out[f"monitor.latency_{name}_ms"] = value
        if self.latency_ratio is not None:
            out["monitor.latency_ratio"] = self.latency_ratio
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (the ``monitor/batch-<k>.json`` artifact)."""
        data = asdict(self)
        data["data_drift"] = self.data_drift.to_dict()
        data["prediction_drift"] = finite(asdict(self.prediction_drift))
        data["probability_drift"] = [finite(asdict(col)) for col in self.probability_drift]
        return data


@dataclass
class MonitorStatus:
    """Which alerts fired: in the latest batch, and in which batches over the monitor's life."""

    batches: int
    latest: list[str]
    history: dict[str, list[int]]

    @property
    def ok(self) -> bool:
        """True when the latest batch fired no alert."""
        return not self.latest

    def __str__(self) -> str:
        if not self.batches:
            return "Monitor: no batch observed yet"
        head = "OK" if self.ok else "ALERT " + ", ".join(self.latest)
        seen = "; ".join(f"{s} in batches {v}" for s, v in self.history.items() if v)
        return f"Monitor after {self.batches} batches: {head}" + (f" ({seen})" if seen else "")

    __repr__ = __str__


class Monitor:
    """Watch a model's inputs, outputs, quality and latency batch by batch."""

    def __init__(
        self,
        model_or_uri: Any,
        reference_X: Any = None,
        reference_y: Any = None,
        metric: str = "accuracy",
        *,
        target: str | None = None,
        alerts: dict[str, float] | None = None,
        chunk_rows: int = 1000,
        tests: Any = None,
        threshold: Any = None,
        experiment: str = c.MONITOR_EXPERIMENT,
        log: bool = True,
        tracking_uri: str | None = None,
    ) -> None:
        unknown = set(alerts or {}) - set(DEFAULT_ALERTS)
        if unknown:
            raise UsageProblem(
                f"unknown alert {sorted(unknown)[0]!r}; known: {sorted(DEFAULT_ALERTS)}"
            )
        if chunk_rows < 1:
            raise UsageProblem("chunk_rows must be at least 1")
        self.alert_thresholds = {**DEFAULT_ALERTS, **(alerts or {})}
        self.metric_name, self._metric, self._higher_is_better = quality_metric(metric)
        self.chunk_rows = chunk_rows
        self._drift_options = {"tests": tests, "threshold": threshold}
        self.experiment, self.log, self.tracking_uri = experiment, log, tracking_uri
        self.model: LoadedModel = load_model(model_or_uri, tracking_uri)
        if reference_X is None:
            reference_X, reference_y = self.model.reference_data(target)
        self.reference_X = _frame(reference_X, "reference_X")
        self.reference_y = None if reference_y is None else np.asarray(reference_y)
        if self.reference_y is not None and len(self.reference_y) != len(self.reference_X):
            raise UsageProblem("reference_y must have one label per row of reference_X")
        pred, self.reference_latency_ms, proba = self._predict(self.reference_X)
        self.reference_predictions = pred
        self._reference_outputs = self._outputs(pred, proba)
        self.reference_quality = (
            None if self.reference_y is None else self._metric(self.reference_y, pred)
        )
        self.batches: list[BatchReport] = []
        self.run_id: str | None = None

    # --- observing --------------------------------------------------------------------------

    def observe(self, X: Any, y_true: Any = None) -> BatchReport:
        """Predict on a new batch (timed) and compare it with the reference; log it."""
        frame = _frame(X, "X")
        if y_true is not None and len(np.asarray(y_true)) != len(frame):
            raise UsageProblem("y_true must have one label per row of X")
        predictions, latency, proba = self._predict(frame)
        data = detect_drift(self.reference_X, frame, **self._drift_options)
        outputs = detect_drift(
            self._reference_outputs,
            self._outputs(predictions, proba),
            threshold=self.alert_thresholds["prediction_drift"],
        )
        pred = outputs.columns.pop("prediction")
        report = BatchReport(
            batch=len(self.batches),
            rows=len(frame),
            timestamp_ms=int(time.time() * 1000),
            data_drift=data,
            prediction_drift=pred,
            probability_drift=list(outputs.columns.values()),
            latency_ms=latency,
        )
        if y_true is not None:
            report.quality = self._metric(np.asarray(y_true), predictions)
            if self.reference_quality is not None:
                sign = 1.0 if self._higher_is_better else -1.0
                report.quality_drop = sign * (self.reference_quality - report.quality)
        ref_p95 = self.reference_latency_ms.get("p95", 0.0)
        if ref_p95 > 0:
            report.latency_ratio = latency["p95"] / ref_p95
        report.alerts = self._alerts(report)
        self.batches.append(report)
        if self.log:
            self._log(report)
        return report

    def _outputs(self, predictions: np.ndarray, proba: np.ndarray | None) -> pd.DataFrame:
        """Predictions, plus class probabilities (the positive one only for two classes)."""
        columns: dict[str, Any] = {"prediction": predictions}
        if proba is not None and proba.ndim == 2 and proba.shape[1] <= 20:
            classes = self.model.classes or list(range(proba.shape[1]))
            first = 1 if proba.shape[1] == 2 else 0
            for i in range(first, proba.shape[1]):
                columns[f"probability[{classes[i]}]"] = proba[:, i]
        return pd.DataFrame(columns)

    def _predict(
        self, frame: pd.DataFrame
    ) -> tuple[np.ndarray, dict[str, float], np.ndarray | None]:
        """Predictions (each ``predict`` call timed), latency percentiles, probabilities."""
        parts, times, probas = [], [], []
        for start in range(0, len(frame), self.chunk_rows):
            chunk = frame.iloc[start : start + self.chunk_rows]
            began = time.perf_counter()
            try:
                out = self.model.predict(chunk)
            except MlopsError:
                raise
            except Exception as exc:
                raise UsageProblem(
                    f"the model's predict failed: {type(exc).__name__}: {exc}"
                ) from exc
            times.append((time.perf_counter() - began) * 1000)
            if self.model.predict_proba is not None:
                probas.append(np.asarray(self.model.predict_proba(chunk), dtype=float))
            parts.append(
                np.asarray(out).reshape(len(chunk), -1)[:, 0]
                if np.ndim(out) > 1
                else np.asarray(out)
            )
        if not parts:
            raise UsageProblem("the batch has no rows")
        p50, p95, p99 = np.percentile(times, [50, 95, 99])
        latency = {"p50": float(p50), "p95": float(p95), "p99": float(p99)}
        return np.concatenate(parts), latency, np.concatenate(probas) if probas else None

    def _alerts(self, report: BatchReport) -> list[str]:
        fired = []
        if report.data_drift.tested_columns and (
            report.data_drift.share_drifted >= self.alert_thresholds["data_drift"]
        ):
            fired.append("data_drift")
        if report.prediction_drift.drift or any(c.drift for c in report.probability_drift):
            fired.append("prediction_drift")
        if (
            report.quality_drop is not None
            and report.quality_drop > self.alert_thresholds["quality_drop"]
        ):
            fired.append("quality_drop")
        ref_p95 = self.reference_latency_ms.get("p95", 0.0)
        p95 = report.latency_ms.get("p95", 0.0)
        if (
            p95 > self.alert_thresholds["latency_spike"] * ref_p95
            and p95 - ref_p95 > LATENCY_FLOOR_MS
        ):
            fired.append("latency_spike")
        return fired

    # --- status and views -------------------------------------------------------------------

    def status(self) -> MonitorStatus:
        """Which alerts fired in the latest batch, and in which batches each signal fired."""
        history = {s: [b.batch for b in self.batches if s in b.alerts] for s in SIGNALS}
        latest = self.batches[-1].alerts if self.batches else []
        return MonitorStatus(len(self.batches), list(latest), history)

    def timeline(self) -> dict[str, Any]:
        """The four signals per batch with their threshold lines: the data of ``dashboard()``."""
        batches = self.batches
        last_pred = batches[-1].prediction_drift if batches else None
        quality_line = None
        if self.reference_quality is not None:
            drop = self.alert_thresholds["quality_drop"]
            sign = -1.0 if self._higher_is_better else 1.0
            quality_line = self.reference_quality + sign * drop
        ref_p95 = self.reference_latency_ms.get("p95")
        return {
            "model": self.model.name,
            "version": self.model.version,
            "batches": [b.batch for b in batches],
            "data_drift_share": [b.data_drift.share_drifted for b in batches],
            "prediction_drift_score": [_num(b.prediction_drift.score) for b in batches],
            "prediction_drift_test": last_pred.test if last_pred else None,
            "prediction_drift_line": _num(last_pred.threshold) if last_pred else None,
            "quality": [b.quality for b in batches],
            "quality_drop": [b.quality_drop for b in batches],
            "quality_threshold": quality_line,
            "latency_p95_ms": [b.latency_ms.get("p95") for b in batches],
            "latency_threshold_ms": (
                None if ref_p95 is None else ref_p95 * self.alert_thresholds["latency_spike"]
            ),
            "alerts": [list(b.alerts) for b in batches],
            "metric": self.metric_name,
            "reference_quality": self.reference_quality,
            "reference_latency_p95_ms": ref_p95,
            "thresholds": dict(self.alert_thresholds),
        }

    def dashboard(self) -> Any:
        """Timeline of the four signals with threshold lines and alert markers (a widget).

        The view is the one the widgets package registered (``dashboard_view``): core never
        imports an adapter.
        """
        return dashboard_view()(self)

    def __repr__(self) -> str:
        return f"<Monitor {self.model.name!r}: {self.status()}>"

    # --- logging ----------------------------------------------------------------------------

    def _client(self) -> MlflowClient:
        from jupyter_mlops.core.store import get_client, resolve_tracking_uri

        return get_client(resolve_tracking_uri(self.tracking_uri))

    def _log(self, report: BatchReport) -> None:
        from mlflow.entities import Metric
        from mlflow.exceptions import MlflowException

        try:
            client = self._client()
            if self.run_id is None:
                self.run_id = self._create_run(client)
            now = report.timestamp_ms
            metrics = [Metric(k, v, now, report.batch) for k, v in report.metrics().items()]
            client.log_batch(self.run_id, metrics=metrics)
            client.log_text(
                self.run_id,
                json.dumps(report.to_dict(), indent=1, default=str),
                f"{c.ART_MONITOR_DIR}/batch-{report.batch}.json",
            )
            client.set_terminated(self.run_id, "FINISHED")
            report.run_id = self.run_id
        except (MlflowException, OSError, TrackingUnavailable) as exc:
            warnings.warn(f"monitor batch {report.batch} not logged to MLflow: {exc}", stacklevel=3)

    def _create_run(self, client: MlflowClient) -> str:
        from jupyter_mlops.core.store import ensure_experiment

        exp_id = ensure_experiment(client, self.experiment)
        tags = {
            c.TAG_RUN_NAME: f"monitor-{self.model.name}",
            c.TAG_MONITOR_MODEL: self.model.name,
        }
        if self.model.version is not None:
            tags[c.TAG_MONITOR_MODEL_VERSION] = str(self.model.version)
        if self.model.uri:
            tags[c.TAG_MONITOR_MODEL_URI] = self.model.uri
        run = client.create_run(exp_id, tags=tags, run_name=tags[c.TAG_RUN_NAME])
        from mlflow.entities import Param

        params = [Param(k, v) for k, v in _params(self).items()]
        client.log_batch(run.info.run_id, params=params)
        return run.info.run_id


def _params(monitor: Monitor) -> dict[str, str]:
    params = {
        "metric": monitor.metric_name,
        "reference_rows": str(len(monitor.reference_X)),
        "chunk_rows": str(monitor.chunk_rows),
    }
    params.update({f"alert.{k}": str(v) for k, v in monitor.alert_thresholds.items()})
    return params


def _frame(data: Any, name: str) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    try:
        return pd.DataFrame(data)
    except (ValueError, TypeError) as exc:
        raise UsageProblem(f"{name} must be a table (DataFrame or 2-D array): {exc}") from None


def _num(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)
