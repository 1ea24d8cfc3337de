"""Monitoring on served traffic: sampled inputs and predictions feed a ``Monitor`` per batch.

Sampled requests of one version become one monitor batch per ``every`` requests or per
``interval`` seconds, whichever comes first (either may be off): the inputs as MLflow parsed
them, the predictions the server actually returned and the measured request latencies (the
first batch is the latency baseline, since an HTTP request is not an in-process
``predict``). Data drift is against the reference (given, or the training run's DVC snapshot).
Batches are logged to MLflow like any ``Monitor``'s, so its dashboard and alerts apply. All of
it runs on a worker thread after the responses are sent.
"""

from __future__ import annotations

import json
import logging
import pickle
import queue
import random
import threading
import time
from typing import Any

import numpy as np
import pandas as pd

from jupyter_mlops.core.contracts import MONITOR_EXPERIMENT
from jupyter_mlops.core.errors import message_line
from jupyter_mlops.core.monitoring.monitor import Monitor
from jupyter_mlops.core.serving.stats import percentiles

__all__ = ["ServedMonitor", "TrafficMonitor", "monitor_spec"]

log = logging.getLogger(__name__)
DEFAULT_EVERY = 200
BATCH_QUEUE = 4
TICK_S = 0.25  # how often the worker looks for batches whose interval is over


def monitor_spec(monitor: Any, folder: str) -> dict[str, Any] | None:
    """The child's monitor settings from ``serve(monitor=...)``: True, an int, or a dict.

    Dict keys: ``every`` (requests per batch), ``interval`` (seconds per batch; a batch closes
    at whichever limit it reaches first; with only ``interval``, batches are per interval),
    ``sample`` (share of requests kept), ``reference`` (a DataFrame; default: the training
    run's snapshot), ``target``, ``experiment``, ``alerts``.
    """
    if monitor is None or monitor is False:
        return None
    options: dict[str, Any] = {}
    if isinstance(monitor, bool):
        pass
    elif isinstance(monitor, int):
        options["every"] = monitor
    elif isinstance(monitor, dict):
        options = dict(monitor)
    else:
        from jupyter_mlops.core.errors import UsageProblem

        raise UsageProblem("monitor must be True, a batch size, or a dict of options")
    reference = options.pop("reference", None)
    if reference is not None:
        path = f"{folder}/reference.pickle"
        with open(path, "wb") as f:
            pickle.dump(pd.DataFrame(reference), f)
        options["reference_path"] = path
    interval = options.get("interval")
    if interval is not None and (
        isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval <= 0
    ):
        from jupyter_mlops.core.errors import UsageProblem

        raise UsageProblem(
            f"monitor interval must be a positive number of seconds, not {interval!r}"
        )
    every = options.get("every", None if interval else DEFAULT_EVERY)
    if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
        from jupyter_mlops.core.errors import UsageProblem

        raise UsageProblem(f"monitor every must be a positive number of requests, not {every!r}")
    options["every"] = every
    options["interval"] = float(interval) if interval else None
    options.setdefault("sample", 1.0)
    return options


class ServedMonitor(Monitor):
    """A ``Monitor`` whose batches carry served predictions and measured latencies."""

    _served: tuple[np.ndarray, dict[str, float]] | None = None

    def observe_served(
        self, frame: pd.DataFrame, predictions: np.ndarray, latencies_ms: list[float]
    ) -> Any:
        """One batch of traffic: no re-prediction, latency from the requests themselves."""
        latency = {k: float(v) for k, v in percentiles(latencies_ms).items() if v is not None}
        if not self.batches:
            self.reference_latency_ms = latency  # served latency's own baseline
        self._served = (predictions, latency)
        try:
            return self.observe(frame)
        finally:
            self._served = None

    def _predict(self, frame: pd.DataFrame) -> tuple[np.ndarray, dict[str, float], Any]:
        if self._served is None:
            return super()._predict(frame)
        predictions, latency = self._served
        return predictions, latency, None


