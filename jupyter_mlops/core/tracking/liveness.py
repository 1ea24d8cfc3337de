"""Is a run's kernel still alive? Heartbeats while a run is open, and orphan reconciliation.

A run left RUNNING by a kernel that died is marked KILLED, but only when its kernel is provably
gone: on this host its pid is dead or now belongs to a younger process; on another host its
heartbeat is older than ``stale_after_s``. A live kernel's run is never touched.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import TYPE_CHECKING

from jupyter_mlops.core.contracts import TAG_HEARTBEAT, TAG_KERNEL_HOST, TAG_KERNEL_PID, TAG_USER
from jupyter_mlops.core.errors import TrackingUnavailable

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

# psutil's create_time and the run's start_time come from different clocks (boot time + ticks
# vs. wall clock); a pid is called reused only when its process is clearly younger.
PID_REUSE_TOLERANCE_S = 2.0
_PAGE = 1000


class Heartbeat:
    """Daemon thread refreshing the run's ``heartbeat`` tag every ``interval_s`` until stopped."""

    def __init__(
        self, client: MlflowClient, run_id: str, interval_s: float = 30.0, beat_now: bool = True
    ) -> None:
        self.client = client
        self.beat_now = beat_now  # False when the run was created with a fresh heartbeat tag
        self.run_id = run_id
        self.interval_s = interval_s
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Heartbeat:
        """Beat once now (in the thread) and then every interval; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"jupyter-mlops-heartbeat-{self.run_id[:8]}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 1.0) -> None:
        """Stop beating; waits at most ``timeout_s`` for a beat in flight."""
        self._stopped.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def beat(self) -> None:
        """Write the heartbeat tag once; failures are logged at debug level and ignored."""
        try:
            self.client.set_tag(self.run_id, TAG_HEARTBEAT, f"{time.time():.3f}")
        except Exception as exc:  # a heartbeat must never affect the cell
            log.debug("heartbeat for run %s failed: %s", self.run_id, exc)

    def _run(self) -> None:
        if not self.beat_now:
            self._stopped.wait(self.interval_s)
        while not self._stopped.is_set():
            self.beat()
            self._stopped.wait(self.interval_s)

    def __enter__(self) -> Heartbeat:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def reconcile_orphans(
    client: MlflowClient,
    *,
    experiment_ids: list[str] | None = None,
    user: str | None = None,
    stale_after_s: float = 300,
    now: float | None = None,
) -> list[str]:
    """Mark KILLED the RUNNING runs whose kernel is provably gone; returns their ids.

    Only runs carrying our kernel host and pid tags are considered (and only ``user``'s when
    given). Raises ``TrackingUnavailable`` when the store cannot be searched; a run that cannot
    be updated is skipped.
    """
    now = time.time() if now is None else now
    orphans = []
    for run in _running_runs(client, experiment_ids):
        tags = run.data.tags
        if user is not None and tags.get(TAG_USER) != user:
            continue
        if _kernel_gone(run, stale_after_s, now) and _mark_killed(client, run.info.run_id, now):
            orphans.append(run.info.run_id)
    return orphans


def _running_runs(client: MlflowClient, experiment_ids: list[str] | None) -> list[Run]:
    """RUNNING runs with our kernel tag, through one filtered search per page."""
    try:
        if experiment_ids is None:
            experiment_ids = [e.experiment_id for e in _all_experiments(client)]
        if not experiment_ids:
            return []
        runs: list[Run] = []
        token = None
        while True:
            page = client.search_runs(
                experiment_ids,
                filter_string=f"attributes.status = 'RUNNING' AND tags.`{TAG_KERNEL_PID}` != ''",
                max_results=_PAGE,
                page_token=token,
            )
            runs.extend(page)
            token = page.token
            if not token:
                return runs
    except Exception as exc:
        raise TrackingUnavailable(f"could not look for orphaned runs: {exc}") from exc


def _all_experiments(client: MlflowClient) -> list:
    found, token = [], None
    while True:
        page = client.search_experiments(max_results=_PAGE, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            return found


def _kernel_gone(run: Run, stale_after_s: float, now: float) -> bool:
    """True only when the run's kernel is provably not running any more."""
    tags = run.data.tags
    host, pid_text = tags.get(TAG_KERNEL_HOST), tags.get(TAG_KERNEL_PID)
    try:
        pid = int(pid_text or "")
    except ValueError:
        return False
    if not host:
        return False
    if host == socket.gethostname():
        return process_gone(pid, run.info.start_time / 1000.0)
    last_sign = run.info.start_time / 1000.0
    try:
        last_sign = max(last_sign, float(tags.get(TAG_HEARTBEAT) or 0))
    except ValueError:
        pass
    return now - last_sign > stale_after_s


def process_gone(pid: int, run_started: float) -> bool:
    """Pid dead, a zombie, or reused by a process created after ``run_started`` (epoch s)."""
    if pid == os.getpid():
        return False
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return True
        return proc.create_time() > run_started + PID_REUSE_TOLERANCE_S
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:  # access denied and the like: cannot prove anything
        return False


def _mark_killed(client: MlflowClient, run_id: str, now: float) -> bool:
    """Terminate the run as KILLED if it is still RUNNING; False when skipped or failed."""
    try:
        if client.get_run(run_id).info.status != "RUNNING":
            return False
        client.set_terminated(run_id, status="KILLED", end_time=int(now * 1000))
        return True
    except Exception as exc:
        log.debug("could not mark run %s KILLED: %s", run_id, exc)
        return False
