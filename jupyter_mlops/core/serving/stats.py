"""Request statistics of a serving process: Prometheus metrics and a recent-window summary.

Prometheus holds the cumulative counters a scraper wants; ``RequestStats`` keeps the last few
minutes of request latencies so ``Server.stats()`` and the live view can show percentiles,
requests per second and the version timeline without a Prometheus server.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["METRIC_DURATION", "METRIC_REQUESTS", "PrometheusMetrics", "RequestStats"]

METRIC_REQUESTS = "jupyter_mlops_requests_total"
METRIC_DURATION = "jupyter_mlops_request_duration_seconds"
METRIC_ROWS = "jupyter_mlops_rows_predicted_total"
METRIC_IN_FLIGHT = "jupyter_mlops_requests_in_flight"
METRIC_SHADOW = "jupyter_mlops_shadow_requests_total"
METRIC_SHADOW_DURATION = "jupyter_mlops_shadow_duration_seconds"
# latencies of a scoring call: sub-millisecond to a few seconds
BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
WINDOW_S = 300.0  # the live view's history
WINDOW_MAX = 100_000  # requests kept in the window, whatever the rate
SERIES_POINTS = 120  # points of each live-view series


class PrometheusMetrics:
    """The process's metrics in their own registry (``/metrics`` renders only these)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            METRIC_REQUESTS[: -len("_total")],
            "Scoring requests by model, version and HTTP status.",
            ["model", "version", "status"],
            registry=r,
        )
        self.duration = Histogram(
            METRIC_DURATION,
            "Time from request to full response, by model and version.",
            ["model", "version"],
            buckets=BUCKETS,
            registry=r,
        )
        self.rows = Counter(
            METRIC_ROWS[: -len("_total")],
            "Rows predicted by model and version.",
            ["model", "version"],
            registry=r,
        )
        self.in_flight = Gauge(METRIC_IN_FLIGHT, "Requests being served.", ["model"], registry=r)
        self.shadow = Counter(
            METRIC_SHADOW[: -len("_total")],
            "Requests copied to the shadow model, by outcome (ok, error, dropped).",
            ["model", "version", "outcome"],
            registry=r,
        )
        self.shadow_duration = Histogram(
            METRIC_SHADOW_DURATION,
            "Shadow model prediction time.",
            ["model", "version"],
            buckets=BUCKETS,
            registry=r,
        )

    def render(self) -> bytes:
        """The metrics in the Prometheus text format."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


def percentiles(values: Any) -> dict[str, float | None]:
    """p50/p95/p99 in the values' unit, None when there are none."""
    arr = np.asarray(values, dtype=float)
    if not arr.size:
        return {"p50": None, "p95": None, "p99": None}
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99)}


