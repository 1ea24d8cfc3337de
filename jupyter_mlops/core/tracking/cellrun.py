"""A tracked cell: one MLflow run holding everything needed to understand and repeat the cell.

``CellRun`` is what ``%%track`` drives (start → the cell runs → finish); ``track()`` is its
function twin for plain scripts. The phases live beside it: ``start`` (checks, tags, opening
the run when the cell needs it live), ``collect`` (the record), ``delivery`` (the record into
the journal, delivered by a background worker). The cell never waits on MLflow unless its code
uses MLflow itself; failures never break the user's code and come back as one message.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from jupyter_mlops.core import access, active, store
from jupyter_mlops.core.errors import TrackingUnavailable, UsageProblem, first_line
from jupyter_mlops.core.tracking import autolog as autologging
from jupyter_mlops.core.tracking import (
    capture,
    collect,
    delivery,
    estimators,
    inflight,
    journal,
    start,
)
from jupyter_mlops.core.tracking.artifacts import IgnoreProbe, figure_numbers
from jupyter_mlops.core.tracking.liveness import Heartbeat
from jupyter_mlops.core.tracking.liverun import live_run_reason
from jupyter_mlops.core.tracking.options import TrackOptions as TrackOptions  # re-exported
from jupyter_mlops.core.tracking.options import TrackResult
from jupyter_mlops.core.tracking.record import now_ms
from jupyter_mlops.core.tracking.runstate import STATE as STATE  # re-exported
from jupyter_mlops.core.tracking.runstate import RunState

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

OFFLINE_BACKOFF_S = 30.0  # after an unreachable server, cells spool without waiting on it
LIVE_DELIVERY_WAIT_S = 30.0  # a cell whose run is live waits this long for its delivery


def experiment_id(client: MlflowClient, uri: str, name: str) -> str:
    """Id of experiment ``name``, created if missing (see ``store.ensure_experiment``)."""
    return store.ensure_experiment(client, name, uri)


class CellRun(RunState):
    """One tracked execution: ``start()`` before the code, ``finish()`` after it."""

    def start(self) -> None:
        """Check the options; open the MLflow run now only when the cell needs it live
        (``liverun``), else the run is created at delivery (and an in-flight marker says the
        cell runs). Start autolog and file watching."""
        start.check_options(self)
        self.record.tags.update(start.start_tags(self))
        self.live_reason = live_run_reason(self.transformed, self.options)
        if self.live_reason is not None:
            self._open_live_run()
        if self.options.autolog:  # scikit-learn fits are captured into the record, offline too
            self.capturing_fits = estimators.begin(self.source)
        paths = capture.candidate_files(self.named_files(), self.cwd)
        self.files_before = capture.snapshot_files(paths)
        self.ignore_probe = IgnoreProbe(self.cwd, paths) if paths else None
        self.figures_before = figure_numbers()
        inflight.begin(self)  # last: a cell that starts leaves a trace if its kernel dies

    def _open_live_run(self) -> None:
        retry_at = STATE.offline_until.get(self.uri, 0.0)
        try:
            if time.monotonic() < retry_at:
                raise TrackingUnavailable(
                    f"unreachable; retrying in {retry_at - time.monotonic():.0f} s"
                )
            start.open_run(self)
            STATE.offline_until.pop(self.uri, None)
        except UsageProblem:
            raise
        except Exception as exc:  # MLflow or the store failed: run the cell anyway
            self.client = None
            denied = access.refusal(exc, "EDIT", f"experiment {self.record.experiment_name!r}")
            if denied is not None:  # retrying cannot help: say so once, spool nothing
                self.refused = True
                self.messages.append(f"run not logged: {denied}")
                return
            self.messages.append(
                f"tracking store {store.redact_uri(self.uri)} unavailable ({first_line(exc)})"
            )
            if self.uri.startswith(("http://", "https://")) and time.monotonic() >= retry_at:
                # a hung server would cost every cell the full HTTP timeout: back off for a while
                STATE.offline_until[self.uri] = time.monotonic() + OFFLINE_BACKOFF_S
        if self.record.run_id:
            active.set_current_run(self.record.run_id)
            self.heartbeat = Heartbeat(self.client, self.record.run_id, beat_now=False)
            self.heartbeat.start()
            journal.resume(self.uri)
            if self.options.autolog:
                self.autolog_on = autologging.switch(True)

    def finish(
        self, namespace: Mapping[str, Any], error: BaseException | None = None
    ) -> TrackResult:
        """Collect what the cell produced, write it (or spool it), close the run."""
        if self.autolog_on:
            autologging.switch(False)
        fits = estimators.end() if self.capturing_fits else []
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
            collect.collect(self, namespace, error)
            estimators.add_fits_to_record(self, fits)
        except Exception as exc:  # capture must never hide the cell's own outcome
            self.messages.append(f"capture incomplete: {first_line(exc)}")
        try:
            model_uri = collect.log_model(self, namespace, error)
        except UsageProblem as problem:
            self.messages.append(str(problem))
        except Exception as exc:
            self.messages.append(f"model not logged: {first_line(exc)}")
        finally:
            record.end_time_ms = now_ms()
        if self.heartbeat is not None:
            self.heartbeat.stop()
        try:
            delivery.hand_over(self)
        finally:
            inflight.end(self)
        if self.live_reason is not None and self.local_id and self.client is not None:
            # code that uses MLflow may read its run back in the next cell: a live run is
            # complete when the cell ends (bounded; else it keeps delivering in the background)
            journal.cell_finished()
            if journal.run_id_of(self.local_id, self.uri, LIVE_DELIVERY_WAIT_S):
                self.local_id = None
        self.messages.extend(journal.take_notes())
        active.set_current_run(None)
        return TrackResult(
            run_id=record.run_id,
            run_name=record.run_name,
            experiment=record.experiment_name,
            status=status,
            params=len(record.params),
            metrics=len({m.key for m in record.metrics}),
            artifacts=len(record.artifacts) + len(record.texts),
            spooled=self.spooled,
            model_uri=model_uri,
            messages=self.messages,
            local_id=self.local_id,
            pending=journal.pending() if self.local_id else 0,
            failing=journal.failing(self.uri) if self.local_id else None,
        )


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
    max_artifact_mb: float = 100.0,
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
        max_artifact_mb=max_artifact_mb,
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
