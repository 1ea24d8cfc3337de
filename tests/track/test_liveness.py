"""Orphan reconciliation and heartbeats against a real sqlite MLflow store and real processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from jupyter_mlops.core.contracts import (
    TAG_HEARTBEAT,
    TAG_KERNEL_HOST,
    TAG_KERNEL_PID,
    TAG_USER,
)
from jupyter_mlops.core.errors import TrackingUnavailable
from jupyter_mlops.core.tracking.liveness import Heartbeat, reconcile_orphans

# A stand-in kernel: opens a RUNNING run tagged with its own host and pid, then waits.
CHILD = """
import os, socket, sys, time
from mlflow.tracking import MlflowClient
client = MlflowClient(sys.argv[1])
run = client.create_run(sys.argv[2], tags={
    "jupyter_mlops.kernel.host": socket.gethostname(),
    "jupyter_mlops.kernel.pid": str(os.getpid()),
    "mlflow.user": "alice",
})
print(run.info.run_id, flush=True)
time.sleep(600)
"""


@pytest.fixture
def client(tracking_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri)


@pytest.fixture
def experiment(client: MlflowClient) -> str:
    return client.create_experiment("orphans")


def kernel_tags(host: str | None = None, pid: int | None = None, **extra: str) -> dict[str, str]:
    tags = {
        TAG_KERNEL_HOST: host or socket.gethostname(),
        TAG_KERNEL_PID: str(os.getpid() if pid is None else pid),
    }
    tags.update(extra)
    return tags


def status(client: MlflowClient, run_id: str) -> str:
    return client.get_run(run_id).info.status


def start_child_kernel(
    tracking_uri: str, experiment: str, cwd: Path
) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, tracking_uri, experiment],
        stdout=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    )
    return child, child.stdout.readline().strip()


@pytest.mark.slow
def test_dead_kernel_run_is_killed_live_kernel_run_untouched(
    client: MlflowClient, experiment: str, tracking_uri: str, tmp_path: Path
) -> None:
    # Given two stand-in kernels, each with an open run
    (doomed, doomed_run), (alive, alive_run) = (
        start_child_kernel(tracking_uri, experiment, tmp_path) for _ in range(2)
    )
    try:
        assert doomed_run and alive_run
        # When one kernel dies without closing its run
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)
        before = time.time()
        killed = reconcile_orphans(client)
        # Then only the dead kernel's run is marked KILLED, with an end time of now
        assert killed == [doomed_run]
        run = client.get_run(doomed_run)
        assert run.info.status == "KILLED"
        assert run.info.end_time >= int(before * 1000) - 1
        assert status(client, alive_run) == "RUNNING"
        # and reconciling again changes nothing while the other kernel lives
        assert reconcile_orphans(client) == []
        assert status(client, alive_run) == "RUNNING"
    finally:
        alive.kill()
        alive.wait(10)
    # Once the second kernel is gone too, its run is reconciled
    assert reconcile_orphans(client, experiment_ids=[experiment]) == [alive_run]
    assert status(client, alive_run) == "KILLED"


@pytest.mark.slow
def test_run_of_a_killed_jupyter_kernel_is_reconciled(
    client: MlflowClient, tracking_uri: str, project: Path
) -> None:
    from jupyter_client.manager import start_new_kernel

    env = {k: v for k, v in os.environ.items() if k != "JPY_SESSION_NAME"}
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(project), env=env)
    try:
        # Given a real kernel in the middle of a long %%track cell whose run is live (the cell
        # uses MLflow; a cell that does not has no run in the store until it ends)
        reply = kc.execute_interactive("%load_ext jupyter_mlops", timeout=120)
        assert reply["content"]["status"] == "ok"
        kc.execute("%%track --no-autolog\nimport time, mlflow\ntime.sleep(300)")
        run = wait_for_running_run(client)
        tags = run.data.tags
        assert tags[TAG_KERNEL_HOST] == socket.gethostname()
        assert tags[TAG_KERNEL_PID] == str(km.provisioner.process.pid)
        assert tags["jupyter_mlops.kernel.id"] in km.connection_file
        # While it lives, reconciling leaves its run alone
        assert reconcile_orphans(client) == []
        # When the kernel dies hard
        km.shutdown_kernel(now=True)
    finally:
        kc.stop_channels()
        if km.is_alive():
            km.shutdown_kernel(now=True)
    # Then its run is marked KILLED
    assert reconcile_orphans(client) == [run.info.run_id]
    assert status(client, run.info.run_id) == "KILLED"


def wait_for_running_run(client: MlflowClient, timeout_s: float = 120):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        ids = [e.experiment_id for e in client.search_experiments()]
        running = client.search_runs(ids, "attributes.status = 'RUNNING'") if ids else []
        if running:
            return running[0]
        time.sleep(0.2)
    raise AssertionError("the kernel never opened a run")


def test_own_process_run_is_never_touched(client: MlflowClient, experiment: str) -> None:
    run = client.create_run(experiment, tags=kernel_tags())
    assert reconcile_orphans(client, stale_after_s=0, now=time.time() + 10**6) == []
    assert status(client, run.info.run_id) == "RUNNING"


def test_reused_pid_counts_as_gone(client: MlflowClient, experiment: str) -> None:
    # Given a live process that was created long after the run started (the pid was reused)
    newcomer = subprocess.Popen(["sleep", "60"])
    try:
        long_ago = int((time.time() - 3600) * 1000)
        reused = client.create_run(
            experiment, start_time=long_ago, tags=kernel_tags(pid=newcomer.pid)
        )
        # and a run that this same live process could have started (started after it)
        time.sleep(0.05)
        own = client.create_run(
            experiment, start_time=int((time.time() + 5) * 1000), tags=kernel_tags(pid=newcomer.pid)
        )
        killed = reconcile_orphans(client)
    finally:
        newcomer.kill()
        newcomer.wait(10)
    assert killed == [reused.info.run_id]
    assert status(client, own.info.run_id) == "RUNNING"


def test_other_host_by_heartbeat_age(client: MlflowClient, experiment: str) -> None:
    now = time.time()

    def other_host_run(heartbeat: float | None) -> str:
        extra = {} if heartbeat is None else {TAG_HEARTBEAT: f"{heartbeat:.3f}"}
        tags = kernel_tags(host="some-other-host.invalid", pid=1, **extra)
        start = int((now - 3600) * 1000)
        return client.create_run(experiment, start_time=start, tags=tags).info.run_id

    fresh = other_host_run(now - 10)
    stale = other_host_run(now - 1000)
    never_beat = other_host_run(None)  # last sign of life: its start, an hour ago
    killed = reconcile_orphans(client, stale_after_s=300, now=now)
    assert sorted(killed) == sorted([stale, never_beat])
    assert status(client, fresh) == "RUNNING"
    assert status(client, stale) == "KILLED"
    # With a longer tolerance the hour-old start is not stale either
    assert reconcile_orphans(client, stale_after_s=7200, now=now) == []


def test_runs_without_kernel_tags_or_of_other_users_are_untouched(
    client: MlflowClient, experiment: str
) -> None:
    dead_pid = _dead_pid()
    plain = client.create_run(experiment)  # e.g. a run from a script, no kernel tags
    host_only = client.create_run(experiment, tags={TAG_KERNEL_HOST: socket.gethostname()})
    bobs = client.create_run(experiment, tags=kernel_tags(pid=dead_pid, **{TAG_USER: "bob"}))
    alices = client.create_run(experiment, tags=kernel_tags(pid=dead_pid, **{TAG_USER: "alice"}))
    assert reconcile_orphans(client, user="alice") == [alices.info.run_id]
    for run in (plain, host_only, bobs):
        assert status(client, run.info.run_id) == "RUNNING"


def test_finished_runs_keep_their_status_and_end_time(
    client: MlflowClient, experiment: str
) -> None:
    run = client.create_run(experiment, tags=kernel_tags(pid=_dead_pid()))
    client.set_terminated(run.info.run_id, status="FINISHED", end_time=1234)
    assert reconcile_orphans(client) == []
    info = client.get_run(run.info.run_id).info
    assert (info.status, info.end_time) == ("FINISHED", 1234)


def test_empty_store_returns_nothing(client: MlflowClient) -> None:
    assert reconcile_orphans(client) == []


def test_unreachable_store_raises_our_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TrackingUnavailable, match="orphaned runs"):
        reconcile_orphans(MlflowClient(f"http://127.0.0.1:{port}"))


def test_heartbeat_refreshes_tag_until_stopped(client: MlflowClient, experiment: str) -> None:
    run_id = client.create_run(experiment, tags=kernel_tags()).info.run_id
    beats = []
    with Heartbeat(client, run_id, interval_s=0.05):
        deadline = time.time() + 20
        while len(set(beats)) < 3 and time.time() < deadline:
            beats.append(client.get_run(run_id).data.tags.get(TAG_HEARTBEAT))
            time.sleep(0.02)
    values = sorted({float(b) for b in beats if b})
    assert len(values) >= 2, beats
    assert abs(values[-1] - time.time()) < 20
    # Then after stop no further beat arrives
    last = client.get_run(run_id).data.tags[TAG_HEARTBEAT]
    time.sleep(0.3)
    assert client.get_run(run_id).data.tags[TAG_HEARTBEAT] == last


def test_heartbeat_stop_does_not_wait_for_the_interval(
    client: MlflowClient, experiment: str
) -> None:
    run_id = client.create_run(experiment).info.run_id
    beat = Heartbeat(client, run_id, interval_s=3600).start()
    deadline = time.time() + 20
    while TAG_HEARTBEAT not in client.get_run(run_id).data.tags and time.time() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    beat.stop()
    assert time.monotonic() - started < 3  # an Event wakes it, not the hour-long sleep
    assert not beat._thread.is_alive()


def test_heartbeat_failures_are_swallowed(client: MlflowClient) -> None:
    beat = Heartbeat(client, "0" * 32, interval_s=0.01)
    beat.beat()  # unknown run: MLflow raises, the heartbeat does not
    beat.start()
    time.sleep(0.1)
    assert beat._thread.is_alive()
    beat.stop()


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait(10)
    return proc.pid


def test_context_and_liveness_import_no_front_end_or_mlflow() -> None:
    code = (
        "import sys, jupyter_mlops.core.tracking.context, jupyter_mlops.core.tracking.liveness\n"
        "print(sorted(m for m in ('IPython', 'ipywidgets', 'tornado', 'mlflow', 'ipykernel')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
