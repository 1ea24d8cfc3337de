"""Logging a drift report to MLflow: the running tracked run, else the latest, else a new run."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from jupyter_mlops.core import contracts as c
from jupyter_mlops.core.errors import TrackingUnavailable, UsageProblem
from jupyter_mlops.core.monitoring.drift import DriftReport

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient


def target_run_id(client: MlflowClient) -> str | None:
    """The run a drift report belongs to (``active.choose_run``'s rule), None for a new run."""
    from jupyter_mlops.core import active
    from jupyter_mlops.core.tracking.context import notebook_path

    return active.choose_run(client, None, notebook_path())


def log_drift_report(
    report: DriftReport,
    run_id: str | None = None,
    client: MlflowClient | None = None,
    new_run: bool = False,
) -> str:
    """Write ``drift/report.json`` and the report's metrics to a run; return its id.

    The run is ``run_id`` when given, else the tracked run executing now, else the most recent
    tracked run (of this notebook when known), else a new run in experiment ``drift``.
    """
    from mlflow.entities import Metric
    from mlflow.exceptions import MlflowException

    from jupyter_mlops.core.store import ensure_experiment, get_client
    from jupyter_mlops.core.tracking.record import now_ms

    try:
        client = client or get_client()
        target = run_id or (None if new_run else target_run_id(client))
        if target is None:
            exp_id = ensure_experiment(client, c.DRIFT_EXPERIMENT)
            run = client.create_run(exp_id, run_name="drift-report")
            target = run.info.run_id
            client.set_terminated(target, "FINISHED")
        stamp = now_ms()
        metrics = [Metric(k, v, stamp, 0) for k, v in report.metrics().items()]
        client.log_batch(target, metrics=metrics)
        client.log_text(target, json.dumps(report.to_dict(), indent=1), c.ART_DRIFT_REPORT)
    except MlflowException as exc:
        if "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")):
            raise UsageProblem(f"unknown run id {run_id!r}") from exc
        raise TrackingUnavailable(f"cannot log the drift report: {exc}") from exc
    return target