class TrafficMonitor:
    """Collects sampled requests per version and observes them batch by batch."""

    def __init__(self, options: dict[str, Any], tracking_uri: str) -> None:
        self.options = options
        self.tracking_uri = tracking_uri
        every = options.get("every", DEFAULT_EVERY)
        self.every: int | None = int(every) if every else None
        self.interval: float | None = options.get("interval") or None
        self.sample_share = float(options.get("sample", 1.0))
        self.monitors: dict[str, ServedMonitor] = {}
        self.pending: dict[str, list[tuple[pd.DataFrame, list[Any], float]]] = {}
        self._opened: dict[str, float] = {}  # version -> when its open batch got its first request
        self._slots: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.errors: list[str] = []
        self.dropped = 0
        self._batches: queue.Queue[tuple[Any, list[Any]] | None] = queue.Queue(BATCH_QUEUE)
        self._thread = threading.Thread(
            target=self._work, name="jupyter-mlops-monitor", daemon=True
        )
        self._thread.start()

    def sample(self, slot: Any, body: bytes, ctype: str, response: bytes, elapsed: float) -> None:
        """Tap observer: keep this request (with probability ``sample``) for its version."""
        if self.sample_share < 1.0 and random.random() >= self.sample_share:
            return
        if not ctype.startswith("application/json"):
            return
        from jupyter_mlops.core.mlflow_internals import parse_scoring_input

        payload = json.loads(body)
        payload.pop("params", None)
        frame = pd.DataFrame(parse_scoring_input(payload, slot.input_schema))
        predictions = json.loads(response)["predictions"]
        with self._lock:
            bucket = self.pending.setdefault(slot.version, [])
            if not bucket:
                self._opened[slot.version] = time.monotonic()
            self._slots[slot.version] = slot
            bucket.append((frame, predictions, elapsed * 1000))
            full = self.every is not None and len(bucket) >= self.every
        if full:
            self._close(slot.version)

    def _close(self, version: str) -> None:
        """Hand the open batch of ``version`` to the worker (counted when the queue is full)."""
        with self._lock:
            bucket = self.pending.get(version) or []
            self.pending[version] = []
            slot = self._slots.get(version)
        if bucket:
            try:
                self._batches.put_nowait((slot, bucket))
            except queue.Full:
                self.dropped += 1

    def _close_due(self) -> None:
        """Close every open batch whose interval is over."""
        if self.interval is None:
            return
        now = time.monotonic()
        with self._lock:
            due = [
                v
                for v, bucket in self.pending.items()
                if bucket and now - self._opened.get(v, now) >= self.interval
            ]
        for version in due:
            self._close(version)

    def _work(self) -> None:
        while True:
            try:
                item = self._batches.get(timeout=TICK_S if self.interval else None)
            except queue.Empty:
                self._close_due()
                continue
            if item is None:
                return
            slot, bucket = item
            try:
                self._observe(slot, bucket)
            except Exception as exc:  # a monitoring failure never touches serving
                self._error(f"monitor batch of v{slot.version} failed: {exc}")
            self._close_due()

    def _observe(self, slot: Any, bucket: list[tuple[pd.DataFrame, list[Any], float]]) -> None:
        monitor = self.monitors.get(slot.version)
        if monitor is None:
            monitor = self._monitor(slot)
            if monitor is None:
                return
            self.monitors[slot.version] = monitor
        frame = pd.concat([b[0] for b in bucket], ignore_index=True)
        predictions = np.concatenate(
            [np.asarray(b[1]).reshape(len(b[0]), -1)[:, 0] for b in bucket]
        )
        monitor.observe_served(frame, predictions, [b[2] for b in bucket])

    def _monitor(self, slot: Any) -> ServedMonitor | None:
        reference = None
        if self.options.get("reference_path"):
            with open(self.options["reference_path"], "rb") as f:
                reference = pickle.load(f)
        uri = (
            f"models:/{slot.ref.name}/{slot.version}"
            if slot.ref.alias or slot.ref.version
            else slot.ref.uri
        )
        try:
            return ServedMonitor(
                uri,
                reference,
                target=self.options.get("target"),
                alerts=self.options.get("alerts"),
                experiment=self.options.get("experiment", MONITOR_EXPERIMENT),
                tracking_uri=self.tracking_uri,
            )
        except Exception as exc:
            self._error(f"cannot monitor v{slot.version}: {message_line(exc)}")
            return None

    def _error(self, message: str) -> None:
        log.warning("%s", message)
        if message not in self.errors:
            self.errors.append(message)

    def summary(self) -> dict[str, Any]:
        """Per monitored version: batches, latest alerts, run id; plus errors."""
        return {
            "every": self.every,
            "interval": self.interval,
            "versions": {
                v: {
                    "batches": len(m.batches),
                    "status": str(m.status()),
                    "alerts": list(m.status().latest),
                    "run_id": m.run_id,
                }
                for v, m in list(self.monitors.items())
            },
            "pending": {v: len(b) for v, b in list(self.pending.items()) if b},
            "errors": list(self.errors),
            "dropped_batches": self.dropped,
        }

    def stop(self) -> None:
        """Let the worker finish its batch and exit."""
        try:
            self._batches.put_nowait(None)
        except queue.Full:
            pass
