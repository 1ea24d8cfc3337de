"""Team mode against real ``mlflow server`` processes: spool while down, replay when back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from jupyter_mlops.cli import main as cli_main
from jupyter_mlops.core.errors import TrackingUnavailable
from jupyter_mlops.core.store import get_client
from jupyter_mlops.core.team.server import TeamServer, free_port, is_healthy
from jupyter_mlops.core.tracking import spool
from jupyter_mlops.core.tracking.cellrun import track
from jupyter_mlops.core.tracking.journal import wait_for_delivery

from .conftest import BACKENDS, make_server
from .test_spool import history, make_record, runs_of

pytestmark = [pytest.mark.team, pytest.mark.slow]

CELL = "learning_rate = 0.05\nscore = learning_rate * 18\nlosses = [score / k for k in (1, 2, 4)]\n"


def tracked_cell(uri: str, experiment: str, run_name: str, delivered: bool = True) -> None:
    """What ``%%track`` does for CELL, through its function twin (then waits for the journal's
    worker to deliver it, unless the server is known to be down)."""
    scope: dict[str, object] = {}
    with track(experiment, run_name, tracking_uri=uri, namespace=scope, source=CELL, quiet=True):
        exec(CELL, scope)
    if delivered:
        assert wait_for_delivery(120)


@pytest.mark.parametrize("backend", BACKENDS)
def test_server_down_spools_then_sync_delivers_everything_once(
    backend: str, tmp_path: Path, experiment_name: str, spool_dir: Path, project: Path
) -> None:
    # Given the team server's address, with nothing listening there, while two cells run
    server = make_server(backend, tmp_path / "server")
    server.port = free_port()
    url = server.url
    assert not is_healthy(url)
    for name in ("offline-1", "offline-2"):
        tracked_cell(url, experiment_name, name, delivered=False)
    assert spool.pending_runs() == 2
    spooled = [spool.SpoolEntry.load(p).record for p in spool.entry_dirs(spool_dir)]

    # When `jupyter mlops sync` runs while it is down (nothing is lost), and once it is up
    assert cli_main(["sync", "--tracking-uri", url]) == 69
    assert spool.pending_runs() == 2
    with server:
        assert cli_main(["sync", "--tracking-uri", url]) == 0
        assert cli_main(["sync", "--tracking-uri", url]) == 0  # idempotent
        check_delivered(get_client(url), experiment_name, spooled, project)
    assert spool.pending_runs() == 0


def check_delivered(
    client: MlflowClient, experiment_name: str, spooled: list, project: Path
) -> None:
    """The server holds each spooled run once, as the cell logged it, with its times."""
    runs = sorted(runs_of(client, experiment_name), key=lambda r: r.info.run_name)
    assert [r.info.run_name for r in runs] == ["offline-1", "offline-2"]
    for run, record in zip(runs, spooled, strict=True):
        assert run.info.start_time == record.start_time_ms
        assert run.info.end_time == record.end_time_ms and run.info.status == "FINISHED"
        assert run.data.params["learning_rate"] == "0.05"
        assert run.data.metrics["score"] == pytest.approx(0.9)
        losses = [v for _s, _t, v in history(client, run.info.run_id, "losses")]
        assert losses == pytest.approx([0.9, 0.45, 0.225])
        stamps = {m.timestamp_ms for m in record.metrics if m.key == "score"}
        assert {t for _s, t, _v in history(client, run.info.run_id, "score")} == stamps
        source = client.download_artifacts(run.info.run_id, "cell/source.py", str(project))
        assert Path(source).read_text() == CELL


def test_next_tracked_cell_replays_the_spool(
    team_server: TeamServer, experiment_name: str, project: Path
) -> None:
    spool.spool_run(make_record(project, experiment_name, run_name="from-before"))
    tracked_cell(team_server.url, experiment_name, "online")
    names = {r.info.run_name for r in runs_of(get_client(team_server.url), experiment_name)}
    assert names == {"from-before", "online"} and spool.pending_runs() == 0


REPLAYER = """
import sys
from pathlib import Path
from mlflow.tracking import MlflowClient
from jupyter_mlops.core.tracking import spool
print(spool.replay(MlflowClient(sys.argv[1]), Path(sys.argv[2]), batch_size=4).summary())
"""


def stored_points(client: MlflowClient, experiment: str) -> int:
    """Metric points the server holds for ``experiment`` (all keys, all runs)."""
    return sum(
        len(client.get_metric_history(r.info.run_id, key))
        for r in runs_of(client, experiment)
        for key in r.data.metrics
    )


def test_replay_killed_midway_then_rerun_duplicates_nothing(
    team_server: TeamServer,
    experiment_name: str,
    spool_dir: Path,
    tmp_path: Path,
    wait_for: Callable[..., bool],
) -> None:
    # Given 6 spooled runs of 61 points each, replayed 4 points per request by a child process
    records = [
        make_record(tmp_path, experiment_name, n_points=60, run_name=f"r{i}") for i in range(6)
    ]
    entries = [spool.spool_run(r) for r in records]
    client = get_client(team_server.url)
    child = subprocess.Popen(
        [sys.executable, "-c", REPLAYER, team_server.url, str(spool_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )

    # When the child is SIGKILLed in the middle of the replay
    total = sum(len(r.metrics) for r in records)
    assert wait_for(lambda: stored_points(client, experiment_name) >= 70, timeout=120, every=0.05)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    partial = stored_points(client, experiment_name)
    assert 0 < partial < total, "the kill should land mid-replay"

    # Then a second replay completes it: one run per entry, every point exactly once
    result = spool.replay(client)
    assert result.error is None and result.skipped == [] and result.pending == 0
    assert result.metric_points == total - partial
    runs = runs_of(client, experiment_name)
    assert sorted(r.info.run_name for r in runs) == [f"r{i}" for i in range(6)]
    by_spool_id = {r.data.tags[spool.TAG_SPOOL_ID]: r for r in runs}
    assert sorted(by_spool_id) == [e.name for e in entries]
    for entry, record in zip(entries, records, strict=True):
        run_id = by_spool_id[entry.name].info.run_id
        want = sorted((m.step, m.timestamp_ms, m.value) for m in record.metrics if m.key == "loss")
        assert history(client, run_id, "loss") == want
        assert client.get_run(run_id).info.status == "FINISHED"
    assert stored_points(client, experiment_name) == total


def test_mlops_sync_magic_through_a_real_shell(
    shell: object, team_server: TeamServer, experiment_name: str, tmp_path: Path
) -> None:
    from IPython.core.error import UsageError
    from IPython.utils.capture import capture_output

    spool.spool_run(make_record(tmp_path, experiment_name))
    shell.run_line_magic("config", f"MlopsMagics.tracking_uri = {team_server.url!r}")
    with capture_output() as status:
        shell.run_line_magic("mlops_sync", "--status")
    with capture_output() as synced:
        shell.run_line_magic("mlops_sync", "")
    assert status.stdout.strip().startswith("1 run(s) waiting for delivery, oldest journaled ")
    assert synced.stdout.strip() == "replayed 1 spooled run(s), 21 metric point(s)"
    assert len(runs_of(get_client(team_server.url), experiment_name)) == 1
    with pytest.raises(UsageError, match="no spool directory"):
        shell.run_line_magic("mlops_sync", f"--spool-dir {tmp_path / 'missing'}")


def test_cli_sync_exit_codes_in_a_real_process(tmp_path: Path, spool_dir: Path) -> None:
    spool.spool_run(make_record(tmp_path, "cli"))
    dead = f"http://127.0.0.1:{free_port()}"
    cmd = [sys.executable, "-m", "jupyter_mlops.cli", "sync"]
    env = {**os.environ, "JUPYTER_MLOPS_SPOOL_DIR": str(spool_dir)}
    down = subprocess.run([*cmd, "--tracking-uri", dead], capture_output=True, text=True, env=env)
    assert down.returncode == 69 and "1 run(s) still spooled" in down.stdout
    status = subprocess.run([*cmd, "--status"], capture_output=True, text=True, env=env)
    assert status.returncode == 0
    store, _, line = status.stdout.strip().partition(": ")  # the line is for the resolved store
    assert store.startswith("sqlite:///") and line.startswith("1 run(s) waiting for delivery, ")
    assert f"; delivery failing: {dead}: " in status.stdout
    bad = subprocess.run([*cmd, "--spool-dir", str(tmp_path / "nope")], capture_output=True)
    assert bad.returncode == 64 and len(bad.stderr.decode().strip().splitlines()) == 1


def test_server_that_cannot_start_says_why(tmp_path: Path) -> None:
    server = TeamServer(
        backend_store_uri="bogus://nowhere",
        artifacts_destination=str(tmp_path / "a"),
        log_path=tmp_path / "server.log",
    )
    with pytest.raises(TrackingUnavailable, match="mlflow server exited with code"):
        server.start()
    assert not server.running


def test_basic_auth_credentials_pass_through_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, experiment_name: str
) -> None:
    # MLflow's basic-auth app; its first admin comes from an ini file named by env var
    ini = tmp_path / "auth.ini"
    ini.write_text(
        textwrap.dedent(f"""
        [mlflow]
        default_permission = READ
        database_uri = sqlite:///{tmp_path / "auth.db"}
        admin_username = admin
        admin_password = s3cret-Passw0rd!
        authorization_function = mlflow.server.auth:authenticate_request_basic_auth
        """)
    )
    monkeypatch.setenv("MLFLOW_AUTH_CONFIG_PATH", str(ini))
    monkeypatch.setenv("MLFLOW_FLASK_SERVER_SECRET_KEY", "test-only-secret")
    server = TeamServer(
        f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "art"), app_name="basic-auth"
    )
    server.log_path = tmp_path / "server.log"
    with server:
        spool.spool_run(make_record(tmp_path, experiment_name))
        anonymous = spool.replay(MlflowClient(server.url))
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "s3cret-Passw0rd!")
        allowed = spool.replay(MlflowClient(server.url))
    # without credentials nothing is lost: the entry waits; with them it arrives
    assert anonymous.runs_replayed == 0 and anonymous.pending == 1 and not anonymous.skipped
    assert "401" in (anonymous.error or "") or "auth" in (anonymous.error or "").lower()
    assert allowed.runs_replayed == 1, allowed.summary()
