"""Re-runs, failures, bad input and an unavailable store: the user's cell always stands."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time

import mlflow
import pytest
from IPython.core.error import UsageError

from jupyter_mlops.core import contracts as c
from jupyter_mlops.core.tracking import journal, spool


def test_rerun_with_changed_code_links_previous_run_and_diff(tracked):
    tracked.cell("a = 1.0 * 2\n", "--no-autolog", cell_id="cell-1")
    first = tracked.last()
    tracked.cell("a = 1.0 * 3\n", "--no-autolog", cell_id="cell-1")
    second = tracked.last()
    assert second.info.run_id != first.info.run_id
    assert second.data.tags[c.TAG_CELL_ID] == "cell-1"
    assert second.data.tags[c.TAG_CELL_PREVIOUS_RUN_ID] == first.info.run_id
    diff = tracked.artifact_text(second, c.ART_CELL_DIFF)
    assert "-a = 1.0 * 2" in diff and "+a = 1.0 * 3" in diff


def test_previous_run_is_found_in_the_store_after_a_kernel_restart(tracked):
    from jupyter_mlops.core.tracking.cellrun import STATE

    tracked.cell("b = 1.0 * 2\n", "--no-autolog", cell_id="cell-9")
    first = tracked.last()
    STATE.previous.clear()  # what a new kernel starts with
    tracked.cell("b = 1.0 * 5\n", "--no-autolog", cell_id="cell-9")
    second = tracked.last()
    assert second.data.tags[c.TAG_CELL_PREVIOUS_RUN_ID] == first.info.run_id
    assert "+b = 1.0 * 5" in tracked.artifact_text(second, c.ART_CELL_DIFF)


def test_failing_cell_marks_run_failed_keeps_values_and_propagates(tracked):
    result = tracked.cell(
        "import mlflow\nbefore = 2 * 0.25\nmlflow.log_metric('manual', 3.0)\n"
        "raise ValueError('broken data')\n",
        "--no-autolog",
    )
    assert isinstance(result.error_in_exec, ValueError)
    assert str(result.error_in_exec) == "broken data"
    run = tracked.last()
    assert run.info.status == "FAILED"
    assert run.data.metrics == {"before": 0.5, "manual": 3.0}
    assert "ValueError: broken data" in tracked.artifact_text(run, c.ART_CELL_TRACEBACK)


def test_failing_cell_raises_the_original_exception_to_the_caller(tracked):
    with pytest.raises(ZeroDivisionError):
        tracked.magic("x = 1 / 0\n", "--no-autolog")
    assert tracked.last().info.status == "FAILED"


def test_keyboard_interrupt_marks_run_killed(tracked):
    with pytest.raises(KeyboardInterrupt):
        tracked.magic("raise KeyboardInterrupt\n", "--no-autolog")
    assert tracked.last().info.status == "KILLED"
    assert mlflow.active_run() is None


@pytest.mark.parametrize(
    ("line", "body", "message"),
    [
        ("--bogus", "a = 1\n", "unrecognized arguments"),
        ("--param lr", "a = 1\n", "--param expects KEY=VALUE"),
        ("--artifact missing.txt", "a = 1\n", "no such file: missing.txt"),
        ("", "   \n", "the cell is empty"),
        ("--continue", "a = 1\n", "no previous tracked run"),
        ("-e ''", "a = 1\n", "experiment name is empty"),
        ("--log-model nothing", "a = 1\n", "no variable named 'nothing'"),
        ("--register m", "a = 1\n", "--register needs --log-model"),
    ],
)
def test_bad_input_is_one_usage_error_and_logs_nothing(tracked, line, body, message):
    from jupyter_mlops.core.tracking.cellrun import STATE

    STATE.last_run = None
    with pytest.raises(UsageError) as info:
        tracked.magic(body, line)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert tracked.runs() == []


def test_log_model_of_an_unknown_object_is_a_usage_error(tracked):
    tracked.shell.user_ns["thing"] = object()
    with pytest.raises(UsageError, match="no MLflow flavor knows"):
        tracked.magic("y = 1\n", "--log-model thing")


def test_invalid_experiment_magic(tracked):
    with pytest.raises(UsageError, match="experiment name is empty"):
        tracked.shell.run_line_magic("mlops_experiment", "")


def test_continue_logs_into_the_previous_run_and_reports_changed_params(tracked, capsys):
    tracked.cell("lr = 0.1\nloss = 0.5 * 1\n", "--no-autolog")
    first = tracked.last()
    tracked.cell("lr = 0.2\nacc = 0.5 + 0.4\n", "--no-autolog --continue")
    runs = tracked.runs()
    assert len(runs) == 1
    run = runs[0]
    assert run.info.run_id == first.info.run_id
    assert run.data.params["lr"] == "0.1"
    assert run.data.tags[c.PREFIX + "param_changed.lr"] == "0.1 -> 0.2"
    assert set(run.data.metrics) == {"loss", "acc"}
    assert "param 'lr' changed" in capsys.readouterr().err


def test_nested_needs_an_active_run_and_becomes_its_child(tracked):
    with pytest.raises(UsageError, match="no active MLflow run"):
        tracked.magic("a = 1\n", "--nested")
    parent = mlflow.start_run(run_name="outer")
    try:
        tracked.cell("a = 1.5 * 2\n", "--no-autolog --nested")
    finally:
        mlflow.end_run()
    child = next(r for r in tracked.runs() if r.info.run_id != parent.info.run_id)
    assert child.data.tags[c.TAG_PARENT_RUN_ID] == parent.info.run_id


def test_an_active_run_without_nested_is_refused(tracked):
    mlflow.start_run()
    try:
        with pytest.raises(UsageError, match="use --nested"):
            tracked.magic("a = 1\n", "--no-autolog")
    finally:
        mlflow.end_run()


def test_pipeline_parent_from_environment(tracked, monkeypatch):
    parent = tracked.client.create_run(tracked.client.create_experiment("pipe"))
    monkeypatch.setenv(c.ENV_PARENT_RUN_ID, parent.info.run_id)
    tracked.cell("m = 0.5 * 3\n", "--no-autolog -e ignored-under-pipeline")
    child = next(r for r in tracked.runs() if r.info.run_id != parent.info.run_id)
    assert child.data.tags[c.TAG_PARENT_RUN_ID] == parent.info.run_id
    assert child.data.tags[c.TAG_PIPELINE_RUN_ID] == parent.info.run_id
    assert child.info.experiment_id == parent.info.experiment_id


def test_disable_env_passes_the_cell_through(tracked, monkeypatch):
    monkeypatch.setenv(c.ENV_DISABLE, "1")
    result = tracked.cell("value = 6 * 7\nvalue\n", "--this-flag-is-not-even-parsed")
    assert result.result == 42
    assert tracked.runs() == []


def test_unreachable_server_keeps_the_cell_result_and_says_so(shell, monkeypatch, capsys):
    # a cell that uses MLflow needs its run before its code runs, so it meets the server now
    # (a cell that does not is journaled and never waits: see test_journal.py)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens there
    result = shell.run_cell("%%track --no-autolog\nimport mlflow\nanswer = 6 * 7\nanswer\n")
    assert result.result == 42
    assert shell.user_ns["answer"] == 42
    err = capsys.readouterr().err
    assert "unavailable" in err
    assert "1 run spooled" in err


def test_bad_store_uri_keeps_the_cell_result(shell, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "notascheme://nowhere")
    result = shell.run_cell("%%track --no-autolog\nimport mlflow\nanswer = 6 * 7\nanswer\n")
    assert result.result == 42
    assert "jupyter-mlops:" in capsys.readouterr().err
    # a cell without MLflow is journaled; the delivery failure is kept for the status
    result = shell.run_cell("%%track --no-autolog\nanswer = 6 * 7\nanswer\n")
    assert result.result == 42
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not journal.status().failing:
        time.sleep(0.1)
    assert "notascheme://nowhere" in (journal.status().failing or "")
    for entry in spool.entry_dirs(journal.journal_root()):  # not for the tests that follow
        shutil.rmtree(entry)


def test_database_locked_for_a_moment_is_retried_not_lost(tracked, tracking_uri):
    db = tracking_uri.removeprefix("sqlite:///")
    tracked.cell("warm = 1.0 * 1\n", "--no-autolog")  # store and experiment exist
    holder = sqlite3.connect(db, timeout=0, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(1.5, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        result = tracked.cell("locked = 2.0 * 2\n", "--no-autolog")
    finally:
        release.join()
        holder.close()
    assert result.error_in_exec is None
    assert any(r.data.metrics.get("locked") == 4.0 for r in tracked.runs())


def test_orphan_of_a_dead_kernel_is_killed_when_the_extension_loads(tracked):
    import socket
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    exp = tracked.client.create_experiment("orphans")
    run = tracked.client.create_run(
        exp,
        tags={
            c.TAG_KERNEL_HOST: socket.gethostname(),
            c.TAG_KERNEL_PID: str(dead.pid),
            c.TAG_HEARTBEAT: str(int(time.time())),
            c.TAG_USER: __import__("getpass").getuser(),
        },
    )
    tracked.shell.run_line_magic("reload_ext", "jupyter_mlops")
    for _ in range(100):
        if tracked.client.get_run(run.info.run_id).info.status == "KILLED":
            break
        time.sleep(0.1)
    assert tracked.client.get_run(run.info.run_id).info.status == "KILLED"


def test_after_an_unreachable_server_cells_back_off_instead_of_waiting(shell, monkeypatch, capsys):
    from jupyter_mlops.core.tracking.cellrun import STATE

    uri = "http://127.0.0.1:7"  # nothing listens there
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    STATE.offline_until.pop(uri, None)
    # cells that use MLflow (so they need their run now); other cells never wait at all
    shell.run_cell("%%track --no-autolog\nimport mlflow\nfirst = 2 * 1.5")
    assert "retrying in" not in capsys.readouterr().err
    result = shell.run_cell("%%track --no-autolog\nimport mlflow\nsecond = 2 * 2.5\nsecond")
    assert result.result == 5.0
    err = capsys.readouterr().err
    assert "retrying in" in err and "1 run spooled" in err
    STATE.offline_until.pop(uri, None)
