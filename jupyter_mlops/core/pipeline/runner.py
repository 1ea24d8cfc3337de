"""Notebooks as pipelines: run a notebook headless under one parent MLflow run, then gate it.

Parameters are injected after the cell tagged ``parameters`` (papermill's convention);
nbclient executes the cells in a real kernel whose environment names the parent run, the
notebook and the experiment, so every ``%%track`` cell becomes a child run.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_mlops.core import git
from jupyter_mlops.core.contracts import (
    ART_NOTEBOOK_DIR,
    ENV_NOTEBOOK_PATH,
    ENV_PARENT_RUN_ID,
    ENV_TRACKING_URI,
    EXIT_GATE_FAILED,
    EXIT_NOTEBOOK_FAILED,
    EXIT_OK,
    SOURCE_TYPE_NOTEBOOK,
    TAG_GIT_COMMIT,
    TAG_PIPELINE_RUN_ID,
    TAG_SOURCE_NAME,
    TAG_SOURCE_TYPE,
    TAG_USER,
)
from jupyter_mlops.core.errors import MlopsError, TrackingUnavailable
from jupyter_mlops.core.pipeline.gates import Gate, GateResult, evaluate_gates, parse_gates
from jupyter_mlops.core.pipeline.kernel import (
    CellCallback,
    CellFailure,
    Silent,
    check_kernel,
    execute,
    read_notebook,
)
from jupyter_mlops.core.pipeline.parameters import inject_parameters, notebook_experiment
from jupyter_mlops.core.store import (
    current_user,
    ensure_experiment,
    get_client,
    project_root,
    resolve_tracking_uri,
    sqlite_path,
)
from jupyter_mlops.core.tracking.capture import param_text
from jupyter_mlops.core.tracking.secrets import mask_files, mask_values
from jupyter_mlops.core.tracking.writer import MAX_PARAM_VALUE, clip

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient
    from nbformat import NotebookNode

# The experiment ``jupyter mlops run`` chose; ``%mlops_experiment`` in the kernel yields to it.
from jupyter_mlops.core.contracts import ENV_EXPERIMENT

DEFAULT_EXPERIMENT = "Default"


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
        """DESIGN.md's exit status: 2 notebook raised, 1 a gate failed, else 0."""
        if self.failure is not None:
            return EXIT_NOTEBOOK_FAILED
        if any(not g.passed for g in self.gates):
            return EXIT_GATE_FAILED
        return EXIT_OK


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
    """Execute a notebook as one parent MLflow run, log it, and check the gates."""
    notebook_file = Path(path).resolve()
    gate_list = parse_gates(gates, model)
    nb = read_notebook(notebook_file)
    params = dict(parameters or {})
    nb = inject_parameters(nb, params)
    uri = absolute_uri(resolve_tracking_uri(tracking_uri, start=notebook_file.parent))
    source_name = _source_name(notebook_file)
    exp_name = experiment or notebook_experiment(nb) or os.environ.get("MLFLOW_EXPERIMENT_NAME")
    exp_name = exp_name or DEFAULT_EXPERIMENT
    check_kernel(nb, kernel_name)
    spec = ParentSpec(uri, exp_name, str(notebook_file), source_name, params, run_name)
    # The parent run is made in the kernel, which imports MLflow for the tracked cells anyway;
    # this process needs MLflow and nbconvert's HTML only afterwards: both load meanwhile.
    mlflow_ready = _background(_import_mlflow)
    html_ready = _background(_warm_html_exporter)
    env = kernel_environment(uri, source_name, exp_name)
    opened: dict[str, str] = {}
    client_ready: list[Future[MlflowClient]] = []

    async def before_cells(silent: Silent) -> None:
        opened["run_id"] = await _open_parent(silent, spec)
        client_ready.append(_background(get_client, uri))  # the store exists now

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
            opened["run_id"] = _start_parent(spec).run_id
        mlflow_ready.result()
        client = client_ready[0].result() if client_ready else get_client(uri)
        run_id = opened["run_id"]
        html_ready.result()
        experiment_id = client.get_run(run_id).info.experiment_id
        result = PipelineResult(run_id, experiment_id, uri, source_name, params, failure=failure)
        result.output_path = _save_outputs(client, run_id, nb, notebook_file.stem, output)
        status = "FINISHED" if failure is None else "FAILED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        if "run_id" in opened:
            get_client(uri).set_terminated(opened["run_id"], status)
    if result.failure is None:
        result.gates = _gate(client, run_id, gate_list, model)
    return result


