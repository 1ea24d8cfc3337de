"""The journal with real kernels: a kernel killed right after a tracked cell loses nothing, one
killed in the middle of a cell leaves one KILLED run, and many kernels delivering into one
``mlflow server`` make every run exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import start_new_kernel
from mlflow.tracking import MlflowClient

from jupyter_mlops.core import contracts as c
from jupyter_mlops.core.tracking import inflight, spool

CELL = "%%track --no-autolog\nlr = 0.25\nacc = lr * 3\nopen('weights.txt', 'w').write('w')\n"


def _kernel(project: Path, env: dict[str, str]) -> tuple[Any, Any]:
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(project), env=env)
    reply = kc.execute_interactive("%load_ext jupyter_mlops", timeout=120)
    assert reply["content"]["status"] == "ok"
    return km, kc


def _stop(km: Any, kc: Any) -> None:
    kc.stop_channels()
    if km.is_alive():
        km.shutdown_kernel(now=True)


def _all_runs(client: MlflowClient) -> list:
    ids = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(ids, max_results=5000) if ids else []


def _sync(project: Path, env: dict) -> subprocess.CompletedProcess:
    """``jupyter mlops sync`` in the project, as a user runs it; it must succeed."""
    out = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "sync"],
        cwd=project, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    return out


@pytest.mark.slow
@pytest.mark.parametrize("resume", ["jupyter mlops sync", "the next kernel"])
def test_kill_9_right_after_a_tracked_cell_loses_nothing(project, tracking_uri, resume):
    env = {k: v for k, v in os.environ.items() if k != "JPY_SESSION_NAME"}
    journal_dir = Path(env[c.ENV_SPOOL_DIR])
    # Given a kernel that just finished a tracked cell
    km, kc = _kernel(project, env)
    try:
        reply = kc.execute_interactive(CELL, timeout=120)
        assert reply["content"]["status"] == "ok"
        # When it is killed at once (before its worker could deliver the run)
        os.kill(km.provisioner.process.pid, signal.SIGKILL)
        km.provisioner.process.wait(timeout=30)
    finally:
        _stop(km, kc)
    assert spool.pending_runs(journal_dir) == 1
    # Then the run arrives once resumed: by `jupyter mlops sync`, or by the next kernel
    if resume == "jupyter mlops sync":
        _sync(project, env)
    else:
        km, kc = _kernel(project, env)
        try:
            wait = (
                "import time\nfrom jupyter_mlops.core.tracking import spool\n"
                "end = time.time() + 120\n"
                "while spool.pending_runs() and time.time() < end:\n    time.sleep(0.1)\n"
                "assert spool.pending_runs() == 0\n"
            )
            assert kc.execute_interactive(wait, timeout=180)["content"]["status"] == "ok"
        finally:
            _stop(km, kc)
    client = MlflowClient(tracking_uri)
    (run,) = _all_runs(client)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"lr": "0.25"} and run.data.metrics == {"acc": 0.75}
    paths = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"weights.txt", "cell", "environment"} <= paths
    assert spool.pending_runs(journal_dir) == 0


@pytest.mark.slow
def test_8_kernels_x_50_cells_into_one_server_make_400_runs_once(project, tmp_path):
    from jupyter_mlops.core.team.server import TeamServer

    kernels, cells = 8, 50
    server = TeamServer(
        backend_store_uri=f"sqlite:///{tmp_path / 'server.db'}",
        artifacts_destination=str(tmp_path / "artifacts"),
        workers=2,
    ).start()
    env = {k: v for k, v in os.environ.items() if k != "JPY_SESSION_NAME"}
    env["MLFLOW_TRACKING_URI"] = server.url
    started: list[tuple[Any, Any]] = []
    try:
        # Given 8 kernels sharing one journal folder and one server
        for _ in range(kernels):
            started.append(_kernel(project, env))
        errors: list[str] = []

        def work(k: int, kc: Any) -> None:
            for i in range(cells):
                body = f"%%track --no-autolog --quiet\nkernel = {k}\ncell = {i}\nscore = {k}.5\n"
                reply = kc.execute_interactive(body, timeout=120)
                if reply["content"]["status"] != "ok":
                    errors.append(f"kernel {k} cell {i}: {reply['content']}")
            wait = "from jupyter_mlops import wait_for_delivery\nassert wait_for_delivery(300)\n"
            if kc.execute_interactive(wait, timeout=400)["content"]["status"] != "ok":
                errors.append(f"kernel {k}: runs not delivered")

        # When each runs 50 tracked cells at the same time
        threads = [
            threading.Thread(target=work, args=(k, kc)) for k, (_km, kc) in enumerate(started)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors[:3]
        # Then the server holds 400 runs, one per cell, none twice
        runs = _all_runs(MlflowClient(server.url))
        pairs = [(r.data.params["kernel"], r.data.params["cell"]) for r in runs]
        assert len(runs) == kernels * cells
        assert len(set(pairs)) == kernels * cells
        assert len({r.data.tags[c.TAG_SPOOL_ID] for r in runs}) == kernels * cells
        assert {r.info.status for r in runs} == {"FINISHED"}
    finally:
        for km, kc in started:
            _stop(km, kc)
        server.stop()


LONG_CELL = "%%track --no-autolog\nlr = 0.25\nimport time\ntime.sleep(30)\nacc = lr * 3\n"


def _wait_for(check: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return bool(check())


@pytest.mark.slow
@pytest.mark.parametrize("resume", ["jupyter mlops sync", "the next kernel"])
def test_kill_9_in_the_middle_of_a_tracked_cell_leaves_one_killed_run(
    project, tracking_uri, resume
):
    env = {k: v for k, v in os.environ.items() if k != "JPY_SESSION_NAME"}
    journal_dir = Path(env[c.ENV_SPOOL_DIR])
    client = MlflowClient(tracking_uri)
    # Given a kernel in the middle of a long tracked cell whose run is made at delivery
    km, kc = _kernel(project, env)
    pid = km.provisioner.process.pid
    try:
        kc.execute(LONG_CELL)
        assert _wait_for(lambda: inflight.markers(journal_dir), 60), "no in-flight marker"
        (path,) = inflight.markers(journal_dir)
        marker = json.loads(path.read_text())
        # When the kernel is killed with SIGKILL before the cell ends
        os.kill(pid, signal.SIGKILL)
        km.provisioner.process.wait(timeout=30)
    finally:
        _stop(km, kc)
    assert _all_runs(client) == [] and spool.pending_runs(journal_dir) == 0
    # Then `jupyter mlops sync`, or the next kernel's %load_ext, delivers one KILLED run
    if resume == "jupyter mlops sync":
        out = _sync(project, env)
        assert "1 cell(s) of dead kernels journaled as KILLED" in out.stdout
    else:
        km, kc = _kernel(project, env)
        try:
            assert _wait_for(lambda: len(_all_runs(client)) == 1, 120)
            assert _wait_for(lambda: _all_runs(client)[0].info.status == "KILLED", 60)
        finally:
            _stop(km, kc)
    (run,) = _all_runs(client)
    assert run.info.status == "KILLED"
    assert run.info.start_time == marker["start_time_ms"] < run.info.end_time
    assert run.data.params == {"lr": "0.25"} and run.data.metrics == {}
    assert run.data.tags[c.TAG_KERNEL_PID] == str(pid)
    assert run.data.tags[c.TAG_SPOOL_ID] == path.stem
    source = Path(client.download_artifacts(run.info.run_id, c.ART_CELL_SOURCE)).read_text()
    assert "time.sleep(30)" in source
    assert inflight.markers(journal_dir) == [] and spool.pending_runs(journal_dir) == 0
    # And syncing again makes no second run
    again = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "sync"],
        cwd=project, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert again.returncode == 0 and len(_all_runs(client)) == 1
