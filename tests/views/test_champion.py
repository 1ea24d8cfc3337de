"""The one champion verdict and the one alias rule (core.models), shared by widget and server."""

from __future__ import annotations

import math

import pytest

from jupyter_mlops.core.errors import ModelNotFound, NotFound, RegistryError
from jupyter_mlops.core.models.champion import candidate_and_holder, verdict
from jupyter_mlops.core.models.promotion import check_alias
from jupyter_mlops.core.models.registry import VersionSummary


def version(n: str, aliases: list[str], **metrics: float) -> VersionSummary:
    """A listed version of model 'm' with the given aliases and source-run metrics."""
    return VersionSummary("m", n, f"run{n}", "src", aliases, 0, None, "READY", metrics)


def test_verdict_on_versions_without_metrics_is_no_metric_not_a_crash():
    # Given two versions whose runs logged nothing; Then there is simply nothing to compare
    result = verdict(version("2", []), version("1", ["champion"]))
    assert result.metric is None and result.higher_is_better is True
    assert result.worse is False and result.message == "no metric to compare"


def test_verdict_direction_and_nan():
    loss = verdict(version("2", [], loss=0.3), version("1", ["champion"], loss=0.2))
    assert loss.metric == "loss" and not loss.higher_is_better and loss.worse
    nan = verdict(version("2", [], accuracy=math.nan), version("1", ["champion"], accuracy=0.9))
    assert nan.candidate_value is None and not nan.worse


def test_candidate_and_holder_by_alias_and_missing_version_is_not_found():
    listed = [version("2", []), version("1", ["champion", "prod"])]
    candidate, holder = candidate_and_holder(listed, "m", 2, "prod")
    assert (candidate.version, holder.version) == ("2", "1")
    assert candidate_and_holder(listed, "m", "2", "challenger")[1] is None
    with pytest.raises(ModelNotFound) as info:
        candidate_and_holder(listed, "m", "7", "champion")
    assert isinstance(info.value, NotFound) and isinstance(info.value, RegistryError)


@pytest.mark.parametrize(
    "bad", ["", "   ", "a b", "x/y", "latest", "LATEST", "v3", "a" * 256, "é'", None, 3]
)
def test_alias_rule_refuses_what_mlflow_refuses(bad):
    with pytest.raises(RegistryError):
        check_alias(bad)


def test_alias_rule_accepts_mlflow_names():
    assert check_alias(" champion ") == "champion"
    assert check_alias("prod-eu_2") == "prod-eu_2" and check_alias("vNext") == "vNext"
