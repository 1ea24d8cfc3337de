"""In-flight markers (core/tracking/inflight.py) through a real shell, real processes and a real
sqlite store: a cell whose run is created at delivery leaves a marker only while it runs; the
marker of a process that is gone becomes one KILLED run, a live process's marker is left alone,
and a marker left behind by a cell that finished never makes a second run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_mlops.core import contracts as c
from jupyter_mlops.core.team.sync import sync
from jupyter_mlops.core.tracking import inflight, spool
from jupyter_mlops.core.tracking.journal import wait_for_delivery
from jupyter_mlops.core.tracking.record import RunRecord

# the cell keeps a copy of its own marker, as a kernel killed at this moment would leave it
CELL = (
    "lr = 0.25\nepochs = 3\nimport glob, pathlib\n"
    "seen = [pathlib.Path(p).read_text() for p in glob.glob(MARKERS + '/*.json')]\n"
    "acc = lr * 2\n"
)


def _journal() -> Path:
    return Path(os.environ[c.ENV_SPOOL_DIR])


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)
    return child.pid


@pytest.fixture
def live_child() -> Iterator[subprocess.Popen]:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield child
    child.kill()
    child.wait(timeout=30)


def _place(marker: dict, **changes: object) -> Path:
    """Write ``marker`` (changed) into the journal's marker folder as a dead kernel left it."""
    data = {**marker, **changes}
    path = _journal() / inflight.MARKERS / f"{data['spool_id']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def _marker_of_a_cell(tracked) -> dict:  # type: ignore[no-untyped-def]
    tracked.shell.user_ns["MARKERS"] = str(_journal() / inflight.MARKERS)
    assert tracked.cell(CELL, "--no-autolog --quiet", cell_id="cell-a").success
    (text,) = tracked.shell.user_ns["seen"]
    return json.loads(text)


def test_a_cell_has_a_marker_only_while_it_runs_and_normal_cells_leave_none(tracked):
    # Given cells that finish, fail, and use MLflow (live: its run exists before the code)
    marker = _marker_of_a_cell(tracked)
    tracked.cell("x = 1\nraise ValueError('boom')\n", "--no-autolog --quiet")
    tracked.cell("import mlflow\nmlflow.log_metric('m', 1.0)\n", "--no-autolog --quiet")
    # Then the running cell's marker said what is known at its start
    assert marker["pid"] == os.getpid() and marker["host"] == socket.gethostname()
    assert marker["params"] == {"lr": "0.25", "epochs": "3"}
    assert marker["tags"][c.TAG_CELL_ID] == "cell-a" and "lr = 0.25" in marker["source"]
    assert marker["experiment"] == "Default" and marker["tracking_uri"]
    # And none is left once the cells ended, and a sync makes no run of them
    assert wait_for_delivery(60)
    assert inflight.markers() == []
    assert sync().recovered == []
    runs = tracked.runs()
    assert sorted(r.info.status for r in runs) == ["FAILED", "FINISHED", "FINISHED"]
    # And the first cell's run carries the spool id its marker had
    ids = {r.data.tags[c.TAG_SPOOL_ID] for r in runs}
    assert marker["spool_id"] in ids


def test_the_marker_of_a_dead_process_becomes_one_killed_run(tracked):
    # Given the marker a kernel killed in the middle of this cell would have left
    marker = _marker_of_a_cell(tracked)
    assert wait_for_delivery(60)
    killed = _place(marker, spool_id=spool.new_spool_id(), pid=_dead_pid())
    before = {r.info.run_id for r in tracked.runs()}
    # When the journal is synced
    result = sync()
    # Then one KILLED run holds what was known at the cell's start, with its start time
    assert result.recovered == [killed.stem] and "1 cell(s) of dead kernels" in result.summary()
    assert not killed.exists()
    (run,) = [r for r in tracked.runs() if r.info.run_id not in before]
    assert run.info.status == "KILLED"
    assert run.info.start_time == marker["start_time_ms"] <= run.info.end_time
    assert run.data.params == {"lr": "0.25", "epochs": "3"} and run.data.metrics == {}
    assert run.data.tags[c.TAG_CELL_ID] == "cell-a"
    assert run.data.tags[c.TAG_SPOOL_ID] == killed.stem
    assert "acc = lr * 2" in tracked.artifact_text(run, c.ART_CELL_SOURCE)
    # And a second sync (or a second recovery) makes nothing more
    assert sync().recovered == [] and len(tracked.runs()) == 2


