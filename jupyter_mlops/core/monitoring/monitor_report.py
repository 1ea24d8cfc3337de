"""What a monitor reports: one observed batch (``BatchReport``) and the alerts so far
(``MonitorStatus``); plain, JSON-serialisable dataclasses."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from jupyter_mlops.core.monitoring.report import ColumnDrift, DriftReport, finite

__all__ = ["BatchReport", "MonitorStatus"]


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
