"""Object store and server failures in the middle of real uploads and runs (real processes)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from jupyter_mlops.cli import main as cli_main
from jupyter_mlops.core.store import get_client
from jupyter_mlops.core.team.object_store import ObjectStore
from jupyter_mlops.core.team.server import TeamServer
from jupyter_mlops.core.tracking import spool
from jupyter_mlops.core.tracking.cellrun import track

from .conftest import make_s3_server
from .test_object_store import sha256
from .test_spool import runs_of

pytestmark = [pytest.mark.team, pytest.mark.slow]

BIG_MB = 150
PART = 5 * 1024 * 1024  # S3's smallest part: many parts, so an upload is caught midway
UPLOAD = textwrap.dedent(
    """
    import sys
    from jupyter_mlops.core.tracking.cellrun import track
    with track(sys.argv[1], "big", tracking_uri=sys.argv[2], artifacts=["small.txt", "big.bin"],
               quiet=True, max_artifact_mb=1000):
        pass
    print("cell done", flush=True)
    """
)


@pytest.fixture
def s3_team(own_s3_store: ObjectStore, tmp_path: Path) -> Iterator[TeamServer]:
    """A team server on an object store this test may kill."""
    server = make_s3_server(own_s3_store, tmp_path / "server")
    server.start()
    yield server
    server.stop()


def write_big(folder: Path) -> Path:
    """A ``BIG_MB`` file of random bytes and a small text file beside it."""
    big = folder / "big.bin"
    with open(big, "wb") as handle:
        for _ in range(BIG_MB):
            handle.write(os.urandom(1 << 20))
    (folder / "small.txt").write_text("small\n")
    return big


def start_upload(project: Path, experiment: str, url: str) -> subprocess.Popen[str]:
    """A process tracking a block that names the big file (stderr piped for its progress)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE": str(PART),
    }
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(name, None)  # the kernel side needs no bucket keys
    return subprocess.Popen(
        [sys.executable, "-c", UPLOAD, experiment, url],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_progress(proc: subprocess.Popen[str], percent: int) -> tuple[threading.Thread, list]:
    """Block until the upload's progress line passes ``percent``; keep reading stderr after."""
    seen = threading.Event()
    text: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        while chunk := proc.stderr.read(64):
            text.append(chunk)
            done = re.findall(r"uploading big\.bin: (\d+)%", "".join(text)[-400:])
            if done and int(done[-1]) >= percent:
                seen.set()
        seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert seen.wait(timeout=300)
    return reader, text


def listed_files(client: MlflowClient, run_id: str) -> dict[str, int]:
    """``{path: size}`` of every file the run lists (folders walked)."""
    files: dict[str, int] = {}
    pending: list[str | None] = [None]
    while pending:
        for info in client.list_artifacts(run_id, pending.pop()):
            if info.is_dir:
                pending.append(info.path)
            else:
                files[info.path] = int(info.file_size or 0)
    return files


def test_object_store_killed_mid_upload_spools_then_sync_completes_the_artifact(
    own_s3_store: ObjectStore,
    s3_team: TeamServer,
    project: Path,
    experiment_name: str,
    spool_dir: Path,
) -> None:
    # Given a tracked block uploading a 150 MB artifact in 5 MB parts
    big = write_big(project)
    proc = start_upload(project, experiment_name, s3_team.url)

    # When the object store is SIGKILLed once a fifth of it went up
    reader, err = wait_for_progress(proc, 20)
    own_s3_store.kill()
    proc.wait(timeout=300)
    reader.join(timeout=30)
    out = proc.stdout.read() if proc.stdout else ""

    # Then the block still finished, its record is in the spool, the progress line says so,
    # and the run lists no half-written big.bin
    assert proc.returncode == 0 and "cell done" in out, "".join(err)
    assert "interrupted" in "".join(err), "".join(err)  # the run itself waits in the journal
    assert spool.pending_runs(spool_dir) == 1
    own_s3_store.start()
    client = get_client(s3_team.url)
    (run,) = runs_of(client, experiment_name)
    assert "big.bin" not in listed_files(client, run.info.run_id)

    # When `jupyter mlops sync` runs with the store back
    assert cli_main(["sync", "--tracking-uri", s3_team.url]) == 0

    # Then the run holds every file once, complete, and the spool is empty
    (run,) = runs_of(client, experiment_name)
    files = listed_files(client, run.info.run_id)
    assert files["big.bin"] == BIG_MB << 20 and files["small.txt"] == 6
    local = client.download_artifacts(run.info.run_id, "big.bin", str(project / "down"))
    assert sha256(Path(local)) == sha256(big)
    assert run.info.status == "FINISHED"
    assert spool.pending_runs(spool_dir) == 0


def test_client_killed_mid_upload_leaves_the_artifact_list_consistent(
    s3_team: TeamServer, project: Path, experiment_name: str
) -> None:
    # Given a tracked block uploading a 150 MB artifact in parts
    write_big(project)
    proc = start_upload(project, experiment_name, s3_team.url)

    # When its process is SIGKILLed halfway through the upload
    reader, _err = wait_for_progress(proc, 40)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    reader.join(timeout=30)

    # Then every file the run lists is complete, and the half-sent big.bin is not listed
    client = get_client(s3_team.url)
    (run,) = runs_of(client, experiment_name)
    files = listed_files(client, run.info.run_id)
    assert "big.bin" not in files
    assert files.get("small.txt") == 6
    for path, size in files.items():
        local = client.download_artifacts(run.info.run_id, path, str(project / "down"))
        assert Path(local).stat().st_size == size


CELL = "alpha = 0.5\nscore = alpha * 3\n"


def tracked(url: str, experiment: str, name: str, folder: Path) -> None:
    """A tracked block that logs a param, a metric and a file artifact named after it."""
    (folder / f"{name}.txt").write_text(name)
    scope: dict[str, object] = {}
    with track(
        experiment,
        name,
        tracking_uri=url,
        namespace=scope,
        source=CELL,
        artifacts=[f"{name}.txt"],
        quiet=True,
    ):
        exec(CELL, scope)


def test_store_and_server_restarts_mid_session_lose_and_duplicate_nothing(
    own_s3_store: ObjectStore,
    s3_team: TeamServer,
    project: Path,
    experiment_name: str,
    spool_dir: Path,
) -> None:
    # Given a session of tracked blocks against a team server on the object store
    url = s3_team.url
    tracked(url, experiment_name, "before", project)

    # When the object store is down for one block, the server for the next, and both are back
    own_s3_store.kill()
    tracked(url, experiment_name, "store-down", project)
    own_s3_store.start()
    s3_team.kill()
    tracked(url, experiment_name, "server-down", project)
    spooled = spool.pending_runs(spool_dir)
    s3_team.start()
    # (within the 30 s offline back-off this block spools too; `sync` delivers everything)
    tracked(url, experiment_name, "after", project)
    assert cli_main(["sync", "--tracking-uri", url]) == 0

    # Then every block is on the server once, finished, with its param, metric and file
    client = get_client(url)
    runs = runs_of(client, experiment_name)
    names = sorted(r.info.run_name for r in runs)
    assert spooled >= 1  # at least the block run while the server was down waits in the journal
    assert names == ["after", "before", "server-down", "store-down"]
    for run in runs:
        assert run.info.status == "FINISHED"
        assert run.data.params["alpha"] == "0.5" and run.data.metrics["score"] == 1.5
        name = run.info.run_name
        local = client.download_artifacts(run.info.run_id, f"{name}.txt", str(project / name))
        assert Path(local).read_text() == name
    assert spool.pending_runs(spool_dir) == 0
