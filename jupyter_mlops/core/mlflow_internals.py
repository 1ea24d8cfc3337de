"""Every use of MLflow beyond its public API, each with why; checked against MLflow 3.17.2.

If MLflow changes one of these, this is the one module to mend: each function degrades to the
public-API behaviour (or None) when the internal is gone, and its callers handle that.
One dependency lives elsewhere by design: ``runs/sql_runs.py`` reads MLflow's tables (sqlite,
PostgreSQL) directly (read-only, falling back to MLflow's search for anything it does not mirror).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
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


def artifact_repository(artifact_uri: str, tracking_uri: str) -> Any:
    """The artifact repository of a run's artifact location.

    Why: ``MlflowClient.log_artifacts`` reads the run back first to learn that location (one
    more round trip per tracked cell); we know it from when the run was created. And large
    files need the repository itself (``multipart_upload``).
    """
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
    from mlflow.utils.uri import add_databricks_profile_info_to_artifact_uri

    uri = add_databricks_profile_info_to_artifact_uri(artifact_uri, tracking_uri)
    return get_artifact_repository(uri, tracking_uri=tracking_uri)


def multipart_upload(
    repo: Any, local_file: str, artifact_dir: str | None, on_bytes: Callable[[int], None]
) -> bool:
    """Upload one file in parts through a proxying tracking server; False when it cannot.

    Why: MLflow's own proxied multipart (``MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD``) draws a tqdm
    bar per file (a widget in a kernel) and is all-or-nothing per process. Here the server's
    object store hands out one presigned URL per part, the parts go straight to it, and the
    object only exists once ``complete`` succeeds: an interrupted upload is aborted (or left
    incomplete, invisible) and never listed half-written. False for a repository that is not
    a proxy or a server whose store has no multipart (a local folder): the caller PUTs.
    """
    import math
    import os

    from mlflow.environment_variables import MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE
    from mlflow.exceptions import _UnsupportedMultipartUploadException
    from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository
    from requests import HTTPError

    if not isinstance(repo, HttpArtifactRepository):
        return False
    chunk = MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE.get()
    size = os.path.getsize(local_file)
    try:
        create = repo.create_multipart_upload(
            local_file, max(1, math.ceil(size / chunk)), artifact_dir
        )
    except HTTPError as exc:
        try:
            message = exc.response.json().get("message", "")
        except ValueError:
            message = ""
        if str(message).startswith(_UnsupportedMultipartUploadException.MESSAGE):
            return False
        raise
    try:
        parts = []
        for index, credential in enumerate(create.credentials):
            parts.append(repo._upload_part(credential, local_file, chunk, chunk * index))
            on_bytes(min(size, chunk * (index + 1)))
        repo.complete_multipart_upload(local_file, create.upload_id, parts, artifact_dir)
    except BaseException:
        with contextlib.suppress(Exception):
            repo.abort_multipart_upload(local_file, create.upload_id, artifact_dir)
        raise
    return True


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


@contextlib.contextmanager
def active_experiment(experiment_id: str) -> Iterator[None]:
    """``mlflow.set_experiment``'s choice set to ``experiment_id`` for the block, then restored.

    Why: ``mlflow.start_run(run_id=...)`` refuses a run outside the experiment the user chose
    with ``set_experiment``; reopening our own run (``--continue``) must neither depend on that
    choice nor change it, and MLflow has no public way to start a run without it.
    """
    from mlflow.tracking import fluent

    before = getattr(fluent, "_active_experiment_id", None)
    fluent._active_experiment_id = experiment_id
    try:
        yield
    finally:
        fluent._active_experiment_id = before


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


def auth_api(uri: str, method: str, endpoint: str, **kwargs: Any) -> tuple[int, Any]:
    """One call to the basic-auth app's REST API with the client's own credentials: status and
    parsed JSON body (None when the body is not JSON).

    Why: ``AuthServiceClient`` imports the whole auth server (Flask, ~2-5 s) into a kernel and
    has no "current user" call; ``http_request`` with ``get_default_host_creds`` sends exactly
    what MLflow's client sends (``MLFLOW_TRACKING_USERNAME``/``PASSWORD``, ``~/.mlflow/
    credentials``, ``MLFLOW_TRACKING_TOKEN``) with the HTTP bounds already in force.
    """
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    response = http_request(get_default_host_creds(uri), endpoint, method, **kwargs)
    try:
        body = response.json()
    except ValueError:
        body = None
    return response.status_code, body
