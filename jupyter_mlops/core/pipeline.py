"""Notebooks as pipelines: run a notebook headless under one parent MLflow run, then gate it.

Parameters are injected after the cell tagged ``parameters`` (papermill's convention, through
papermill itself); nbclient executes the cells in a real kernel whose environment names the
parent run, the notebook and the experiment, so every ``%%track`` cell becomes a child run.
"""

from __future__ import annotations

import ast
import getpass
import os
import re
import shlex
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from jupyter_mlops.core.errors import MlopsError, TrackingUnavailable, UsageProblem
from jupyter_mlops.core.gates import GateResult, evaluate_gates, parse_gates
from jupyter_mlops.core.store import get_client, project_root, resolve_tracking_uri, sqlite_path

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient
    from nbformat import NotebookNode

# The experiment ``jupyter mlops run`` chose; ``%mlops_experiment`` in the kernel yields to it.
ENV_EXPERIMENT = "JUPYTER_MLOPS_EXPERIMENT"
DEFAULT_EXPERIMENT = "Default"
PARAMETERS_TAG = "parameters"

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EXPERIMENT_MAGIC = re.compile(r"^\s*%mlops_experiment\s+(?P<args>.+?)\s*$", re.MULTILINE)


def parse_value(text: str) -> Any:
    """A ``-p`` value: a Python literal (number, bool, None, list, quoted str) else the raw text."""
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered in {"true", "false"}:
        return lowered == "true"
    if lowered in {"none", "null"}:
        return None
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def parse_parameter(text: str) -> tuple[str, Any]:
    """``NAME=VALUE`` → (name, typed value); UsageProblem for anything else."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not _NAME.match(name):
        raise UsageProblem(
            f"bad parameter {text!r}: expected NAME=VALUE with NAME a Python identifier"
        )
    return name, parse_value(value)


def load_parameter_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parameters from a YAML (or JSON) mapping file; UsageProblem when missing or not a mapping."""
    import yaml

    file = Path(path)
    if not file.is_file():
        raise UsageProblem(f"parameter file not found: {file}")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UsageProblem(f"parameter file {file} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) and _NAME.match(k) for k in data):
        raise UsageProblem(f"parameter file {file} must be a mapping of NAME: VALUE")
    return data


def collect_parameters(
    pairs: Iterable[str] = (), files: Iterable[str | os.PathLike[str]] = ()
) -> dict[str, Any]:
    """Merge ``-f`` files (in order) then ``-p NAME=VALUE`` pairs, later ones winning."""
    merged: dict[str, Any] = {}
    for file in files:
        merged.update(load_parameter_file(file))
    for pair in pairs:
        name, value = parse_parameter(pair)
        merged[name] = value
    return merged


def read_notebook(path: str | os.PathLike[str]) -> NotebookNode:
    """Read an .ipynb file; UsageProblem when it is missing or not a notebook."""
    import nbformat

    file = Path(path)
    if not file.is_file():
        raise UsageProblem(f"notebook not found: {file}")
    try:
        return nbformat.read(file, as_version=4)
    except Exception as exc:  # nbformat raises several unrelated types for a bad file
        raise UsageProblem(f"{file} is not a readable notebook: {exc}") from exc


def inject_parameters(nb: NotebookNode, parameters: Mapping[str, Any]) -> NotebookNode:
    """papermill's injection: an ``injected-parameters`` cell after the ``parameters`` cell."""
    if not parameters:
        return nb
    from papermill.parameterize import parameterize_notebook

    nb.metadata.setdefault("papermill", {})
    untagged = [c for c in nb.cells if "tags" not in c.metadata]
    for cell in untagged:  # papermill reads ``cell.metadata.tags`` of every cell
        cell.metadata["tags"] = []
    nb = parameterize_notebook(nb, dict(parameters))
    for cell in untagged:
        if not cell.metadata.get("tags"):
            cell.metadata.pop("tags", None)
    return nb


def notebook_experiment(nb: NotebookNode) -> str | None:
    """The experiment named by the notebook's first ``%mlops_experiment NAME`` line, if any."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for match in _EXPERIMENT_MAGIC.finditer(cell.source):
            try:
                words = shlex.split(match["args"], comments=True)
            except ValueError:
                continue
            names = [w for w in words if not w.startswith("-")]
            if names:
                return names[0]
    return None


@dataclass
class CellFailure:
    """Where and how the notebook raised."""

    cell_index: int  # position in the executed notebook (0-based)
    cell_id: str | None
    first_line: str
    ename: str
    evalue: str

    def describe(self) -> str:
        """One line naming the cell and the error."""
        ident = f" (id {self.cell_id})" if self.cell_id else ""
        where = f"cell {self.cell_index + 1}{ident}"
        if self.first_line:
            where += f" `{self.first_line}`"
        return f"notebook raised in {where}: {self.ename}: {self.evalue}".rstrip(": ")


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


CellCallback = Callable[[int, int], None]  # (code cells done, code cells in total)


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
    client = get_client(uri)
    source_name = _source_name(notebook_file)
    exp_name = experiment or notebook_experiment(nb) or os.environ.get("MLFLOW_EXPERIMENT_NAME")
    exp_name = exp_name or DEFAULT_EXPERIMENT
    experiment_id = ensure_experiment(client, exp_name, uri)
    run_id = _start_parent(client, experiment_id, notebook_file, source_name, params, run_name)
    result = PipelineResult(run_id, experiment_id, uri, source_name, params)
    env = kernel_environment(uri, run_id, source_name, exp_name, experiment_id)
    status = "FAILED"
    try:
        result.failure = execute(
            nb, notebook_file.parent, env, timeout=timeout, kernel_name=kernel_name, on_cell=on_cell
        )
        result.output_path = _save_outputs(client, run_id, nb, notebook_file.stem, output)
        status = "FINISHED" if result.failure is None else "FAILED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        client.set_terminated(run_id, status)
    if result.failure is None:
        result.gates = evaluate_gates(client, run_id, gate_list, model)
    return result


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


def kernel_environment(
    uri: str, run_id: str, source_name: str, experiment: str, experiment_id: str
) -> dict[str, str]:
    """The kernel's environment: our contract variables plus MLflow's own experiment settings."""
    env = dict(os.environ)
    env.update(
        {
            ENV_TRACKING_URI: uri,
            ENV_PARENT_RUN_ID: run_id,
            ENV_NOTEBOOK_PATH: source_name,
            ENV_EXPERIMENT: experiment,
            "MLFLOW_EXPERIMENT_NAME": experiment,
            "MLFLOW_EXPERIMENT_ID": experiment_id,
        }
    )
    return env


def execute(
    nb: NotebookNode,
    cwd: Path,
    env: Mapping[str, str],
    *,
    timeout: float | None = None,
    kernel_name: str | None = None,
    on_cell: CellCallback | None = None,
) -> CellFailure | None:
    """Run every cell with nbclient in ``cwd``; the failure (cell + error) or None."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellControlSignal, CellExecutionError, DeadKernelError

    total = sum(1 for c in nb.cells if c.cell_type == "code" and c.source.strip())
    state = {"index": 0, "done": 0}

    def started(cell: Any, cell_index: int) -> None:
        state["index"] = cell_index

    def executed(cell: Any, cell_index: int, execute_reply: Any) -> None:
        state["done"] += 1
        if on_cell is not None:
            on_cell(state["done"], total)

    options: dict[str, Any] = {"timeout": timeout, "resources": {"metadata": {"path": str(cwd)}}}
    if kernel_name:
        options["kernel_name"] = kernel_name
    client = NotebookClient(nb, on_cell_start=started, on_cell_executed=executed, **options)
    try:
        client.execute(env=dict(env))
    except CellExecutionError as exc:
        return _failure(nb, state["index"], exc.ename, exc.evalue)
    except DeadKernelError as exc:
        return _failure(nb, state["index"], "DeadKernelError", str(exc) or "the kernel died")
    except CellControlSignal as exc:  # CellTimeoutError
        return _failure(nb, state["index"], type(exc).__name__, str(exc).splitlines()[0])
    return None


def _failure(nb: NotebookNode, index: int, ename: str, evalue: str) -> CellFailure:
    cell = nb.cells[index] if 0 <= index < len(nb.cells) else None
    source = cell.source if cell is not None else ""
    first = next((line.strip() for line in source.splitlines() if line.strip()), "")
    if len(first) > 60:
        first = first[:57] + "..."
    evalue = " ".join(str(evalue).split())
    return CellFailure(index, cell.get("id") if cell is not None else None, first, ename, evalue)


def ensure_experiment(client: MlflowClient, name: str, uri: str) -> str:
    """Id of the experiment ``name``; a new one keeps its artifacts beside a sqlite store."""
    from mlflow.exceptions import MlflowException

    try:
        found = client.get_experiment_by_name(name)
        if found is not None:
            if found.lifecycle_stage == "deleted":
                raise UsageProblem(f"experiment {name!r} is deleted; restore it or pick another")
            return str(found.experiment_id)
        location = None
        db = sqlite_path(uri)
        if db is not None:
            slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "experiment"
            location = (db.parent / "mlruns" / f"exp-{slug}").as_uri()
        return str(client.create_experiment(name, artifact_location=location))
    except MlflowException as exc:
        raise TrackingUnavailable(f"experiment {name!r} in {uri}: {exc.message}") from exc


def _source_name(notebook_file: Path) -> str:
    root = project_root(notebook_file.parent)
    try:
        return notebook_file.relative_to(root).as_posix()
    except ValueError:
        return notebook_file.as_posix()


def _git_commit(folder: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--verify", "-q", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _start_parent(
    client: MlflowClient,
    experiment_id: str,
    notebook_file: Path,
    source_name: str,
    params: Mapping[str, Any],
    run_name: str | None,
) -> str:
    from mlflow.entities import Param

    tags = {
        TAG_SOURCE_NAME: source_name,
        TAG_SOURCE_TYPE: SOURCE_TYPE_NOTEBOOK,
        TAG_USER: _user(),
    }
    commit = _git_commit(notebook_file.parent)
    if commit:
        tags[TAG_GIT_COMMIT] = commit
    run = client.create_run(experiment_id, tags=tags, run_name=run_name or notebook_file.stem)
    run_id = run.info.run_id
    client.set_tag(run_id, TAG_PIPELINE_RUN_ID, run_id)
    if params:
        client.log_batch(run_id, params=[Param(k, _param_text(v)) for k, v in params.items()])
    return run_id


def _param_text(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 6000 else text[:5997] + "..."


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _save_outputs(
    client: MlflowClient,
    run_id: str,
    nb: NotebookNode,
    name: str,
    output: str | os.PathLike[str] | None,
) -> Path | None:
    """Write ``-o`` and log the executed notebook + its HTML as ``notebook/<name>.*``."""
    import nbformat
    from nbconvert import HTMLExporter

    written = None
    if output is not None:
        written = Path(output)
        written.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, written)
    html, _ = HTMLExporter().from_notebook_node(nb)
    with tempfile.TemporaryDirectory(prefix="jupyter-mlops-") as tmp:
        ipynb_file = Path(tmp) / f"{name}.ipynb"
        nbformat.write(nb, ipynb_file)
        html_file = Path(tmp) / f"{name}.html"
        html_file.write_text(html, encoding="utf-8")
        try:
            client.log_artifact(run_id, str(ipynb_file), ART_NOTEBOOK_DIR)
            client.log_artifact(run_id, str(html_file), ART_NOTEBOOK_DIR)
        except (
            Exception
        ) as exc:  # artifact stores raise many types (OSError, MlflowException, boto)
            raise MlopsError(f"could not log the executed notebook to run {run_id}: {exc}") from exc
    return written
