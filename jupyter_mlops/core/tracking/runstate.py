"""The state of one tracked cell in progress, shared by its phases (start, collect, deliver),
and what the kernel remembers between tracked cells."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_mlops.core import active, store
from jupyter_mlops.core import contracts as c
from jupyter_mlops.core.contracts import DEFAULT_EXPERIMENT
from jupyter_mlops.core.tracking import capture
from jupyter_mlops.core.tracking.gitstate import GitProbe
from jupyter_mlops.core.tracking.options import TrackOptions
from jupyter_mlops.core.tracking.record import RunRecord

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient


class KernelMemory:
    """What lives as long as the process: caches and the last tracked run."""

    def __init__(self) -> None:
        self.previous: dict[tuple[str, str], tuple[str, str]] = {}  # (uri, cell id) -> run, src
        self.last_run: tuple[str, str] | None = None  # (uri, run_id)
        self.offline_until: dict[str, float] = {}  # server URI -> retry after (monotonic)


STATE = KernelMemory()


class RunState:
    """One tracked execution's data: options, the record being filled, what start observed."""

    def __init__(self, source: str, options: TrackOptions, cwd: Path | None = None) -> None:
        self.source = source
        self.transformed = source  # the code as Python runs it (the adapter may reset source)
        self.live_reason: str | None = None  # why the run was opened before the code ran
        self.local_id: str | None = None  # the journal entry of this run
        self.spool_id: str | None = None  # the id its entry takes, chosen at start (inflight)
        self.marker: Path | None = None  # its in-flight marker while the cell runs
        self.spooled = False  # the store was unreachable when the cell needed it live
        self.options = options
        self.cwd = (cwd or Path.cwd()).resolve()
        self.analysis = capture.analyse_cell(source)
        self.uri = store.resolve_tracking_uri(options.tracking_uri, start=self.cwd)
        self.client: MlflowClient | None = None
        self.messages: list[str] = []
        self.refused = False  # the server refused our credentials/permission: never spool
        self.record = RunRecord(experiment_name=self.experiment_name(), run_name=options.run_name)
        self.heartbeat: Any = None
        self.written_tags: dict[str, str] = {}
        self.artifact_uri: str | None = None
        self.autolog_on = False
        self.capturing_fits = False  # estimators.begin() was called for this cell
        self.git_probe = GitProbe(self.cwd)
        self.context_later = False  # the probe outlived the cell: its state joins the entry
        self.files_before: dict[Path, capture.FileState] = {}
        self.figures_before: set[int] = set()
        self.ignore_probe: Any = None  # artifacts.IgnoreProbe of the named files, if any
        self.started = time.perf_counter()

    def experiment_name(self) -> str:
        """``--experiment``, else the pipeline's, ``%mlops_experiment``'s, MLflow's, Default."""
        if self.options.experiment is not None:
            return self.options.experiment
        runner = os.environ.get(c.ENV_EXPERIMENT, "").strip()
        mlflow_default = os.environ.get("MLFLOW_EXPERIMENT_NAME", "").strip()
        return runner or active.default_experiment() or mlflow_default or DEFAULT_EXPERIMENT

    def named_files(self) -> list[str]:
        """Paths the cell names: its string literals and ``--artifact`` flags."""
        return [*self.analysis.string_literals, *self.options.artifacts]