class RequestStats:
    """Thread-safe totals plus the recent window of (time, latency, ok, version) per request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window: deque[tuple[float, float, bool, str]] = deque(maxlen=WINDOW_MAX)
        self.started = time.time()
        self.requests = 0
        self.errors = 0
        self.rows = 0
        self.versions: list[dict[str, Any]] = []  # {"version", "since"}: the swap timeline
        self.shadow: dict[str, Any] = _empty_shadow()

    def record(self, latency_ms: float, ok: bool, version: str) -> None:
        """One finished request."""
        with self._lock:
            self.requests += 1
            self.errors += not ok
            self._window.append((time.time(), latency_ms, ok, version))

    def add_rows(self, n: int) -> None:
        """Rows predicted by a successful request (counted off the response path)."""
        with self._lock:
            self.rows += n

    def swapped(self, version: str, held_from: float | None = None) -> None:
        """The served version became ``version`` now (new requests waited since ``held_from``)."""
        entry: dict[str, Any] = {"version": version, "since": time.time()}
        if held_from is not None:
            entry["held_from"] = held_from
        with self._lock:
            self.versions.append(entry)

    def shadow_result(
        self, *, latency_ms: float | None, rows: int, agreed: int | None, abs_error: float | None
    ) -> None:
        """One request the shadow model answered (latency None: it raised)."""
        with self._lock:
            s = self.shadow
            if latency_ms is None:
                s["errors"] += 1
                return
            s["requests"] += 1
            s["latencies"].append(latency_ms)
            s["compared_rows"] += rows
            if agreed is not None:
                s["agreed_rows"] += agreed
                s["label_rows"] += rows
            if abs_error is not None:
                s["abs_error_sum"] += abs_error
                s["value_rows"] += rows

    def shadow_dropped(self) -> None:
        """A request the shadow queue had no room for."""
        with self._lock:
            self.shadow["dropped"] += 1

    def snapshot(self, shadow_version: str | None = None) -> dict[str, Any]:
        """The summary ``Server.stats()`` returns, with the live view's series."""
        with self._lock:
            window = list(self._window)
            totals = (self.requests, self.errors, self.rows)
            versions = [dict(v) for v in self.versions]
            shadow = {**self.shadow, "latencies": list(self.shadow["latencies"])}
        now = time.time()
        recent = [w for w in window if now - w[0] <= 60.0]
        lat = percentiles([w[1] for w in recent])
        served_lat = percentiles([w[1] for w in window[-2048:]])
        last5 = sum(1 for w in window if now - w[0] <= 5.0)
        out: dict[str, Any] = {
            "version": versions[-1]["version"] if versions else None,
            "requests": totals[0],
            "errors": totals[1],
            "rows": totals[2],
            "requests_per_s": last5 / min(5.0, max(now - self.started, 1e-3)),
            "p50_ms": served_lat["p50"],
            "p95_ms": served_lat["p95"],
            "p99_ms": served_lat["p99"],
            "last_minute": {f"{k}_ms": v for k, v in lat.items()},
            "uptime_s": now - self.started,
            "versions": versions,
            "series": _series(window, now),
        }
        out.update(_shadow_summary(shadow, shadow_version))
        return out


def _empty_shadow() -> dict[str, Any]:
    return {
        "requests": 0,
        "errors": 0,
        "dropped": 0,
        "compared_rows": 0,
        "agreed_rows": 0,
        "label_rows": 0,
        "value_rows": 0,
        "abs_error_sum": 0.0,
        "latencies": deque(maxlen=4096),
    }


def _shadow_summary(s: dict[str, Any], version: str | None) -> dict[str, Any]:
    """``shadow_agreement`` (classification) or ``shadow_mae`` (regression), both None if off."""
    labels, values = s["label_rows"], s["value_rows"]
    lat = percentiles(s["latencies"])
    return {
        "shadow_version": version,
        "shadow_agreement": s["agreed_rows"] / labels if labels else None,
        "shadow_mae": s["abs_error_sum"] / values if values else None,
        "shadow": {
            "requests": s["requests"],
            "errors": s["errors"],
            "dropped": s["dropped"],
            "compared_rows": s["compared_rows"],
            **{f"{k}_ms": v for k, v in lat.items()},
        },
    }


def _series(window: list[tuple[float, float, bool, str]], now: float) -> dict[str, list[Any]]:
    """Per-interval requests/s, errors, p50/p95/p99 and version over the window."""
    if not window:
        return {"t": [], "rps": [], "errors": [], "p50": [], "p95": [], "p99": [], "version": []}
    start = max(window[0][0], now - WINDOW_S)
    step = max((now - start) / SERIES_POINTS, 1.0)
    times = np.array([w[0] for w in window])
    lat = np.array([w[1] for w in window])
    ok = np.array([w[2] for w in window])
    bins = np.floor((times - start) / step).astype(int)
    out: dict[str, list[Any]] = {k: [] for k in ("t", "rps", "errors", "p50", "p95", "p99")}
    out["version"] = []
    for b in range(int(np.floor((now - start) / step)) + 1):
        mask = bins == b
        n = int(mask.sum())
        out["t"].append(round(start + b * step, 3))
        out["rps"].append(n / step)
        out["errors"].append(int((~ok[mask]).sum()))
        p = percentiles(lat[mask])
        for key in ("p50", "p95", "p99"):
            out[key].append(None if p[key] is None else round(p[key], 3))
        versions = [window[i][3] for i in np.flatnonzero(mask)[-1:]]
        out["version"].append(versions[0] if versions else None)
    return out
