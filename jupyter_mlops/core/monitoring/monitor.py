"""Model monitoring: data drift, prediction drift, quality drop and latency spikes per batch.

``Monitor(model_or_uri, reference_X, reference_y)`` predicts on the reference once (timing each
call) to learn the baselines; ``observe(X, y_true)`` predicts on a new batch in timed chunks and
compares it with them. Either may be a parquet file or folder, a pyarrow dataset, a DVC path at
a revision or a Dask DataFrame (labels then come from the ``target`` column): such data is read
a batch (or partition) at a time into mergeable summaries (``baseline``), learnt once for the
reference, so memory stays bounded whatever its size. Each batch becomes metrics (step = batch
index) and the JSON artifact ``monitor/batch-<k>.json`` of the monitor's own MLflow run, named
after the model and tagged with its registry version when the model came from
``models:/NAME@alias`` or ``models:/NAME/N``.
"""

from __future__ import annotations

import json
import time
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from jupyter_mlops.core import contracts as c
from jupyter_mlops.core.errors import TrackingUnavailable, UsageProblem
from jupyter_mlops.core.models.loader import LoadedModel, load_model, quality_metric
from jupyter_mlops.core.monitoring import baseline as bl
from jupyter_mlops.core.monitoring.dashboard_view import dashboard_view
from jupyter_mlops.core.monitoring.drift import DriftReport, detect_drift
from jupyter_mlops.core.monitoring.monitor_report import BatchReport, MonitorStatus
from jupyter_mlops.core.monitoring.report import DRIFT_SHARE
from jupyter_mlops.core.monitoring.streaming import report_from_summaries

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
        self.target = target
        self._plans: bl.Plans | None = None
        self._baseline: bl.Side | None = None
        self.batches: list[BatchReport] = []
        self.run_id: str | None = None
        if bl.is_large(reference_X):
            if reference_y is not None:
                raise UsageProblem(
                    "with a parquet or Dask reference_X, labels come from its target= column"
                )
            self.reference_X = reference_X
            self.reference_y = None
            self.reference_predictions = None
            side = self._summaries()
            self.reference_rows = side.rows
            self.reference_latency_ms = _percentiles(side.times_ms)
            self.reference_quality = None if side.quality is None else side.quality.value()
            return
        self.reference_X, reference_y = self._labelled(
            _frame(reference_X, "reference_X"), reference_y
        )
        self.reference_rows = len(self.reference_X)
        self.reference_y = None if reference_y is None else np.asarray(reference_y)
        if self.reference_y is not None and len(self.reference_y) != len(self.reference_X):
            raise UsageProblem("reference_y must have one label per row of reference_X")
        pred, self.reference_latency_ms, proba = self._predict(self.reference_X)
        self.reference_predictions = pred
        self._reference_outputs = self._outputs(pred, proba)
        self.reference_quality = (
            None if self.reference_y is None else self._metric(self.reference_y, pred)
        )

    def _labelled(self, frame: pd.DataFrame, y: Any) -> tuple[pd.DataFrame, Any]:
        """Features and labels: the ``target`` column of ``frame`` when no labels are given."""
        if self.target is None or self.target not in frame.columns:
            return frame, y
        labels = frame[self.target].to_numpy()
        return frame.drop(columns=self.target), labels if y is None else y

    def _summaries(self) -> bl.Side:
        """The reference summarised a batch at a time (once; see ``baseline``)."""
        if self._baseline is None:
            self._plans = bl.infer_plans(
                self.model, self.reference_X, self.target, self.metric_name, self.chunk_rows
            )
            self._baseline = bl.learn(
                self.model, self.reference_X, self.reference_y, self._plans, "reference_X"
            )
        return self._baseline

    # --- observing --------------------------------------------------------------------------

    def observe(self, X: Any, y_true: Any = None) -> BatchReport:
        """Predict on a new batch (timed) and compare it with the reference; log it.

        ``X`` may be a parquet path or dataset or a Dask DataFrame (labels: its ``target``
        column); it is then compared through summaries, as is any batch once the reference is.
        """
        if bl.is_large(X) or self._baseline is not None:
            data, outputs, rows, latency, quality = self._compare_summaries(X, y_true)
        else:
            frame, y_true = self._labelled(_frame(X, "X"), y_true)
            if y_true is not None and len(np.asarray(y_true)) != len(frame):
                raise UsageProblem("y_true must have one label per row of X")
            predictions, latency, proba = self._predict(frame)
            data = detect_drift(self.reference_X, frame, **self._drift_options)
            outputs = detect_drift(
                self._reference_outputs,
                self._outputs(predictions, proba),
                threshold=self.alert_thresholds["prediction_drift"],
            )
            rows = len(frame)
            quality = None if y_true is None else self._metric(np.asarray(y_true), predictions)
        pred = outputs.columns.pop("prediction")
        report = BatchReport(
            batch=len(self.batches),
            rows=rows,
            timestamp_ms=int(time.time() * 1000),
            data_drift=data,
            prediction_drift=pred,
            probability_drift=list(outputs.columns.values()),
            latency_ms=latency,
            quality=quality,
        )
        if quality is not None and self.reference_quality is not None:
            sign = 1.0 if self._higher_is_better else -1.0
            report.quality_drop = sign * (self.reference_quality - quality)
        ref_p95 = self.reference_latency_ms.get("p95", 0.0)
        if ref_p95 > 0:
            report.latency_ratio = latency["p95"] / ref_p95
        report.alerts = self._alerts(report)
        self.batches.append(report)
        if self.log:
            self._log(report)
        return report

    def _compare_summaries(
        self, X: Any, y_true: Any
    ) -> tuple[DriftReport, DriftReport, int, dict[str, float], float | None]:
        """Data and output drift, rows, latency and quality of ``X`` against the summaries."""
        reference = self._summaries()
        assert self._plans is not None
        plans = self._plans.for_columns(set(bl.columns_of(X, "X")))
        current = bl.learn(self.model, X, y_true, plans)
        rows = (reference.rows, current.rows)
        ref_load = bl.column_loader(self.reference_X, "reference_X")
        cur_load = bl.column_loader(X, "X")
        features = list(plans.features.types)
        tests, threshold = self._drift_options["tests"], self._drift_options["threshold"]
        data = report_from_summaries(
            features,
            plans.features,
            (reference.features, current.features),
            rows,
            (tests, threshold, DRIFT_SHARE),
            lambda name: (ref_load(name), cur_load(name)),
        )
        outputs = report_from_summaries(
            list(plans.outputs.types),
            plans.outputs,
            (reference.outputs, current.outputs),
            rows,
            (None, self.alert_thresholds["prediction_drift"], DRIFT_SHARE),
            None,
        )
        quality = None if current.quality is None else current.quality.value()
        return data, outputs, current.rows, _percentiles(current.times_ms), quality

    def _outputs(self, predictions: np.ndarray, proba: np.ndarray | None) -> pd.DataFrame:
        """Predictions, plus class probabilities (the positive one only for two classes)."""
        return bl.outputs_frame(self.model, predictions, proba)

    def _predict(
        self, frame: pd.DataFrame
    ) -> tuple[np.ndarray, dict[str, float], np.ndarray | None]:
        """Predictions (each ``predict`` call timed), latency percentiles, probabilities."""
        parts, times, probas = [], [], []
        for start in range(0, len(frame), self.chunk_rows):
            pred, elapsed, proba = bl.predict_chunk(
                self.model, frame.iloc[start : start + self.chunk_rows]
            )
            parts.append(pred)
            times.append(elapsed)
            if proba is not None:
                probas.append(proba)
        if not parts:
            raise UsageProblem("the batch has no rows")
        latency = _percentiles(times)
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
        "reference_rows": str(monitor.reference_rows),
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


def _percentiles(times_ms: list[float]) -> dict[str, float]:
    """p50, p95 and p99 of per-call timings."""
    p50, p95, p99 = np.percentile(times_ms, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99)}


def _num(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)