def _gate(
    client: MlflowClient, run_id: str, gates: list[Gate], model: str | None
) -> list[GateResult]:
    from mlflow.exceptions import MlflowException

    try:
        return evaluate_gates(client, run_id, gates, model)
    except MlflowException as exc:
        raise MlopsError(f"could not read the metrics of run {run_id}: {exc.message}") from exc


@dataclass
class ParentSpec:
    """What the parent run is made of; JSON so the kernel can create it."""

    uri: str
    experiment: str
    notebook_file: str
    source_name: str
    params: dict[str, Any]
    run_name: str | None

    def to_json(self) -> str:
        """The spec as JSON (values JSON cannot hold become their text)."""
        return json.dumps(self.__dict__, default=str)


def open_parent_in_kernel(spec_json: str) -> None:
    """Kernel side of ``run_notebook``: create the parent run and name it in ``os.environ``."""
    started = _start_parent(ParentSpec(**json.loads(spec_json)))
    os.environ.update(started.kernel_settings())


async def _open_parent(silent: Silent, spec: ParentSpec) -> str:
    """The parent run's id: made in the kernel when it has jupyter_mlops, else made here."""
    module = __name__
    code = f"__import__({module!r}, fromlist=['_']).open_parent_in_kernel({spec.to_json()!r})"
    shown = await silent(code, {"run": f"__import__('os').environ.get({ENV_PARENT_RUN_ID!r})"})
    if shown and shown.get("run") not in (None, "", "None"):
        return str(ast.literal_eval(shown["run"]))
    started = await asyncio.get_running_loop().run_in_executor(None, _start_parent, spec)
    settings = json.dumps(started.kernel_settings())
    if await silent(f"__import__('os').environ.update({settings})", {}) is None:
        raise MlopsError(f"could not tell the kernel its parent run {started.run_id}")
    return started.run_id


def _import_mlflow() -> None:
    import mlflow.tracking  # noqa: F401


def _background(function: Callable[..., Any], *args: Any) -> Future[Any]:
    """Run ``function(*args)`` in a daemon-free worker thread; the future holds its outcome."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jupyter-mlops-pipeline")
    future = pool.submit(function, *args)
    pool.shutdown(wait=False)
    return future


@dataclass
class StartedRun:
    """The parent run once MLflow has created it."""

    client: MlflowClient
    run_id: str
    experiment_id: str

    def kernel_settings(self) -> dict[str, str]:
        """What the kernel learns once the run exists: the parent run and experiment ids."""
        return {ENV_PARENT_RUN_ID: self.run_id, "MLFLOW_EXPERIMENT_ID": self.experiment_id}


def absolute_uri(uri: str) -> str:
    """A relative ``sqlite:///`` URI made absolute: the kernel (another cwd) opens the same file."""
    db = sqlite_path(uri)
    if db is None or db.is_absolute():
        return uri
    return f"sqlite:///{db.resolve()}"


def browse_hint(uri: str) -> str:
    """How to look at the runs of ``uri``: an ``mlflow ui`` command or the server's address."""
    if uri.startswith(("http://", "https://")):
        return f"browse the runs at {uri}"
    return f"browse the runs: mlflow ui --backend-store-uri {uri}"


def kernel_environment(uri: str, source_name: str, experiment: str) -> dict[str, str]:
    """The kernel's start environment: our contract variables and MLflow's experiment name."""
    env = dict(os.environ)
    env.pop(ENV_PARENT_RUN_ID, None)  # set from the new run before the first cell
    env.update(
        {
            ENV_TRACKING_URI: uri,
            ENV_NOTEBOOK_PATH: source_name,
            ENV_EXPERIMENT: experiment,
            "MLFLOW_EXPERIMENT_NAME": experiment,
        }
    )
    return env