def test_a_marker_left_after_its_cell_finished_never_makes_a_second_run(tracked):
    # Given a cell whose run was delivered, and its marker left behind by a dead kernel (killed
    # after the entry was published, before the marker was removed)
    marker = _marker_of_a_cell(tracked)
    (run,) = tracked.runs()
    left = _place(marker, pid=_dead_pid())
    # When the journal is synced, twice
    first, second = sync(), sync()
    # Then the marker is gone and the delivered run is as it was: FINISHED, its metric kept
    assert not left.exists() and second.recovered == []
    (again,) = tracked.runs()
    assert again.info.run_id == run.info.run_id and again.info.status == "FINISHED"
    assert again.data.metrics == run.data.metrics and again.info.end_time == run.info.end_time
    assert first.runs_replayed == 1  # the recovered entry left the journal, untouched run


def test_a_marker_whose_entry_waits_in_the_journal_is_only_removed(tmp_path):
    # Given an entry waiting in the journal and the marker of the same cell, its process dead
    entry = spool.spool_run(RunRecord("exp", status="FINISHED"), tmp_path / "journal")
    marker = {
        "version": inflight.FORMAT_VERSION, "spool_id": entry.name, "pid": _dead_pid(),
        "host": socket.gethostname(), "started": time.time(), "experiment": "exp",
    }  # fmt: skip
    path = tmp_path / "journal" / inflight.MARKERS / f"{entry.name}.json"
    path.parent.mkdir()
    path.write_text(json.dumps(marker))
    # When markers are recovered
    made = inflight.recover(tmp_path / "journal")
    # Then no KILLED entry replaces the cell's own; the marker is gone
    assert made == [] and not path.exists()
    assert spool.pending_runs(tmp_path / "journal") == 1
    assert json.loads((entry / spool.ENTRY_FILE).read_text())["record"]["status"] == "FINISHED"


def test_live_processes_other_hosts_and_fresh_torn_markers_are_left_alone(tmp_path, live_child):
    root = tmp_path / "journal"
    folder = root / inflight.MARKERS
    folder.mkdir(parents=True)
    now = time.time()
    base = {"version": inflight.FORMAT_VERSION, "host": socket.gethostname(), "experiment": "e"}

    def place(pid: int, started: float, **more: object) -> Path:
        sid = spool.new_spool_id()
        path = folder / f"{sid}.json"
        path.write_text(
            json.dumps({**base, "spool_id": sid, "pid": pid, "started": started, **more})
        )
        return path

    # Given markers of a live process that started before its cell, of another host, a torn one
    alive = place(live_child.pid, now + 5)
    elsewhere = place(_dead_pid(), now, host="another-host.invalid")
    torn = folder / f"{spool.new_spool_id()}.json"
    torn.write_text('{"version": 1, "spo')
    # And the marker of a cell started an hour before that pid's process did (pid reused)
    reused = place(live_child.pid, now - 3600)
    # When markers are recovered
    made = inflight.recover(root)
    # Then only the reused pid's cell became a KILLED entry
    assert made == [reused.stem] and not reused.exists()
    assert alive.exists() and elsewhere.exists() and torn.exists()
    assert spool.pending_runs(root) == 1
    # And a torn marker older than the grace period is removed (its writer died writing it)
    old = time.time() - inflight.UNREADABLE_GRACE_S - 10
    os.utime(torn, (old, old))
    assert inflight.recover(root) == [] and not torn.exists() and alive.exists()
