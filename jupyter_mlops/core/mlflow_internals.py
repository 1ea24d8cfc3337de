"""Every use of MLflow beyond its public API, each with why; checked against MLflow 3.17.2.

If MLflow changes one of these, this is the one module to mend: each function degrades to the
public-API behaviour (or None) when the internal is gone, and its callers handle that.
One dependency lives elsewhere by design: ``runs/sqlite_fast.py`` reads MLflow's sqlite schema
directly (read-only, falling back to MLflow's search for anything it does not mirror).
"""

from __future__ import annotations

from typing import Any

CHECKED_AGAINST = "3.17.2"


def autolog_config(flavor: str) -> dict | None:
    """The live settings dict of an installed autolog integration (``disable`` flag inside).

    Why: flipping ``disable`` switches autologging per cell in microseconds, where
    ``mlflow.<flavor>.autolog(disable=...)`` re-patches the library (hundreds of ms).
    """
    try:
        from mlflow.utils.autologging_utils import AUTOLOGGING_INTEGRATIONS
    except ImportError:
        return None
    config = AUTOLOGGING_INTEGRATIONS.get(flavor)
    return config if isinstance(config, dict) and "disable" in config else None


def log_artifacts_to(artifact_uri: str, tracking_uri: str, folder: str) -> None:
    """Upload ``folder`` straight to a run's artifact location.

    Why: ``MlflowClient.log_artifacts`` reads the run back first to learn that location (one
    more round trip per tracked cell); we know it from when the run was created.
    """
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
    from mlflow.utils.uri import add_databricks_profile_info_to_artifact_uri

    uri = add_databricks_profile_info_to_artifact_uri(artifact_uri, tracking_uri)
    repo = get_artifact_repository(uri, tracking_uri=tracking_uri)
    if not tracking_uri.startswith(("http://", "https://")):
        repo.log_artifacts(folder)
        return
    # Against a server each file is one request: send them together, not one after another.
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    files = [p for p in Path(folder).rglob("*") if p.is_file()]
    with ThreadPoolExecutor(max_workers=8) as pool:
        jobs = []
        for path in files:
            rel = path.parent.relative_to(folder).as_posix()
            jobs.append(pool.submit(repo.log_artifact, str(path), None if rel == "." else rel))
        for job in jobs:
            job.result()


def leave_active_run() -> None:
    """Take the active fluent run off this thread's stack without ending it on the server.

    Why: a live tracked run stays RUNNING until the journal's worker has written its record and
    set its final status (with the cell's own end time); ``mlflow.end_run`` would mark it
    finished at once, half-written. Falls back to ``end_run`` if the stack is gone.
    """
    try:
        from mlflow.environment_variables import MLFLOW_RUN_ID
        from mlflow.tracking import fluent

        stack = fluent._active_run_stack.get()
    except (ImportError, AttributeError):
        import mlflow

        mlflow.end_run()
        return
    if stack:
        MLFLOW_RUN_ID.unset()
        run = stack.pop()
        fluent._last_active_run_id.set(run.info.run_id)
        monitor = fluent.run_id_to_system_metrics_monitor.pop(run.info.run_id, None)
        if monitor is not None:
            monitor.finish()


def parse_search_filter(filter_string: str) -> list[dict[str, Any]]:
    """MLflow's own parse of a run filter (raises ``MlflowException`` on bad input).

    Why: the sqlite fast path must accept and reject exactly what ``search_runs`` does.
    """
    from mlflow.utils.search_utils import SearchUtils

    return SearchUtils.parse_search_filter(filter_string)


def parse_order_by(order_by: str) -> tuple[str, str, bool]:
    """``(key type, key, ascending)`` of one ``order_by`` clause, key aliases translated.

    Why: as ``parse_search_filter``, for the fast path's ORDER BY.
    """
    from mlflow.utils.search_utils import SearchUtils

    key_type, key, ascending = SearchUtils.parse_order_by_for_search_runs(order_by)
    return key_type, SearchUtils.translate_key_alias(key), ascending


def translate_key_alias(key: str) -> str:
    """MLflow's attribute-name aliases (``run_id`` -> ``run_uuid``...). Why: as above."""
    from mlflow.utils.search_utils import SearchUtils

    return SearchUtils.translate_key_alias(key)


def active_experiment_id() -> str | None:
    """The experiment ``mlflow.set_experiment`` chose in this process, if any.

    Why: MLflow has no public getter that does not create the Default experiment as a side effect.
    """
    from mlflow.tracking import fluent

    value = getattr(fluent, "_active_experiment_id", None)
    return str(value) if value else None


def scoring_app(model: Any) -> Any:
    """MLflow's own scoring app (``/invocations``, ``/ping``, ``/version``) over a loaded model.

    Why: serving must answer exactly as ``mlflow models serve`` does (input parsing, schema
    enforcement, error bodies); MLflow builds that app in ``pyfunc.scoring_server`` only.
    """
    from mlflow.pyfunc import scoring_server

    return scoring_server.init(model)


def score(body: bytes | str, content_type: str, model: Any, input_schema: Any) -> Any:
    """One ``/invocations`` call answered by MLflow's scoring code, outside any web server.

    Why: the shadow challenger must parse and predict exactly as the served champion does.
    """
    from mlflow.pyfunc.scoring_server import invocations

    return invocations(body, content_type, model, input_schema)


def parse_scoring_input(payload: dict, input_schema: Any) -> Any:
    """The model input MLflow's scoring server makes of a JSON request body.

    Why: monitoring on served traffic must see the same frame the model saw.
    """
    from mlflow.pyfunc.scoring_server import infer_and_parse_data

    return infer_and_parse_data(payload, input_schema)