def _source_name(notebook_file: Path) -> str:
    root = project_root(notebook_file.parent)
    try:
        return notebook_file.relative_to(root).as_posix()
    except ValueError:
        return notebook_file.as_posix()


def _start_parent(spec: ParentSpec) -> StartedRun:
    """Create the pipeline's parent run (tags, params) in the spec's experiment."""
    from mlflow.entities import Param
    from mlflow.exceptions import MlflowException

    uri, notebook_file = spec.uri, Path(spec.notebook_file)
    client = get_client(uri)
    experiment_id = ensure_experiment(client, spec.experiment, uri)
    tags = {
        TAG_SOURCE_NAME: spec.source_name,
        TAG_SOURCE_TYPE: SOURCE_TYPE_NOTEBOOK,
        TAG_USER: current_user(),
    }
    commit = git.head_commit(notebook_file.parent)
    if commit:
        tags[TAG_GIT_COMMIT] = commit
    try:
        name = spec.run_name or notebook_file.stem
        run = client.create_run(experiment_id, tags=tags, run_name=name)
        run_id = run.info.run_id
        client.set_tag(run_id, TAG_PIPELINE_RUN_ID, run_id)
        if spec.params:
            texts = mask_values({k: param_text(v) for k, v in spec.params.items()})
            params = [Param(k, clip(v, MAX_PARAM_VALUE)[0]) for k, v in texts.items()]
            client.log_batch(run_id, params=params)
    except MlflowException as exc:
        raise TrackingUnavailable(
            f"could not create the pipeline run in {uri}: {exc.message}"
        ) from exc
    return StartedRun(client, run_id, experiment_id)


def _warm_html_exporter() -> None:
    """Import nbconvert's HTML exporter and load its templates (a first render is slow)."""
    import nbformat
    from nbconvert import HTMLExporter

    try:
        HTMLExporter().from_notebook_node(nbformat.v4.new_notebook())
    except Exception:  # best effort: the real rendering reports any problem
        return


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def static_copy(nb: NotebookNode) -> NotebookNode:
    """``nb`` without live widget views where a static summary travels beside them.

    An HTML page has no kernel and, offline, no widget JavaScript: it would show blank
    outputs. Our widgets carry ``text/html``, which the page then shows instead.
    """
    import copy

    static = copy.deepcopy(nb)
    static.metadata.pop("widgets", None)
    for cell in static.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data and ("text/html" in data or "text/plain" in data):
                del data[WIDGET_VIEW]
    return static


def _render_html(nb: NotebookNode) -> str:
    from nbconvert import HTMLExporter

    try:
        return HTMLExporter().from_notebook_node(static_copy(nb))[0]
    except Exception as exc:  # templates missing, a broken output: one line, not a traceback
        raise MlopsError(f"could not render the executed notebook as HTML: {exc}") from exc


def _save_outputs(
    client: MlflowClient,
    run_id: str,
    nb: NotebookNode,
    name: str,
    output: str | os.PathLike[str] | None,
) -> Path | None:
    """Write ``-o`` and log the executed notebook + its HTML as ``notebook/<name>.*``."""
    import nbformat

    written = None
    if output is not None:
        written = Path(output)
        written.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, written)
    with tempfile.TemporaryDirectory(prefix="jupyter-mlops-") as tmp:
        files = [Path(tmp) / f"{name}.ipynb"]
        nbformat.write(nb, files[0])
        try:
            html = _render_html(nb)
            files.append(Path(tmp) / f"{name}.html")
            files[1].write_text(html, encoding="utf-8")
        finally:  # the executed notebook is logged even when its HTML cannot be rendered
            _log_files(client, run_id, files)
    return written


def _log_files(client: MlflowClient, run_id: str, files: list[Path]) -> None:
    try:
        mask_files(files)
        for file in files:
            client.log_artifact(run_id, str(file), ART_NOTEBOOK_DIR)
    except Exception as exc:  # artifact stores raise many types (OSError, MlflowException, boto)
        raise MlopsError(f"could not log the executed notebook to run {run_id}: {exc}") from exc
