"""What a run query returns: one run as a table row (``RunSummary``) and a page of them.

Shared by ``summaries`` (the query entry points) and ``sqlite_fast`` (the SQL path), so neither
imports the other's module for its types.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from jupyter_mlops.core.contracts import TAG_DATA_CONTEXT

DATASET_CONTEXT_TAG = TAG_DATA_CONTEXT


@dataclass
class RunSummary:
    """One run as a table row: attributes, latest metric values, params, tags, data versions."""

    run_id: str
    run_name: str | None
    experiment_id: str
    status: str
    start_time: int | None
    end_time: int | None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    data_versions: list[dict[str, str]] = field(default_factory=list)

    @property
    def duration_ms(self) -> int | None:
        """Wall time of the run in milliseconds, None while it has no end time."""
        if self.start_time is None or self.end_time is None:
            return None
        return self.end_time - self.start_time

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form; NaN/inf metric values become None (JSON has no NaN)."""
        data = asdict(self)
        data["metrics"] = {k: _json_number(v) for k, v in self.metrics.items()}
        return data


@dataclass
class RunPage:
    """A page of runs in the requested order plus the number of runs matching the query."""

    runs: list[RunSummary]
    total: int
    offset: int
    limit: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "runs": [run.to_dict() for run in self.runs],
            "total": self.total,
            "offset": self.offset,
            "limit": self.limit,
        }


def _json_number(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else value
