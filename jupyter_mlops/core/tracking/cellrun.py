"""A tracked cell: one MLflow run holding everything needed to understand and repeat the cell.

``CellRun`` is what ``%%track`` drives (start → the cell runs → finish); ``track()`` is its
function twin for plain scripts. MLflow failures never break the user's code: the run is
spooled or skipped and the reason comes back as one message.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import time
import traceback as tb
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_mlops.core import active, store
from jupyter_mlops.core import contracts as c
from jupyter_mlops.core.errors import MlopsError, TrackingUnavailable, UsageProblem, first_line
from jupyter_mlops.core.tracking import autolog as autologging
from jupyter_mlops.core.tracking import capture
from jupyter_mlops.core.tracking.artifacts import ArtifactFilter, figure_numbers, save_new_figures
from jupyter_mlops.core.tracking.probes import context_module, start_git_probe
from jupyter_mlops.core.tracking.record import MetricPoint, RunRecord, now_ms
from jupyter_mlops.core.tracking.writer import log_record, sanitise

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

DEFAULT_EXPERIMENT = "Default"
OFFLINE_BACKOFF_S = 30.0  # after an unreachable server, cells spool without waiting on it


@dataclass
class TrackOptions:
    """How one cell is tracked (the flags of ``%%track``)."""

    experiment: str | None = None
    run_name: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    metric_names: list[str] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    log_model: str | None = None
    register: str | None = None
    continue_run: bool = False
    nested: bool = False
    autolog: bool = True
    tracking_uri: str | None = None
    max_artifact_mb: float = 100.0
    notebook: str | None = None
    cell_id: str | None = None
    execution_count: int | None = None


@dataclass
class TrackResult:
    """What a tracked cell logged, for the one-line summary."""

    run_id: str | None
    run_name: str | None
    experiment: str
    status: str
    params: int = 0
    metrics: int = 0
    artifacts: int = 0
    spooled: bool = False
    model_uri: str | None = None
    messages: list[str] = field(default_factory=list)

    def text(self) -> str:
        """The summary as one line of plain text."""
        if self.run_id is None and not self.spooled:
            return f"jupyter-mlops: not logged ({'; '.join(self.messages) or 'tracking failed'})"
        where = "spooled offline" if self.spooled else f"run {self.run_id}"
        model = ", model logged" if self.model_uri else ""
        return (
            f"{self.status.lower()}: {self.run_name or ''} ({where}) in {self.experiment!r} — "
            f"{self.params} params, {self.metrics} metrics, {self.artifacts} artifacts{model}"
        )

    def html(self) -> str:
        """The summary as one escaped line of HTML."""
        from html import escape

        colour = {"FINISHED": "#2e7d32", "FAILED": "#c62828", "KILLED": "#ef6c00"}
        dot = colour.get(self.status, "#757575")
        return (
            f'<div class="jupyter-mlops-summary" style="font-size:12px;color:var(--jp-ui-font-'
            f'color2,#555)"><span style="color:{dot}">&#9679;</span> {escape(self.text())}</div>'
        )


class _KernelState:
    """What lives as long as the process: caches and the last tracked run."""

    def __init__(self) -> None:
        self.previous: dict[tuple[str, str], tuple[str, str]] = {}
        self.last_run: tuple[str, str] | None = None  # (uri, run_id)
        self.offline_until: dict[str, float] = {}  # server URI -> retry after (monotonic)


STATE = _KernelState()


def experiment_id(client: MlflowClient, uri: str, name: str) -> str:
    """Id of experiment ``name``, created if missing (see ``store.ensure_experiment``)."""
    return store.ensure_experiment(client, name, uri)


def _spool() -> Any:
    try:
        from jupyter_mlops.core.tracking import spool
    except ImportError:
        return None
    return spool


class CellRun:
    """One tracked execution: ``start()`` before the code, ``finish()`` after it."""

    def __init__(self, source: str, options: TrackOptions, cwd: Path | None = None) -> None:
        self.source = source
        self.options = options
        self.cwd = (cwd or Path.cwd()).resolve()
        self.analysis = capture.analyse_cell(source)
        self.uri = store.resolve_tracking_uri(options.tracking_uri, start=self.cwd)
        self.client: MlflowClient | None = None
        self.messages: list[str] = []
        self.record = RunRecord(experiment_name=self._experiment_name(), run_name=options.run_name)
        self._heartbeat: Any = None
        self._written_tags: dict[str, str] = {}
        self._artifact_uri: str | None = None
        self._autolog = False
        self._git = start_git_probe(self.cwd)
        self._files_before: dict[Path, capture.FileState] = {}
        self._figures_before: set[int] = set()
        self._started = time.perf_counter()

    def _experiment_name(self) -> str:
        if self.options.experiment is not None:
            return self.options.experiment
        runner = os.environ.get(c.ENV_EXPERIMENT, "").strip()
        mlflow_default = os.environ.get("MLFLOW_EXPERIMENT_NAME", "").strip()
        return runner or active.default_experiment() or mlflow_default or DEFAULT_EXPERIMENT

    # ---------------------------------------------------------------- start
    def start(self) -> None:
        """Open the MLflow run (or go offline), start heartbeat, autolog and file watching."""
        self._check_options()
        self.record.tags.update(self._start_tags())
        retry_at = STATE.offline_until.get(self.uri, 0.0)
        try:
            if time.monotonic() < retry_at:
                raise TrackingUnavailable(
                    f"unreachable; retrying in {retry_at - time.monotonic():.0f} s"
                )
            self._open_run()
            STATE.offline_until.pop(self.uri, None)
        except UsageProblem:
            raise
        except Exception as exc:  # MLflow or the store failed: run the cell anyway
            self.client = None
            self.messages.append(f"tracking store {self.uri} unavailable ({first_line(exc)})")
            if self.uri.startswith(("http://", "https://")) and time.monotonic() >= retry_at:
                # a hung server would cost every cell the full HTTP timeout: back off for a while
                STATE.offline_until[self.uri] = time.monotonic() + OFFLINE_BACKOFF_S
        if self.record.run_id:
            active.set_current_run(self.record.run_id)
            self._start_heartbeat()
            self._replay_spool()
            if self.options.autolog:
                self._autolog = autologging.switch(True)
        paths = capture.candidate_files(self._named_files(), self.cwd)
        self._files_before = capture.snapshot_files(paths)
        self._figures_before = figure_numbers()

    def _check_options(self) -> None:
        active.validate_experiment_name(self._experiment_name())
        if self.options.continue_run and STATE.last_run is None:
            raise UsageProblem("--continue: no previous tracked run in this kernel")
        missing = [a for a in self.options.artifacts if not (self.cwd / a).exists()]
        if missing:
            raise UsageProblem(f"--artifact: no such file: {missing[0]}")

    def _named_files(self) -> list[str]:
        return [*self.analysis.string_literals, *self.options.artifacts]

    def _start_tags(self) -> dict[str, str]:
        ctx = context_module()
        notebook = self.options.notebook
        if notebook is None and ctx is not None:
            with contextlib.suppress(Exception):
                notebook = ctx.notebook_path(self.source)
        tags = {
            c.TAG_SOURCE_TYPE: c.SOURCE_TYPE_NOTEBOOK,
            c.TAG_CELL_HASH: hashlib.sha256(self.source.encode()).hexdigest()[:16],
            c.TAG_USER: store.current_user(),
            c.TAG_HEARTBEAT: str(int(time.time())),
        }
        if notebook:
            tags[c.TAG_SOURCE_NAME] = notebook
            if not self.options.cell_id and ctx is not None:
                book = store.project_root(str(self.cwd)) / notebook
                self.options.cell_id = ctx.cell_id_of(book, self.source)
        if self.options.cell_id:
            tags[c.TAG_CELL_ID] = self.options.cell_id
        if self.options.execution_count is not None:
            tags[c.TAG_CELL_EXECUTION_COUNT] = str(self.options.execution_count)
        if ctx is not None:
            with contextlib.suppress(Exception):
                tags.update(ctx.kernel_identity())
        parent = os.environ.get(c.ENV_PARENT_RUN_ID, "").strip()
        if parent and not self.options.nested:
            tags[c.TAG_PARENT_RUN_ID] = parent
            tags[c.TAG_PIPELINE_RUN_ID] = parent
            self.record.parent_run_id = parent
        tags.update(self.options.tags)
        return tags

    def _open_run(self) -> None:
        import mlflow

        store.prepare_store(self.uri)
        self.client = store.get_client(self.uri)
        mlflow.set_tracking_uri(self.uri)
        parent = self.record.parent_run_id
        if parent:  # a pipeline's children live in the pipeline run's experiment
            self.record.experiment_name = self.client.get_experiment(
                self.client.get_run(parent).info.experiment_id
            ).name
        running = mlflow.active_run()
        if self.options.continue_run:
            uri, run_id = STATE.last_run  # type: ignore[misc]
            if uri != self.uri:
                raise UsageProblem("--continue: the previous run is in another tracking store")
            if running is not None:
                raise UsageProblem("--continue: another MLflow run is active; end it first")
            run = store.retry_locked(lambda: mlflow.start_run(run_id=run_id))
            self.record.run_name = run.info.run_name
        else:
            if self.options.nested and running is None:
                raise UsageProblem("--nested: no active MLflow run to nest under")
            if running is not None and not self.options.nested:
                raise UsageProblem(
                    f"an MLflow run ({running.info.run_id}) is already active: use --nested, "
                    "or end it with mlflow.end_run()"
                )
            exp_id = experiment_id(self.client, self.uri, self.record.experiment_name)
            tags = dict(self.record.tags)
            tags.pop(c.TAG_PARENT_RUN_ID, None)  # start_run sets it from parent_run_id
            run = store.retry_locked(
                lambda: mlflow.start_run(
                    experiment_id=exp_id,
                    run_name=self.options.run_name,
                    tags=tags,
                    nested=self.options.nested,
                    parent_run_id=parent or None,
                )
            )
            self.record.run_name = run.info.run_name
            self._written_tags = tags
        self.record.run_id = run.info.run_id
        self._artifact_uri = run.info.artifact_uri
        self.record.start_time_ms = run.info.start_time or now_ms()

    def _start_heartbeat(self) -> None:
        try:
            from jupyter_mlops.core.tracking.liveness import Heartbeat
        except ImportError:
            return
        self._heartbeat = Heartbeat(self.client, self.record.run_id, beat_now=False)
        self._heartbeat.start()

    def _replay_spool(self) -> None:
        spool = _spool()
        if spool is None or self.client is None:
            return
        try:
            if spool.pending_runs() == 0:
                return
            result = spool.replay(self.client)
        except Exception as exc:
            self.messages.append(f"offline runs not replayed yet: {first_line(exc)}")
            return
        if result.runs_replayed or result.skipped or result.error:
            self.messages.append(result.summary())

    # ---------------------------------------------------------------- finish
    def finish(
        self, namespace: Mapping[str, Any], error: BaseException | None = None
    ) -> TrackResult:
        """Collect what the cell produced, write it (or spool it), close the run."""
        if self._autolog:
            autologging.switch(False)
        if error is None:
            status = "FINISHED"
        elif isinstance(error, KeyboardInterrupt):
            status = "KILLED"
        else:
            status = "FAILED"
        record = self.record
        record.status = status
        model_uri = None
        try:
            self._collect(namespace, error)
        except Exception as exc:  # capture must never hide the cell's own outcome
            self.messages.append(f"capture incomplete: {first_line(exc)}")
        try:
            model_uri = self._log_model(namespace, error)
        except UsageProblem as problem:
            self.messages.append(str(problem))
        except Exception as exc:
            self.messages.append(f"model not logged: {first_line(exc)}")
        finally:
            record.end_time_ms = now_ms()
        spooled = self._write()
        if self._heartbeat is not None:
            self._heartbeat.stop()
        active.set_current_run(None)
        if record.run_id and not spooled:
            STATE.last_run = (self.uri, record.run_id)
        return TrackResult(
            run_id=record.run_id,
            run_name=record.run_name,
            experiment=record.experiment_name,
            status=status,
            params=len(record.params),
            metrics=len({m.key for m in record.metrics}),
            artifacts=len(record.artifacts) + len(record.texts),
            spooled=spooled,
            model_uri=model_uri,
            messages=self.messages,
        )

    def _collect(self, namespace: Mapping[str, Any], error: BaseException | None) -> None:
        record, ctx = self.record, context_module()
        secret = ctx.is_secret_name if ctx is not None else (lambda _name: False)
        masked = ctx.mask_secrets(self.source) if ctx is not None else self.source
        literals = capture.unchanged_params(self.analysis.params, namespace)
        params = {k: capture.param_text(v) for k, v in literals.items()}
        params.update(self.options.params)
        record.params = {k: v for k, v in params.items() if not secret(k)}
        self._merge_logged_params()
        names = [*self.analysis.assigned, *self.options.metric_names]
        found = capture.collect_metrics(
            names, namespace, exclude=literals, no_history=self.analysis.unpacked
        )
        stamp = now_ms()
        for key, value in found.scalars.items():
            if not secret(key):
                record.metrics.append(MetricPoint(key, value, stamp, 0))
        for key, values in found.histories.items():
            if not secret(key):
                record.metrics.extend(
                    MetricPoint(key, v, stamp, step) for step, v in enumerate(values)
                )
        if found.non_finite:
            self.messages.append(f"not logged (not finite): {', '.join(found.non_finite)}")
        record.texts[c.ART_CELL_SOURCE] = masked
        self._link_previous(masked)
        if error is not None:
            text = "".join(tb.format_exception(type(error), error, error.__traceback__))
            record.texts[c.ART_CELL_TRACEBACK] = text
        self._collect_context(ctx)
        self._collect_files()

    def _merge_logged_params(self) -> None:
        """Drop params the run already holds (autolog, ``--continue``); MLflow params are
        write-once, so a changed value is recorded as a tag and reported instead."""
        if not (self._autolog or self.options.continue_run) or self.client is None:
            return
        if not self.record.run_id:
            return
        try:
            logged = self.client.get_run(self.record.run_id).data.params
        except Exception:  # the store died mid-cell: keep everything, replay skips duplicates
            return
        for key in [k for k in self.record.params if k in logged]:
            new = self.record.params.pop(key)
            if logged[key] != new:
                self.record.tags[f"{c.PREFIX}param_changed.{key}"] = f"{logged[key]} -> {new}"
                self.messages.append(
                    f"param {key!r} changed ({logged[key]} -> {new}); MLflow keeps the first "
                    "value, the change is recorded as a tag"
                )

    def _link_previous(self, masked_source: str) -> None:
        key = self.options.cell_id
        if not key:
            return
        previous = STATE.previous.get((self.uri, key))
        if previous is None and self.client is not None:
            previous = _previous_from_store(self.client, self.uri, self.record, key)
        if previous is not None and previous[0] != self.record.run_id:
            self.record.tags[c.TAG_CELL_PREVIOUS_RUN_ID] = previous[0]
            diff = capture.cell_diff(previous[1], masked_source, previous[0])
            if diff:
                self.record.texts[c.ART_CELL_DIFF] = diff
        if self.record.run_id:
            STATE.previous[(self.uri, key)] = (self.record.run_id, masked_source)

    def _collect_context(self, ctx: Any) -> None:
        record = self.record
        state = self._git.result()
        if state is not None and state.commit:
            record.tags[c.TAG_GIT_COMMIT] = state.commit
            record.tags[c.TAG_GIT_DIRTY] = "true" if state.dirty else "false"
            if state.dirty and state.diff:
                record.texts[c.ART_GIT_DIFF] = ctx.mask_secrets(state.diff) if ctx else state.diff
        if ctx is not None:
            env = ctx.environment()
            record.texts[c.ART_PYTHON] = env.python
            record.texts[c.ART_REQUIREMENTS] = env.requirements

    def _collect_files(self) -> None:
        after = capture.candidate_files(self._named_files(), self.cwd)
        changed = capture.changed_files(self._files_before, after)
        explicit = [(self.cwd / a).resolve() for a in self.options.artifacts]
        keep, skipped = ArtifactFilter(self.cwd, self.options.max_artifact_mb).split(
            list(dict.fromkeys([*changed, *explicit]))
        )
        if skipped:
            self.messages.append("not uploaded: " + "; ".join(skipped))
        for path in keep:
            rel_parent = path.relative_to(self.cwd).parent
            folder = None if str(rel_parent) == "." else rel_parent.as_posix()
            self.record.artifacts.append(_artifact(path, folder))
        figures_dir = save_new_figures(self._figures_before)
        if figures_dir is not None:
            self.record.artifacts.append(_artifact(figures_dir, None))
        self._link_data()

    def _link_data(self) -> None:
        if self.client is None or not self.record.run_id:
            return
        try:
            from jupyter_mlops.core.data import lineage
        except ImportError:
            return
        try:
            lineage.link_literal_paths(
                self.record.run_id, self.analysis.string_literals, self.cwd, self.client
            )
        except MlopsError as exc:
            self.messages.append(f"data lineage not recorded: {exc}")

    def _log_model(self, namespace: Mapping[str, Any], error: BaseException | None) -> str | None:
        var = self.options.log_model
        if not var or error is not None:
            return None
        if var not in namespace:
            raise UsageProblem(f"--log-model: no variable named {var!r} after the cell ran")
        from jupyter_mlops.core.models.flavors import detect_flavor, log_model

        detect_flavor(namespace[var])
        if self.client is None or not self.record.run_id:
            self.messages.append("model not logged: the tracking store is unavailable")
            return None
        return log_model(namespace[var], register_as=self.options.register)

    def _write(self) -> bool:
        """Write the record into its run and close it; spool it when MLflow fails."""
        import mlflow

        record = self.record
        self.messages.extend(sanitise(record))
        if self.client is not None and record.run_id:
            try:
                log_record(self.client, record, self._written_tags, self._artifact_uri)
                store.retry_locked(lambda: mlflow.end_run(status=record.status))
                return False
            except Exception as exc:
                self.messages.append(f"tracking store failed mid-run ({first_line(exc)})")
                with contextlib.suppress(Exception):
                    mlflow.end_run(status=record.status)
        return self._spool_record()

    def _spool_record(self) -> bool:
        spool = _spool()
        if spool is None:
            self.messages.append("run not logged")
            return False
        try:
            spool.spool_run(self.record, tracking_uri=self.uri)
        except Exception as exc:
            self.messages.append(f"run not logged, spool failed: {first_line(exc)}")
            return False
        self.messages.append("tracking server unreachable: 1 run spooled (replayed later)")
        return True


def _artifact(path: Path, folder: str | None) -> Any:
    from jupyter_mlops.core.tracking.record import ArtifactFile

    return ArtifactFile(str(path), folder)


def _previous_from_store(
    client: MlflowClient, uri: str, record: RunRecord, cell_id: str
) -> tuple[str, str] | None:
    """The last run of the same cell in this store (first run of the cell in this kernel)."""
    try:
        runs = client.search_runs(
            [experiment_id(client, uri, record.experiment_name)],
            filter_string=f"tags.`{c.TAG_CELL_ID}` = '{cell_id.replace(chr(39), '')}'",
            order_by=["attributes.start_time DESC"],
            max_results=2,
        )
        for run in runs:
            if run.info.run_id == record.run_id:
                continue
            path = client.download_artifacts(run.info.run_id, c.ART_CELL_SOURCE)
            return run.info.run_id, Path(path).read_text(encoding="utf-8")
    except Exception:
        return None
    return None


@contextlib.contextmanager
def track(
    experiment: str | None = None,
    run_name: str | None = None,
    *,
    params: Mapping[str, Any] | None = None,
    metrics: Iterable[str] | Mapping[str, float] | None = None,
    namespace: Mapping[str, Any] | None = None,
    source: str = "",
    tags: Mapping[str, str] | None = None,
    artifacts: Iterable[str] = (),
    log_model: str | None = None,
    register: str | None = None,
    autolog: bool = True,
    nested: bool = False,
    tracking_uri: str | None = None,
    quiet: bool = False,
) -> Iterator[CellRun]:
    """Function twin of ``%%track`` for scripts: the block runs as one captured MLflow run.

    ``params`` are logged as given; ``metrics`` is a mapping of values, or names looked up in
    ``namespace`` (e.g. ``globals()``) when the block ends; ``source`` is analysed like a cell.
    """
    values = dict(metrics) if isinstance(metrics, Mapping) else {}
    names = [] if isinstance(metrics, Mapping) else list(metrics or [])
    options = TrackOptions(
        experiment=experiment,
        run_name=run_name,
        params={k: capture.param_text(v) for k, v in (params or {}).items()},
        metric_names=names,
        artifacts=list(artifacts),
        tags=dict(tags or {}),
        log_model=log_model,
        register=register,
        nested=nested,
        autolog=autolog,
        tracking_uri=tracking_uri,
    )
    run = CellRun(source, options)
    run.start()
    error: BaseException | None = None
    try:
        yield run
    except BaseException as exc:
        error = exc
        raise
    finally:
        scope = {**(namespace or {}), **values}
        options.metric_names.extend(k for k in values if k not in options.metric_names)
        result = run.finish(scope, error)
        for message in result.messages:
            print(f"jupyter-mlops: {message}", file=sys.stderr)
        if not quiet:
            print(result.text())


TrackedRun = CellRun
