"""Offline spool against a real sqlite MLflow store: durable entries, exact replay, bad entries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from jupyter_mlops.core.errors import TrackingUnavailable
from jupyter_mlops.core.tracking import spool
from jupyter_mlops.core.tracking.record import ArtifactFile, MetricPoint, RunRecord


def make_record(tmp_path: Path, experiment: str, n_points: int = 20, **kw: object) -> RunRecord:
    """A finished run as a tracked cell would spool it, with a file and every kind of value."""
    data = tmp_path / "work" / "model.txt"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text("weights v1")
    base = 1_700_000_000_000
    fields: dict[str, object] = {
        "experiment_name": experiment,
        "run_name": "offline-cell",
        "start_time_ms": base,
        "end_time_ms": base + 5_000,
        "status": "FINISHED",
        "params": {"learning_rate": "0.01", "epochs": "3"},
        "metrics": [MetricPoint("loss", 1.0 / (i + 1), base + 10 * i, i) for i in range(n_points)]
        + [MetricPoint("accuracy", 0.93, base + 4_000, 0)],
        "tags": {"mlflow.source.name": "train.ipynb", "jupyter_mlops.cell.hash": "abc123"},
        "artifacts": [ArtifactFile(str(data), "outputs")],
        "texts": {"cell/source.py": "learning_rate = 0.01\n"},
        "inputs": [
            {
                "name": "train.csv",
                "digest": "d41d8cd9",
                "source": "data/train.csv",
                "context": "training",
            }
        ],
    }
    fields.update(kw)
    return RunRecord(**fields)  # type: ignore[arg-type]


def history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, int, float]]:
    """(step, timestamp, value) of every stored point of ``key``, sorted."""
    return sorted((m.step, m.timestamp, m.value) for m in client.get_metric_history(run_id, key))


def runs_of(client: MlflowClient, experiment: str) -> list:
    """Every run of ``experiment`` (deleted ones too)."""
    from mlflow.entities import ViewType

    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    return client.search_runs([exp.experiment_id], run_view_type=ViewType.ALL, max_results=1000)


def test_spooled_run_replays_exactly_once_with_original_times(
    tmp_path: Path, tracking_uri: str, spool_dir: Path
) -> None:
    # Given a run spooled while offline, whose file is changed in the workspace afterwards
    record = make_record(tmp_path, "offline")
    entry = spool.spool_run(record)
    Path(record.artifacts[0].local_path).write_text("weights v2, overwritten later")
    assert entry.parent == spool_dir and spool.pending_runs() == 1

    # When the spool is replayed (twice)
    client = MlflowClient(tracking_uri)
    first = spool.replay(client)
    second = spool.replay(client)

    # Then exactly one run holds everything, with the original times and the spooled file
    assert (first.runs_replayed, first.metric_points, first.skipped) == (1, 21, [])
    assert (second.runs_replayed, second.metric_points) == (0, 0)
    assert spool.pending_runs() == 0 and not entry.exists()
    (run,) = runs_of(client, "offline")
    assert run.info.run_id == first.run_ids[0]
    assert (run.info.start_time, run.info.end_time) == (record.start_time_ms, record.end_time_ms)
    assert run.info.status == "FINISHED" and run.info.run_name == "offline-cell"
    assert run.data.params == record.params
    assert run.data.tags["mlflow.source.name"] == "train.ipynb"
    assert run.data.tags[spool.TAG_SPOOL_ID] == entry.name
    want = sorted((m.step, m.timestamp_ms, m.value) for m in record.metrics if m.key == "loss")
    assert history(client, run.info.run_id, "loss") == want
    got = Path(client.download_artifacts(run.info.run_id, "outputs/model.txt", str(tmp_path)))
    assert got.read_text() == "weights v1"
    src = client.download_artifacts(run.info.run_id, "cell/source.py", str(tmp_path / "src"))
    assert Path(src).read_text() == "learning_rate = 0.01\n"
    assert run.inputs.dataset_inputs[0].dataset.digest == "d41d8cd9"


def test_entries_replay_in_spool_order(tmp_path: Path, tracking_uri: str) -> None:
    names = [f"cell-{i}" for i in range(4)]
    for name in names:
        spool.spool_run(make_record(tmp_path, "ordered", n_points=2, run_name=name))
    result = spool.replay(MlflowClient(tracking_uri))
    client = MlflowClient(tracking_uri)
    assert [client.get_run(r).info.run_name for r in result.run_ids] == names


def test_corrupted_entry_is_skipped_with_message_and_the_rest_replayed(
    tmp_path: Path, tracking_uri: str, spool_dir: Path
) -> None:
    good_before = spool.spool_run(make_record(tmp_path, "mixed", run_name="before"))
    broken = spool.spool_run(make_record(tmp_path, "mixed", run_name="broken"))
    truncated = spool.spool_run(make_record(tmp_path, "mixed", run_name="truncated"))
    good_after = spool.spool_run(make_record(tmp_path, "mixed", run_name="after"))
    (broken / spool.ENTRY_FILE).write_text('{"version": 1, "record": {"experim')
    for path in (truncated / "files").rglob("*"):  # its copied artifact vanished
        if path.is_file():
            path.unlink()

    result = spool.replay(MlflowClient(tracking_uri))

    assert result.runs_replayed == 2 and len(result.skipped) == 2
    assert broken.name in result.skipped[0] and "corrupted" in result.skipped[0]
    assert "spooled file missing" in result.skipped[1]
    assert not result.ok and "skipped 2" in result.summary()
    names = sorted(r.info.run_name for r in runs_of(MlflowClient(tracking_uri), "mixed"))
    assert names == ["after", "before"]
    assert not good_before.exists() and not good_after.exists()
    quarantined = spool_dir / ".quarantine" / broken.name
    assert "corrupted" in (quarantined / "reason.txt").read_text()
    assert spool.pending_runs() == 0


def test_a_spool_folder_holding_other_things_is_never_touched(
    tmp_path: Path, tracking_uri: str
) -> None:
    # Given a spool dir pointed at a folder of the user's (as `--spool-dir /` would be): folders
    # and files that are not spool entries, a link to a folder, and one real entry
    folder = tmp_path / "not-a-spool"
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "tool").write_text("keep me")
    (folder / "boot").mkdir()
    (folder / ".done-mine").mkdir()
    (folder / "notes.txt").write_text("mine")
    (folder / "usr").symlink_to(folder / "bin")
    entry = spool.spool_run(make_record(tmp_path, "foreign"), spool_dir=folder)
    before = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))

    # When it is replayed
    result = spool.replay(MlflowClient(tracking_uri), folder)

    # Then only the entry was sent and removed; nothing of the user's moved or vanished
    assert result.runs_replayed == 1 and result.skipped == [] and not entry.exists()
    after = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))
    assert [p for p in before if not p.startswith(entry.name)] == [
        p for p in after if p != ".replay.lock"
    ]
    assert (folder / "bin" / "tool").read_text() == "keep me"
    assert not (folder / ".quarantine").exists()


def test_record_of_a_run_started_online_fills_that_run_without_duplicates(
    tmp_path: Path, tracking_uri: str
) -> None:
    # Given a run that got its params and the first 5 points before the server went away
    from mlflow.entities import Metric, Param

    client = MlflowClient(tracking_uri)
    exp = client.create_experiment("resumed")
    run = client.create_run(exp, start_time=1_700_000_000_000)
    record = make_record(tmp_path, "resumed", run_id=run.info.run_id)
    sent = [Metric(m.key, m.value, m.timestamp_ms, m.step) for m in record.metrics[:5]]
    client.log_batch(run.info.run_id, metrics=sent, params=[Param("epochs", "3")])

    # When the whole record is spooled and replayed
    spool.spool_run(record)
    result = spool.replay(client)

    # Then the run is completed in place: every point once, no second run
    assert result.run_ids == [run.info.run_id] and result.metric_points == 16
    assert len(runs_of(client, "resumed")) == 1
    assert len(history(client, run.info.run_id, "loss")) == 20
    done = client.get_run(run.info.run_id)
    assert done.info.status == "FINISHED" and done.data.params["learning_rate"] == "0.01"


def test_entry_the_store_refuses_is_quarantined(tmp_path: Path, tracking_uri: str) -> None:
    client = MlflowClient(tracking_uri)
    exp = client.create_experiment("refused")
    gone = client.create_run(exp)
    client.delete_run(gone.info.run_id)  # MLflow refuses writes to a deleted run (4xx)
    spool.spool_run(make_record(tmp_path, "refused", run_id=gone.info.run_id))
    spool.spool_run(make_record(tmp_path, "refused", run_name="fine"))

    result = spool.replay(client)

    assert result.runs_replayed == 1 and len(result.skipped) == 1
    assert gone.info.run_id in result.skipped[0] and "deleted" in result.skipped[0]
    assert result.pending == 0


def test_replay_is_refused_while_another_replay_holds_the_spool(
    tmp_path: Path, tracking_uri: str, spool_dir: Path
) -> None:
    from filelock import FileLock

    spool.spool_run(make_record(tmp_path, "locked"))
    with FileLock(str(spool_dir / ".replay.lock")):
        result = spool.replay(MlflowClient(tracking_uri))
    assert result.runs_replayed == 0 and "another replay" in (result.error or "")
    assert result.pending == 1
    assert spool.replay(MlflowClient(tracking_uri)).runs_replayed == 1


def test_unreachable_store_stops_replay_and_keeps_everything(tmp_path: Path) -> None:
    from jupyter_mlops.core.team.server import free_port

    for _ in range(2):
        spool.spool_run(make_record(tmp_path, "down"))
    result = spool.replay(MlflowClient(f"http://127.0.0.1:{free_port()}"))
    assert result.runs_replayed == 0 and result.error and result.pending == 2
    assert "Connection refused" in result.error or "connect" in result.error.lower()


def test_entry_meant_for_another_store_waits_for_it(tmp_path: Path, tracking_uri: str) -> None:
    spool.spool_run(make_record(tmp_path, "elsewhere"), tracking_uri="http://team:5000")
    spool.spool_run(make_record(tmp_path, "here"), tracking_uri=tracking_uri)
    result = spool.replay(MlflowClient(tracking_uri))
    assert result.runs_replayed == 1 and result.pending == 1


def test_pending_is_zero_for_a_missing_spool(tmp_path: Path) -> None:
    assert spool.pending_runs(tmp_path / "never-created") == 0
    assert spool.replay(MlflowClient("http://127.0.0.1:9"), tmp_path / "nope").runs_replayed == 0


def test_default_spool_dir_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(spool.ENV_SPOOL_DIR, str(tmp_path / "s"))
    assert spool.default_spool_dir() == tmp_path / "s"
    monkeypatch.delenv(spool.ENV_SPOOL_DIR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert spool.default_spool_dir() == tmp_path / "cache" / "jupyter-mlops" / "spool"


# --- unwritable spool ----------------------------------------------------------------------
@pytest.fixture
def read_only_dir(tmp_path: Path) -> Path:
    """A directory writes to which fail: a read-only tmpfs as root, mode 0555 otherwise."""
    target = tmp_path / "ro-spool"
    target.mkdir()
    if os.geteuid() != 0:
        target.chmod(0o555)
        yield target
        target.chmod(0o755)
        return
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(target)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"root without mount rights: {mounted.stderr.decode().strip()}")
    yield target
    subprocess.run(["umount", str(target)], check=False)


def test_read_only_spool_dir_gives_one_clear_error(tmp_path: Path, read_only_dir: Path) -> None:
    with pytest.raises(TrackingUnavailable) as info:
        spool.spool_run(make_record(tmp_path, "ro"), read_only_dir)
    message = str(info.value)
    assert "\n" not in message and str(read_only_dir) in message
    assert "not writable" in message and "not saved" in message
    assert list(read_only_dir.iterdir()) == []


DISK_FULL_CHILD = """
import resource, signal, sys
from pathlib import Path
from jupyter_mlops.core.tracking import spool
from jupyter_mlops.core.errors import TrackingUnavailable
from jupyter_mlops.core.tracking.record import ArtifactFile, RunRecord
big = Path(sys.argv[1]) / "big.bin"
big.write_bytes(b"x" * 300_000)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))  # the "disk" is full at 100 kB
try:
    spool.spool_run(RunRecord("full", artifacts=[ArtifactFile(str(big))]), Path(sys.argv[2]))
