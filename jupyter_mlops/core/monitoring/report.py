"""What a drift test found: per-column results and the dataset verdict, plain and
JSON-serialisable (the type every drift path returns: in memory, streamed, Dask)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

DRIFT_SHARE = 0.5  # the dataset drifts when at least this share of tested columns drifts


@dataclass
class ColumnDrift:
    """The drift result of one column. ``test`` is None when the column was skipped (see note)."""

    column: str
    column_type: str  # numeric | categorical | text | datetime | unsupported
    test: str | None = None
    kind: str | None = None  # p_value: drift when small; distance: drift when large
    statistic: float | None = None
    p_value: float | None = None
    score: float | None = None  # the value compared with the threshold
    threshold: float | None = None
    drift: bool = False
    reference_size: int = 0  # non-missing values
    current_size: int = 0
    reference_missing: float = 0.0  # share of missing (NaN, None, inf) values
    current_missing: float = 0.0
    note: str = ""

    @property
    def tested(self) -> bool:
        """Whether a test ran on this column."""
        return self.test is not None


@dataclass
class DriftReport:
    """Per-column drift results and the dataset-level verdict."""

    columns: dict[str, ColumnDrift]
    drift_share: float = DRIFT_SHARE
    reference_rows: int = 0
    current_rows: int = 0
    dataset_drift: bool = field(init=False)

    def __post_init__(self) -> None:
        tested = self.tested_columns
        self.dataset_drift = bool(tested) and self.share_drifted >= self.drift_share

    @property
    def tested_columns(self) -> list[str]:
        """Names of the columns a test ran on."""
        return [name for name, col in self.columns.items() if col.tested]

    @property
    def drifted_columns(self) -> list[str]:
        """Names of the columns flagged as drifted."""
        return [name for name, col in self.columns.items() if col.drift]

    @property
    def share_drifted(self) -> float:
        """Drifted share of the tested columns (0 when none was tested)."""
        tested = self.tested_columns
        return len(self.drifted_columns) / len(tested) if tested else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (non-finite floats become None)."""
        return {
            "dataset_drift": self.dataset_drift,
            "drift_share": self.drift_share,
            "share_drifted_columns": self.share_drifted,
            "number_of_columns": len(self.tested_columns),
            "number_of_drifted_columns": len(self.drifted_columns),
            "drifted_columns": self.drifted_columns,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "columns": {name: finite(asdict(col)) for name, col in self.columns.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftReport:
        """Inverse of ``to_dict``."""
        columns = {name: ColumnDrift(**col) for name, col in data["columns"].items()}
        return cls(
            columns=columns,
            drift_share=data.get("drift_share", DRIFT_SHARE),
            reference_rows=data.get("reference_rows", 0),
            current_rows=data.get("current_rows", 0),
        )

    def metrics(self, prefix: str = "drift.") -> dict[str, float]:
        """Flat numeric metrics for MLflow: dataset share/flag and each tested column's score."""
        out = {
            f"{prefix}share_drifted_columns": self.share_drifted,
            f"{prefix}dataset_drift": float(self.dataset_drift),
            f"{prefix}drifted_columns": float(len(self.drifted_columns)),
        }
        for name, col in self.columns.items():
            if col.tested and col.score is not None and math.isfinite(col.score):
                out[f"{prefix}{metric_safe(name)}.score"] = float(col.score)
        return out

    def summary(self) -> str:
        """One line: drifted k of n columns and the dataset verdict."""
        verdict = "dataset drift" if self.dataset_drift else "no dataset drift"
        drifted = ", ".join(self.drifted_columns[:8]) or "none"
        more = "" if len(self.drifted_columns) <= 8 else ", ..."
        return (
            f"Drift: {len(self.drifted_columns)} of {len(self.tested_columns)} columns drifted "
            f"({verdict}; threshold {self.drift_share:.0%}): {drifted}{more}"
        )

    def __repr__(self) -> str:
        return f"<DriftReport {self.summary()}>"


def metric_safe(name: str) -> str:
    """A column name reduced to the characters MLflow allows in metric keys."""
    safe = "".join(ch if ch.isalnum() or ch in "_-. /" else "_" for ch in str(name))
    return safe.strip() or "_"


def finite(data: dict[str, Any]) -> dict[str, Any]:
    """The same mapping with non-finite floats replaced by None (strict JSON has no NaN)."""
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in data.items()
    }
