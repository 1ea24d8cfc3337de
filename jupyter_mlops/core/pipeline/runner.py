"""Notebooks as pipelines: run a notebook headless under one parent MLflow run, then gate it.

Parameters are injected after the cell tagged ``parameters`` (papermill's convention);
nbclient executes the cells in a real kernel whose environment names the parent run, the
notebook and the experiment, so every ``%%track`` cell becomes a child run. The parts live
beside this module: ``kernel`` (nbclient), ``parameters``, ``parent_run``, ``outputs``, ``gates``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_mlops.core.active import validate_experiment_name
from jupyter_mlops.core.contracts import EXIT_GATE_FAILED, EXIT_NOTEBOOK_FAILED, EXIT_OK
from jupyter_mlops.core.errors import UsageProblem
from jupyter_mlops.core.notebook_file import read_notebook
from jupyter_mlops.core.pipeline.gates import GateResult, evaluate_run, parse_gates
from jupyter_mlops.core.pipeline.kernel import (
    CellCallback,
    CellFailure,
    Silent,
    check_kernel,
    execute,
)
from jupyter_mlops.core.pipeline.outputs import check_output_path, save_outputs, warm_html_exporter
from jupyter_mlops.core.pipeline.parameters import inject_parameters, notebook_experiment
from jupyter_mlops.core.pipeline.parent_run import (
    ParentSpec,
    absolute_uri,
    kernel_environment,
    open_parent,
    source_name,
    start_parent,
)
from jupyter_mlops.core.store import get_client, resolve_tracking_uri

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

__all__ = ["DEFAULT_EXPERIMENT", "PipelineResult", "inject_parameters", "run_notebook"]

from jupyter_mlops.core.contracts import DEFAULT_EXPERIMENT


@dataclass
class PipelineResult:
    """What one ``jupyter mlops run`` produced."""

    run_id: str
    experiment_id: str
    tracking_uri: str
    notebook: str
    parameters: dict[str, Any]
    output_path: Path | None = None
    failure: CellFailure | None = None
    gates: list[GateResult] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """The CLI's exit status: 2 the notebook raised, 1 a gate failed, else 0."""
        if self.failure is not None:
            return EXIT_NOTEBOOK_FAILED
        if any(not g.passed for g in self.gates):
            return EXIT_GATE_FAILED
        return EXIT_OK


def check_run_options(
    experiment: str | None,
    timeout: float | None,
    run_name: str | None,
    kernel_name: str | None,
) -> None:
    """UsageProblem for an option given but unusable (an empty name, a timeout <= 0)."""
    if experiment is not None:
        validate_experiment_name(experiment)
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise UsageProblem(f"timeout must be a positive number of seconds, not {timeout!r}")
    if run_name is not None and not run_name.strip():
        raise UsageProblem("run name is empty")
    if kernel_name is not None and not kernel_name.strip():
        raise UsageProblem("kernel name is empty")


def run_notebook(
    path: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    *,
    experiment: str | None = None,
    gates: Iterable[str] = (),
    model: str | None = None,
    output: str | os.PathLike[str] | None = None,
    tracking_uri: str | None = None,
    run_name: str | None = None,
    timeout: float | None = None,
    kernel_name: str | None = None,
    on_cell: CellCallback | None = None,
) -> PipelineResult:
    """Execute a notebook as one parent MLflow run, log it, and check the gates.

    Every input is checked before the kernel starts (UsageProblem); an unreachable store is
    TrackingUnavailable; a notebook that raises is ``result.failure``, not an exception.
    """
    check_run_options(experiment, timeout, run_name, kernel_name)
    notebook_file = Path(path).resolve()
    gate_list = parse_gates(gates, model)
    if output is not None:
        check_output_path(output)
    nb = read_notebook(notebook_file)
    params = dict(parameters or {})
    nb = inject_parameters(nb, params)
    uri = absolute_uri(resolve_tracking_uri(tracking_uri, start=notebook_file.parent))
    source = source_name(notebook_file)
    exp_name = experiment or notebook_experiment(nb) or os.environ.get("MLFLOW_EXPERIMENT_NAME")
    exp_name = exp_name or DEFAULT_EXPERIMENT
    check_kernel(nb, kernel_name)
    spec = ParentSpec(uri, exp_name, str(notebook_file), source, params, run_name)
    # The parent run is made in the kernel, which imports MLflow for the tracked cells anyway;
    # this process opens its client (checking the URI) and loads nbconvert's HTML meanwhile.
    client_ready: Future[MlflowClient] = _background(get_client, uri)
    html_ready = _background(warm_html_exporter)
    env = kernel_environment(uri, source, exp_name)
    opened: dict[str, str] = {}

    async def before_cells(silent: Silent) -> None:
        # a URI MLflow cannot use fails in the kernel, then here: UsageProblem before any cell
        opened["run_id"] = await open_parent(silent, spec)

    status = "FAILED"
    try:
        failure = execute(
            nb,
            notebook_file.parent,
            env,
            timeout=timeout,
            kernel_name=kernel_name,
            on_cell=on_cell,
            before_cells=before_cells,
        )
        if "run_id" not in opened:  # a notebook without code cells
            opened["run_id"] = start_parent(spec).run_id
        client = client_ready.result()
        run_id = opened["run_id"]
        html_ready.result()
        experiment_id = client.get_run(run_id).info.experiment_id
        result = PipelineResult(run_id, experiment_id, uri, source, params, failure=failure)
        result.output_path = save_outputs(client, run_id, nb, notebook_file.stem, output)
        status = "FINISHED" if failure is None else "FAILED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        if "run_id" in opened:
            get_client(uri).set_terminated(opened["run_id"], status)
    if result.failure is None:
        from jupyter_mlops.core.tracking.journal import deliver_pending

        deliver_pending(uri)  # the kernel's tracked cells may still wait in the journal
        result.gates = evaluate_run(client, run_id, gate_list, model)
    return result


def _background(function: Callable[..., Any], *args: Any) -> Future[Any]:
    """Run ``function(*args)`` in a daemon-free worker thread; the future holds its outcome."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jupyter-mlops-pipeline")
    future = pool.submit(function, *args)
    pool.shutdown(wait=False)
    return future