except TrackingUnavailable as exc:
    print(exc)
"""


def test_full_disk_leaves_no_half_written_entry(tmp_path: Path, spool_dir: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", DISK_FULL_CHILD, str(tmp_path), str(spool_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert out.returncode == 0, out.stderr
    assert "not writable (File too large)" in out.stdout
    assert spool_dir.is_dir() and list(spool_dir.iterdir()) == []
    assert spool.pending_runs(spool_dir) == 0


def test_entry_file_is_plain_json_of_the_record(tmp_path: Path) -> None:
    entry = spool.spool_run(make_record(tmp_path, "json"))
    data = json.loads((entry / spool.ENTRY_FILE).read_text())
    assert data["spool_id"] == entry.name
    assert data["record"]["artifacts"][0]["local_path"].startswith("files/0/")
    assert RunRecord.from_dict(data["record"]).params["epochs"] == "3"


def test_tracked_cell_keeps_its_result_when_neither_server_nor_spool_works(
    shell: object, read_only_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from IPython.utils.capture import capture_output

    from jupyter_mlops.core.team.server import free_port

    monkeypatch.setenv(spool.ENV_SPOOL_DIR, str(read_only_dir))
    shell.run_line_magic("config", f"MlopsMagics.tracking_uri = 'http://127.0.0.1:{free_port()}'")
    with capture_output() as out:
        result = shell.run_cell("%%track\nanswer = 6 * 7\n")
    assert result.success and shell.user_ns["answer"] == 42
    said = out.stdout + out.stderr
    assert "spool failed" in said and "not writable" in said, said
    assert list(read_only_dir.iterdir()) == []
