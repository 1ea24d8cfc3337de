"""The champion verdict: a candidate version against the alias holder on one metric.

One rule for the widget, the sidebar's promote dialog and anything else that asks: the primary
metric defaults to a well-known score, its direction to the metric's name, and NaN counts as
no value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from jupyter_mlops.core.errors import ModelNotFound
from jupyter_mlops.core.models.registry import CHAMPION, VersionSummary, model_versions
from jupyter_mlops.core.runs.summaries import higher_is_better as default_direction

_PREFERRED_METRICS = ("accuracy", "f1", "auc", "roc_auc", "r2", "precision", "recall", "loss")


@dataclass
class ChampionComparison:
    """A candidate version against the alias holder on one metric, for the confirmation step."""

    metric: str | None
    higher_is_better: bool
    candidate_version: str
    candidate_value: float | None
    champion_version: str | None
    champion_value: float | None

    @property
    def delta(self) -> float | None:
        """Candidate minus champion, None when either value is missing."""
        if self.candidate_value is None or self.champion_value is None:
            return None
        return self.candidate_value - self.champion_value

    @property
    def worse(self) -> bool:
        """True when the candidate is strictly worse than the champion on the metric."""
        delta = self.delta
        if delta is None:
            return False
        return delta < 0 if self.higher_is_better else delta > 0

    @property
    def message(self) -> str:
        """One line such as ``accuracy 0.962 vs 0.955 (+0.007)``."""
        if self.metric is None:
            return "no metric to compare"
        if self.candidate_value is None:
            return f"{self.metric}: version {self.candidate_version} has no value"
        if self.champion_version is None:
            return f"{self.metric} {self.candidate_value:.4g} (no current champion)"
        if self.champion_value is None:
            return f"{self.metric} {self.candidate_value:.4g} vs no value for the champion"
        return (
            f"{self.metric} {self.candidate_value:.4g} vs {self.champion_value:.4g} "
            f"({self.delta:+.3g})"
        )


def default_primary_metric(metrics: Iterable[str]) -> str | None:
    """The metric to compare on by default: a well-known score if present, else the first."""
    names = sorted(set(metrics))
    for preferred in _PREFERRED_METRICS:
        if preferred in names:
            return preferred
    return names[0] if names else None


def verdict(
    candidate: VersionSummary,
    holder: VersionSummary | None,
    metric: str | None = None,
    higher_is_better: bool | None = None,
) -> ChampionComparison:
    """Compare two already-listed versions (``holder`` None: the alias is unset)."""
    if metric is None:
        metric = default_primary_metric(
            list(candidate.metrics) + (list(holder.metrics) if holder else [])
        )
    direction = higher_is_better
    if direction is None:
        direction = default_direction(metric) if metric else True

    def value(v: VersionSummary | None) -> float | None:
        found = None if v is None or metric is None else v.metrics.get(metric)
        return None if found is None or math.isnan(found) else found

    return ChampionComparison(
        metric=metric,
        higher_is_better=direction,
        candidate_version=candidate.version,
        candidate_value=value(candidate),
        champion_version=holder.version if holder else None,
        champion_value=value(holder),
    )


def candidate_and_holder(
    versions: list[VersionSummary], model: str, version: str | int, alias: str
) -> tuple[VersionSummary, VersionSummary | None]:
    """The listed ``version`` (ModelNotFound when absent) and the version holding ``alias``."""
    candidate = next((v for v in versions if v.version == str(version)), None)
    if candidate is None:
        raise ModelNotFound(f"model {model!r} has no version {version}")
    holder = next((v for v in versions if alias in v.aliases), None)
    return candidate, holder


def compare_with_champion(
    model: str,
    version: str | int,
    metric: str | None = None,
    *,
    higher_is_better: bool | None = None,
    alias: str = CHAMPION,
    tracking_uri: str | None = None,
) -> ChampionComparison:
    """Compare ``version`` with the version holding ``alias`` on ``metric`` (source runs)."""
    versions = model_versions(model, tracking_uri)
    candidate, holder = candidate_and_holder(versions, model, version, alias)
    return verdict(candidate, holder, metric, higher_is_better)
