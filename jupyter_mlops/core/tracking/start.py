"""Starting a tracked cell: check its options, compute its start tags, open its MLflow run."""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from pathlib import Path

from jupyter_mlops.core import active, store
from jupyter_mlops.core import contracts as c
from jupyter_mlops.core.errors import TrackingUnavailable, UsageProblem
from jupyter_mlops.core.tracking import context, secrets
from jupyter_mlops.core.tracking.record import now_ms
from jupyter_mlops.core.tracking.runstate import STATE, RunState


def check_options(run: RunState) -> None:
    """Refuse, before the cell runs, what could only fail after it (one ``UsageProblem``)."""
    active.validate_experiment_name(run.record.experiment_name)
    if run.options.continue_run and STATE.last_run is None:
        raise UsageProblem("--continue: no previous tracked run in this kernel")
    root = store.project_root(str(run.cwd))
    for name in run.options.artifacts:
        path = run.cwd / name
        if not path.exists():
            raise UsageProblem(f"--artifact: no such file: {name}")
        if not _inside(path.resolve(), root):
            raise UsageProblem(
                f"--artifact: {name} is outside the project {root}; copy it into the project "
                "or log it with mlflow.log_artifact"
            )


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def start_tags(run: RunState) -> dict[str, str]:
    """Tags known before the cell runs: source, cell, user, kernel, pipeline parent, --tag."""
    options = run.options
    notebook = options.notebook
    if notebook is None:
        with contextlib.suppress(Exception):
            notebook = context.notebook_path(run.source)
    tags = {
        c.TAG_SOURCE_TYPE: c.SOURCE_TYPE_NOTEBOOK,
        c.TAG_CELL_HASH: hashlib.sha256(run.source.encode()).hexdigest()[:16],
        c.TAG_USER: store.current_user(),
        c.TAG_HEARTBEAT: str(int(time.time())),
    }
    if notebook:
        tags[c.TAG_SOURCE_NAME] = notebook
        if not options.cell_id:
            book = store.project_root(str(run.cwd)) / notebook
            options.cell_id = context.cell_id_of(book, run.source)
    if options.cell_id:
        tags[c.TAG_CELL_ID] = options.cell_id
    if options.execution_count is not None:
        tags[c.TAG_CELL_EXECUTION_COUNT] = str(options.execution_count)
    with contextlib.suppress(Exception):
        tags.update(context.kernel_identity(options.kernel_connection_file))
    parent = os.environ.get(c.ENV_PARENT_RUN_ID, "").strip()
    if parent and not options.nested:
        tags[c.TAG_PARENT_RUN_ID] = parent
        tags[c.TAG_PIPELINE_RUN_ID] = parent
        run.record.parent_run_id = parent
    tags.update(secrets.mask_values(options.tags))  # written at once by start_run
    return tags


def use_tracking_uri(uri: str) -> None:
    """Point MLflow's fluent API at ``uri`` (in-cell ``mlflow.log_*`` calls land in our run)
    without leaving it in ``MLFLOW_TRACKING_URI``: MLflow exports it there, and the tracking-URI
    rule would then read our value as the user's setting in every later cell."""
    import mlflow

    before = os.environ.get(c.ENV_TRACKING_URI)
    mlflow.set_tracking_uri(uri)
    if before is None:
        os.environ.pop(c.ENV_TRACKING_URI, None)
    else:
        os.environ[c.ENV_TRACKING_URI] = before


def open_run(run: RunState) -> None:
    """Create (or reopen with ``--continue``) the cell's MLflow run as the active run."""
    import mlflow

    try:
        store.prepare_store(run.uri)
        run.client = client = store.get_client(run.uri)
    except UsageProblem as exc:  # a store we cannot open: the cell still runs, untracked
        raise TrackingUnavailable(str(exc)) from exc
    use_tracking_uri(run.uri)
    record, options = run.record, run.options
    parent = record.parent_run_id
    if parent:  # a pipeline's children live in the pipeline run's experiment
        record.experiment_name = client.get_experiment(
            client.get_run(parent).info.experiment_id
        ).name
    running = mlflow.active_run()
    if options.continue_run:
        uri, run_ref = STATE.last_run  # type: ignore[misc]
        if uri != run.uri:
            raise UsageProblem("--continue: the previous run is in another tracking store")
        from jupyter_mlops.core.tracking.delivery import resolve_last_run

        run_id = resolve_last_run(uri, run_ref)
        if running is not None:
            raise UsageProblem("--continue: another MLflow run is active; end it first")
        from jupyter_mlops.core.mlflow_internals import active_experiment

        with active_experiment(client.get_run(run_id).info.experiment_id):
            started = store.retry_locked(lambda: mlflow.start_run(run_id=run_id))
    else:
        if options.nested and running is None:
            raise UsageProblem("--nested: no active MLflow run to nest under")
        if running is not None and not options.nested:
            raise UsageProblem(
                f"an MLflow run ({running.info.run_id}) is already active: use --nested, "
                "or end it with mlflow.end_run()"
            )
        exp_id = store.ensure_experiment(client, record.experiment_name, run.uri)
        tags = dict(record.tags)
        tags.pop(c.TAG_PARENT_RUN_ID, None)  # start_run sets it from parent_run_id
        started = store.retry_locked(
            lambda: mlflow.start_run(
                experiment_id=exp_id,
                run_name=options.run_name,
                tags=tags,
                nested=options.nested,
                parent_run_id=parent or None,
            )
        )
        run.written_tags = tags
    record.run_name = started.info.run_name
    record.run_id = started.info.run_id
    run.artifact_uri = started.info.artifact_uri
    record.start_time_ms = started.info.start_time or now_ms()
