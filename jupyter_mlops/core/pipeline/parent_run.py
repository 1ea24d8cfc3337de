"""The pipeline's parent MLflow run: what it is made of, where it is made, what the kernel learns.

The parent run is created in the kernel (which imports MLflow for the tracked cells anyway) when
the kernel has jupyter_mlops, else in this process; either way the kernel's environment then names
it, so every ``%%track`` cell becomes its child run.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_mlops.core import git
from jupyter_mlops.core.contracts import (
    ENV_EXPERIMENT,
    ENV_NOTEBOOK_PATH,
    ENV_PARENT_RUN_ID,
    ENV_TRACKING_URI,
    SOURCE_TYPE_NOTEBOOK,
    TAG_GIT_COMMIT,
    TAG_PIPELINE_RUN_ID,
    TAG_SOURCE_NAME,
    TAG_SOURCE_TYPE,
    TAG_USER,
)
from jupyter_mlops.core.errors import MlopsError, TrackingUnavailable
from jupyter_mlops.core.pipeline.kernel import Silent
from jupyter_mlops.core.store import (
    current_user,
    ensure_experiment,
    get_client,
    project_root,
    sqlite_path,
)
from jupyter_mlops.core.tracking.capture import param_text
from jupyter_mlops.core.tracking.secrets import mask_values
from jupyter_mlops.core.tracking.writer import MAX_PARAM_VALUE, clip

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient


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


@dataclass
class StartedRun:
    """The parent run once MLflow has created it."""

    client: MlflowClient
    run_id: str
    experiment_id: str

    def kernel_settings(self) -> dict[str, str]:
        """What the kernel learns once the run exists: the parent run and experiment ids."""
        return {ENV_PARENT_RUN_ID: self.run_id, "MLFLOW_EXPERIMENT_ID": self.experiment_id}


def open_parent_in_kernel(spec_json: str) -> None:
    """Kernel side of ``run_notebook``: create the parent run and name it in ``os.environ``."""
    started = start_parent(ParentSpec(**json.loads(spec_json)))
    os.environ.update(started.kernel_settings())


async def open_parent(silent: Silent, spec: ParentSpec) -> str:
    """The parent run's id: made in the kernel when it has jupyter_mlops, else made here."""
    module = __name__
    code = f"__import__({module!r}, fromlist=['_']).open_parent_in_kernel({spec.to_json()!r})"
    shown = await silent(code, {"run": f"__import__('os').environ.get({ENV_PARENT_RUN_ID!r})"})
    if shown and shown.get("run") not in (None, "", "None"):
        return str(ast.literal_eval(shown["run"]))
    started = await asyncio.get_running_loop().run_in_executor(None, start_parent, spec)
    settings = json.dumps(started.kernel_settings())
    if await silent(f"__import__('os').environ.update({settings})", {}) is None:
        raise MlopsError(f"could not tell the kernel its parent run {started.run_id}")
    return started.run_id


def start_parent(spec: ParentSpec) -> StartedRun:
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


def absolute_uri(uri: str) -> str:
    """A relative ``sqlite:///`` URI made absolute: the kernel (another cwd) opens the same file."""
    db = sqlite_path(uri)
    if db is None or db.is_absolute():
        return uri
    return f"sqlite:///{db.resolve()}"


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


def source_name(notebook_file: Path) -> str:
    """The notebook's path relative to the project root (``mlflow.source.name``)."""
    root = project_root(notebook_file.parent)
    try:
        return notebook_file.relative_to(root).as_posix()
    except ValueError:
        return notebook_file.as_posix()
