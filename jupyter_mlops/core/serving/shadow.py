"""Shadow traffic: copy each served request to a challenger, off the response path.

The response has already been sent when a copy is queued; a single worker thread scores it on
the challenger through MLflow's own ``invocations`` (same parsing as the champion) and
compares the predictions. The queue is bounded: when the challenger cannot keep up, copies are
dropped and counted, so a slow or raising challenger never delays or fails a response.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from typing import Any

import numpy as np

from jupyter_mlops.core.serving.follow import ModelHandle
from jupyter_mlops.core.serving.stats import PrometheusMetrics, RequestStats

__all__ = ["ShadowRunner", "compare_predictions"]

log = logging.getLogger(__name__)
QUEUE_SIZE = 256


def compare_predictions(champion: Any, challenger: Any) -> tuple[int, int | None, float | None]:
    """(rows, rows agreeing, summed absolute error): agreement for labels, error for numbers."""
    a = np.asarray(champion)
    b = np.asarray(challenger)
    if a.shape != b.shape:
        raise ValueError(f"shadow predicted shape {b.shape}, champion {a.shape}")
    rows = len(a) if a.ndim else 1
    numeric = a.dtype.kind in "fc" or b.dtype.kind in "fc"
    if numeric and a.dtype.kind in "biufc" and b.dtype.kind in "biufc":
        diff = np.abs(a.astype(float) - b.astype(float)).reshape(rows, -1).mean(axis=1)
        if not (np.all(np.mod(a, 1) == 0) and np.all(np.mod(b, 1) == 0)):
            return rows, None, float(diff.sum())
    same = (a == b).reshape(rows, -1).all(axis=1)
    return rows, int(same.sum()), None


class ShadowRunner:
    """Bounded queue + worker thread scoring request copies on the shadow model."""

    def __init__(
        self, handle: ModelHandle, stats: RequestStats, metrics: PrometheusMetrics
    ) -> None:
        self.handle = handle
        self.stats = stats
        self.metrics = metrics
        self._queue: queue.Queue[tuple[bytes, str, bytes] | None] = queue.Queue(QUEUE_SIZE)
        self._thread = threading.Thread(target=self._work, name="jupyter-mlops-shadow", daemon=True)
        self._thread.start()

    @property
    def version(self) -> str:
        """The shadow version being compared."""
        return self.handle.current.version

    def submit(self, body: bytes, content_type: str, champion_response: bytes) -> None:
        """Queue a copy of a served request; drop it (counted) when the queue is full."""
        try:
            self._queue.put_nowait((body, content_type, champion_response))
        except queue.Full:
            self.stats.shadow_dropped()
            self.metrics.shadow.labels(self._name, self.version, "dropped").inc()

    @property
    def _name(self) -> str:
        return self.handle.current.ref.name

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                self._score(*item)
            except Exception as exc:  # the worker must outlive anything the challenger does
                log.warning("shadow comparison failed: %s", exc)

    def _score(self, body: bytes, content_type: str, champion_response: bytes) -> None:
        from jupyter_mlops.core.mlflow_internals import score

        slot = self.handle.current
        began = time.perf_counter()
        try:
            result = score(body, content_type, slot.model, slot.input_schema)
            ok = result.status == 200
        except Exception:
            ok = False
        latency_ms = (time.perf_counter() - began) * 1000
        if not ok:
            self.stats.shadow_result(latency_ms=None, rows=0, agreed=None, abs_error=None)
            self.metrics.shadow.labels(slot.ref.name, slot.version, "error").inc()
            return
        self.metrics.shadow.labels(slot.ref.name, slot.version, "ok").inc()
        self.metrics.shadow_duration.labels(slot.ref.name, slot.version).observe(latency_ms / 1000)
        champion = json.loads(champion_response)["predictions"]
        challenger = json.loads(result.response)["predictions"]
        rows, agreed, error = compare_predictions(_values(champion), _values(challenger))
        self.stats.shadow_result(latency_ms=latency_ms, rows=rows, agreed=agreed, abs_error=error)

    def stop(self) -> None:
        """Let the worker finish its current item and exit."""
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass


def _values(predictions: Any) -> Any:
    """Record-oriented predictions (list of dicts) as a list of value rows."""
    if isinstance(predictions, list) and predictions and isinstance(predictions[0], dict):
        return [list(p.values()) for p in predictions]
    return predictions
