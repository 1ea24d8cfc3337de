"""detect_drift on Dask DataFrames, on a real dask.distributed LocalCluster of 2 processes."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from jupyter_mlops.core.monitoring import sketch
from jupyter_mlops.core.monitoring.drift import DriftReport, detect_drift

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("dask.distributed")

from test_streaming import close, frames, same_flags  # noqa: E402 - after the skips

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster_address() -> Iterator[str]:
    """A LocalCluster with 2 worker processes, as an existing cluster would be reached."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


def test_partition_summaries_merge_to_the_in_memory_flags(
    cluster_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sketch, "RAW_LIMIT", 1_000)  # the plan carries it to the workers
    rng = np.random.default_rng(4)
    ref, cur = frames(rng, 120_000, 50_000)
    memory = detect_drift(ref, cur)
    with distributed.Client(cluster_address):
        dref = dd.from_pandas(ref, npartitions=4).persist()
        dcur = dd.from_pandas(cur, npartitions=3).persist()
        report = detect_drift(dref, dcur)
        exact = detect_drift(dref, cur, exact=True)
    assert isinstance(report, DriftReport)
    same_flags(report, memory)
    same_flags(exact, memory)
    for name in ("city", "label", "few", "ties"):
        assert close(report.columns[name].statistic, memory.columns[name].statistic), name
    for name, col in exact.columns.items():
        assert close(col.statistic, memory.columns[name].statistic), name
    assert "sketch: score in" in report.columns["normal"].note
    assert report.columns["text"].column_type == "text"
