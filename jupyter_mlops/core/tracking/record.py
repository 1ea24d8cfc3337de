"""What one tracked run holds, as plain data: the unit the tracker writes, spools and replays."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any


def now_ms() -> int:
    """Epoch milliseconds, MLflow's timestamp unit."""
    return int(time.time() * 1000)


@dataclass
class MetricPoint:
    """One metric value at a step, with the time it was observed."""

    key: str
    value: float
    timestamp_ms: int
    step: int = 0


@dataclass
class ArtifactFile:
    """A local file to upload; ``artifact_path`` is the folder inside the run (None = root)."""

    local_path: str
    artifact_path: str | None = None


@dataclass
class RunRecord:
    """Everything a tracked cell logs. ``run_id`` is None while the run exists only locally."""

    experiment_name: str
    run_name: str | None = None
    run_id: str | None = None
    parent_run_id: str | None = None
    start_time_ms: int = field(default_factory=now_ms)
    end_time_ms: int | None = None
    status: str = "RUNNING"  # MLflow RunStatus name: RUNNING, FINISHED, FAILED, KILLED
    params: dict[str, str] = field(default_factory=dict)
    metrics: list[MetricPoint] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: list[ArtifactFile] = field(default_factory=list)
    # small generated files (cell source, diffs, tracebacks): artifact file path -> text
    texts: dict[str, str] = field(default_factory=dict)
    # dataset inputs: dicts with name, digest, source, source_type, context
    inputs: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (for the offline spool)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        """Inverse of ``to_dict``."""
        data = dict(data)
        data["metrics"] = [MetricPoint(**m) for m in data.get("metrics", [])]
        data["artifacts"] = [ArtifactFile(**a) for a in data.get("artifacts", [])]
        return cls(**data)
