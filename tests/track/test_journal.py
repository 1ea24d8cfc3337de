"""The journal: a tracked cell writes its record durably and returns; a background worker
delivers it exactly once, with its original times; failures of the journal or the store never
break the cell and say in one line what happened."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from IPython.utils.capture import capture_output

from jupyter_mlops.core import contracts as c
from jupyter_mlops.core.tracking import journal, liverun, spool
from jupyter_mlops.core.tracking.options import TrackOptions


def _said(out) -> str:  # type: ignore[no-untyped-def]
    """Everything a captured cell printed or displayed (the summary is a display)."""
    shown = "".join(str(o.data.get("text/plain", "")) for o in out.outputs)
    return out.stdout + shown + out.stderr


def _journal_dir() -> Path:
    return Path(os.environ[c.ENV_SPOOL_DIR])


# --- which cells need their run before their code ------------------------------------------
def test_live_run_predicate() -> None:
    plain = TrackOptions(autolog=False)
    assert liverun.live_run_reason("a = 1\n", plain, imported=()) is None
    assert liverun.live_run_reason("import mlflow\n", plain, imported=()) is not None
    assert liverun.live_run_reason("get_ipython().run_line_magic('x', '')", plain, ()) is not None
    assert liverun.live_run_reason("a = 1", TrackOptions(nested=True), ()) == "--nested"
    assert liverun.live_run_reason("a = 1", TrackOptions(log_model="m"), ()) == "--log-model"
    # autolog writes into the run only for frameworks that are imported and still autologged
    autolog = TrackOptions(autolog=True)
    assert liverun.live_run_reason("a = 1", autolog, imported=()) is None
    for framework in liverun.LIVE_AUTOLOG_FRAMEWORKS:
        assert liverun.live_run_reason("a = 1", autolog, imported={framework}) is not None
        assert liverun.live_run_reason("a = 1", plain, imported={framework}) is None
        assert liverun.live_run_reason(f"import {framework}", autolog, imported=()) is not None


def test_a_plain_cell_returns_with_a_local_id_and_is_delivered_later(tracked, tracking_uri):
    # When a cell that does not use MLflow runs under %%track
    began = int(time.time() * 1000)
    with capture_output() as out:
        result = tracked.cell("lr = 0.1\nscore = lr * 7\n", "--no-autolog", cell_id="c-1")
    ended = int(time.time() * 1000)
    assert result.success
    # Then its summary shows a local id and says it is being delivered
    said = _said(out)
    assert "local " in said and "delivering…" in said, said
    # And the worker delivers it exactly once, with the times of the cell itself
    (run,) = tracked.runs()
    assert run.data.params == {"lr": "0.1"} and run.data.metrics == {"score": 0.7000000000000001}
    assert began <= run.info.start_time <= run.info.end_time <= ended
    assert run.info.status == "FINISHED"
    assert run.data.tags[c.TAG_SPOOL_ID] in said
    assert spool.pending_runs(_journal_dir()) == 0


def test_a_cell_using_mlflow_finds_its_run_active_and_writes_into_it(tracked):
    tracked.cell(
        "import mlflow\nseen = mlflow.active_run().info.run_id\nmlflow.log_metric('m', 2)\n"
    )
    (run,) = tracked.runs()
    assert run.info.run_id == tracked.shell.user_ns["seen"]
    assert run.data.metrics["m"] == 2.0 and run.info.status == "FINISHED"
    assert "mlflow" in tracked.artifact_text(run, c.ART_CELL_SOURCE)


def test_previous_run_of_a_cell_is_linked_even_before_it_was_delivered(tracked):
    tracked.cell("x = 1.0 * 2\n", "--no-autolog", cell_id="same")
    tracked.cell("x = 1.0 * 3\n", "--no-autolog", cell_id="same")  # the first may wait still
    second, first = tracked.runs()
    assert second.data.tags[c.TAG_CELL_PREVIOUS_RUN_ID] == first.info.run_id
    assert "+x = 1.0 * 3" in tracked.artifact_text(second, c.ART_CELL_DIFF)


def test_continue_logs_into_a_run_that_was_still_in_the_journal(tracked):
    tracked.cell("first = 1.0 * 1\n", "--no-autolog")
    tracked.cell("second = 2.0 * 1\n", "--no-autolog --continue")
    (run,) = tracked.runs()
    assert run.data.metrics == {"first": 1.0, "second": 2.0}


def test_secrets_are_masked_at_delivery(tracked):
    tracked.cell('token = "ghp_' + "a" * 36 + '"\nn = 2 * 1.5\n', "--no-autolog")
    (run,) = tracked.runs()
    assert "ghp_" not in tracked.artifact_text(run, c.ART_CELL_SOURCE)


# --- failures of the journal ---------------------------------------------------------------
def test_a_file_where_the_journal_folder_should_be_falls_back_to_direct_delivery(
    tracked, tmp_path, monkeypatch
):
    # Given a journal "folder" that is a plain file (chmod does not stop root; this does)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv(c.ENV_SPOOL_DIR, str(blocker))
    # When a tracked cell runs
    with capture_output() as out:
        result = tracked.cell("kept = 6 * 7.0\n", "--no-autolog")
    # Then the cell ran, one line says it was not journaled, and the run is in the store now
    assert result.success and tracked.shell.user_ns["kept"] == 42.0
    lines = [line for line in out.stderr.splitlines() if "not journaled" in line]
    assert len(lines) == 1 and str(blocker) in lines[0], out.stderr
    client_runs = tracked.client.search_runs(
        [e.experiment_id for e in tracked.client.search_experiments()]
    )
    assert [r.data.metrics for r in client_runs] == [{"kept": 42.0}]


def test_a_corrupted_entry_is_quarantined_and_no_other_entry_is_lost(tracked):
    # Given a store that is down for a moment, so entries wait in the journal
    tracked.cell("a = 1.0 * 1\n", "--no-autolog")
    assert journal.wait_for_delivery(60)
    folder = _journal_dir()
    good = spool.spool_run(_record("good"), folder, tracking_uri=tracked.client.tracking_uri)
    bad = spool.spool_run(_record("bad"), folder, tracking_uri=tracked.client.tracking_uri)
    (bad / spool.ENTRY_FILE).write_text('{"version": 1, "record": {')  # torn write
    # When the next tracked cell runs (its worker delivers everything for this store)
    tracked.cell("b = 2.0 * 1\n", "--no-autolog")
    assert journal.wait_for_delivery(60)
    journal.deliver_pending(tracked.client.tracking_uri, timeout=60)
    # Then the corrupted entry is quarantined with its reason, every other run arrived
    names = sorted(r.info.run_name or "" for r in tracked.runs())
    assert "good" in names and "bad" not in names
    assert sorted(m for r in tracked.runs() for m in r.data.metrics) == ["a", "b", "good"]
    assert not good.exists() and not bad.exists()
    assert journal.status(folder).quarantined == 1
    reason = (folder / spool.QUARANTINE / bad.name / "reason.txt").read_text()
    assert "corrupted" in reason


def _record(name: str):  # type: ignore[no-untyped-def]
    from jupyter_mlops.core.tracking.record import MetricPoint, RunRecord

    record = RunRecord("Default", run_name=name, status="FINISHED")
    record.metrics.append(MetricPoint(name, 1.0, int(time.time() * 1000)))
    record.end_time_ms = int(time.time() * 1000)
    return record


def test_an_unreachable_store_leaves_the_run_journaled_and_says_why(shell, monkeypatch):
    from jupyter_mlops.core.team.server import free_port

    uri = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with capture_output() as out:
        result = shell.run_cell("%%track --no-autolog\nanswer = 6 * 7\nanswer\n")
    assert result.result == 42 and "delivering…" in _said(out)
    assert not journal.wait_for_delivery(1.0)
    deadline = time.monotonic() + 60
    while journal.status().failing is None and time.monotonic() < deadline:
        time.sleep(0.1)
    status = journal.status()
    assert status.pending >= 1 and status.failing and uri in status.failing
    cli = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "sync", "--status"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0 and "delivery failing: " in cli.stdout, cli.stdout + cli.stderr
    assert len(cli.stdout.strip().splitlines()) == 1
    # the entry is not lost: it is still in the journal for the next kernel or sync
    entries = spool.entry_dirs(_journal_dir())
    assert entries
    assert json.loads((entries[0] / spool.ENTRY_FILE).read_text())["tracking_uri"] == uri
    for path in entries:  # this test's entries must not follow later tests of the worker
        shutil.rmtree(path)


def test_gate_waits_for_delivery_with_a_bounded_one_line_failure(tmp_path, monkeypatch):
    from jupyter_mlops.core.errors import TrackingUnavailable
    from jupyter_mlops.core.team.server import free_port

    uri = f"http://127.0.0.1:{free_port()}"
    spool.spool_run(_record("late"), _journal_dir(), tracking_uri=uri)
    with pytest.raises(TrackingUnavailable) as info:
        journal.deliver_pending(uri, timeout=0.5)
    assert "1 tracked run(s) not delivered" in str(info.value) and "\n" not in str(info.value)


# --- the git state of a cell that ended before its probe ------------------------------------
def test_a_cell_ending_before_its_git_probe_is_delivered_with_the_state_once_read(
    tracked, project: Path
) -> None:
    import threading

    from jupyter_mlops.core.tracking import background

    # Given the kept probe threads are busy, so the cell's git probe is still queued at its end
    release = threading.Event()
    busy = [background.submit(release.wait, 60) for _ in range(background.WORKERS)]
    (project / "README.md").write_text("changed while the cell ran\n")
    try:
        with capture_output():
            assert tracked.cell("alpha = 0.5\n", "--no-autolog").success
        # Then the cell returned, and its entry waits for the state instead of being delivered
        (entry,) = spool.entry_dirs(_journal_dir())
        assert (entry / "context.pending").read_text() == str(os.getpid())
        assert not journal.wait_for_delivery(1.0)
    finally:
        release.set()
    for job in busy:
        job.result(10)
    # When the probe has read the state, the run is delivered with the commit, dirt and diff
    (run,) = tracked.runs()
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True)
    assert run.data.tags[c.TAG_GIT_COMMIT] == head.stdout.strip()
    assert run.data.tags[c.TAG_GIT_DIRTY] == "true"
    assert "+changed while the cell ran" in tracked.artifact_text(run, c.ART_GIT_DIFF)
    assert run.data.params == {"alpha": "0.5"}


def test_an_entry_whose_writer_died_before_its_git_state_is_delivered_without_it(
    tracking_uri: str, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    from jupyter_mlops.core.tracking.record import RunRecord

    # Given an entry waiting for the git state of a process that is gone
    root = tmp_path / "journal"
    record = RunRecord(experiment_name="waits", run_name="r")
    record.params = {"a": "1"}
    path = spool.spool_run(record, root, tracking_uri=tracking_uri, context_later=True)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], text=True,
                          capture_output=True)  # fmt: skip
    (path / "context.pending").write_text(gone.stdout.strip())
    # When it is replayed, delivery does not wait for it
    began = time.monotonic()
    result = spool.replay(MlflowClient(tracking_uri), root)
    assert result.runs_replayed == 1 and time.monotonic() - began < 10
    (run_id,) = result.run_ids
    run = MlflowClient(tracking_uri).get_run(run_id)
    assert run.data.params == {"a": "1"} and c.TAG_GIT_COMMIT not in run.data.tags


def test_continue_ignores_and_keeps_the_experiment_mlflow_set_experiment_chose(tracked):
    import mlflow

    # Given a tracked run, then the user's own mlflow.set_experiment in another cell
    tracked.cell("first = 1.0 * 1\n", "--no-autolog")
    chosen = mlflow.set_experiment("chosen-by-the-user").experiment_id
    # When the next cell continues the tracked run
    with capture_output() as out:
        tracked.cell("second = 2.0 * 1\n", "--no-autolog --continue")
    # Then it logs into that run (MLflow's start_run refused it before), one run in all
    assert "unavailable" not in _said(out), _said(out)
    (run,) = [r for r in tracked.runs() if r.data.metrics]
    assert run.data.metrics == {"first": 1.0, "second": 2.0}
    # And the user's choice of experiment is still theirs
    from jupyter_mlops.core.mlflow_internals import active_experiment_id

    assert active_experiment_id() == chosen
