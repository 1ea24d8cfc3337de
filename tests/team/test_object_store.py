"""Artifacts on a real S3-compatible store (SeaweedFS on loopback) behind a team server."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from jupyter_mlops.cli import main as cli_main
from jupyter_mlops.core.store import get_client
from jupyter_mlops.core.team.object_store import ObjectStore
from jupyter_mlops.core.team.server import TeamServer, free_port
from jupyter_mlops.server.runs_adapter import RunsAdapter

from .test_spool import runs_of as stored_runs_of


def runs_of(client, experiment: str) -> list:  # type: ignore[no-untyped-def]
    """The experiment's runs once this process's journal delivered what it tracked."""
    from jupyter_mlops.core.tracking.journal import wait_for_delivery

    assert wait_for_delivery(120)
    return stored_runs_of(client, experiment)


pytestmark = [pytest.mark.team, pytest.mark.slow]

AWS_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL_S3")


def objects(store: ObjectStore, prefix: str) -> dict[str, dict]:
    """Every object under ``prefix`` in the store's bucket, by key."""
    listed = store.client().list_objects_v2(Bucket=store.bucket, Prefix=prefix)
    return {o["Key"]: o for o in listed.get("Contents", [])}


def prefix_of(server: TeamServer) -> str:
    """The key prefix of the server's ``s3://bucket/<prefix>`` artifacts destination."""
    return server.artifacts_destination.split("/", 3)[3]


def test_store_requires_access_keys(s3_store: ObjectStore) -> None:
    # Given the store's bucket with one object
    s3_store.client().put_object(Bucket=s3_store.bucket, Key="probe/a.txt", Body=b"secret")
    url = f"{s3_store.endpoint_url}/{s3_store.bucket}/probe/a.txt"

    # When it is read anonymously, with a wrong secret, and with the store's keys
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(url, timeout=10)
    wrong = ObjectStore(s3_store.data_dir, access_key=s3_store.access_key, secret_key="x" * 30)
    wrong.ports = s3_store.ports
    with pytest.raises(Exception, match=r"SignatureDoesNotMatch|403"):
        wrong.client().get_object(Bucket=s3_store.bucket, Key="probe/a.txt")
    body = s3_store.client().get_object(Bucket=s3_store.bucket, Key="probe/a.txt")["Body"]

    # Then only the keys open it
    assert anonymous.value.code == 403
    assert body.read() == b"secret"
    assert set(s3_store.env()) >= {"AWS_ACCESS_KEY_ID", "MLFLOW_S3_ENDPOINT_URL"}


def test_tracked_cell_artifacts_land_in_s3_and_read_back_byte_for_byte(
    s3_store: ObjectStore,
    s3_server: TeamServer,
    shell,
    project: Path,
    experiment_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a kernel that knows only the tracking URI (no bucket keys: the server proxies)
    for name in AWS_VARS:
        monkeypatch.delenv(name, raising=False)
    shell.run_line_magic("config", f"MlopsMagics.tracking_uri = {s3_server.url!r}")
    payload = os.urandom(300_000)
    (project / "payload.bin").write_bytes(payload)

    # When a tracked cell writes a binary file and a text file
    shell.run_cell(
        f"%%track -e {experiment_name} -n s3-cell\n"
        "from pathlib import Path\n"
        "data = Path('payload.bin').read_bytes()\n"
        "Path('weights.bin').write_bytes(data[::-1])\n"
        "Path('notes.txt').write_text('trained on s3')\n"
        "score = 0.5\n",
        store_history=False,
    )

    # Then the objects are in the bucket under the server's prefix, byte for byte
    client = get_client(s3_server.url)
    (run,) = runs_of(client, experiment_name)
    run_id = run.info.run_id
    keys = objects(s3_store, prefix_of(s3_server))
    weights_key = next(k for k in keys if k.endswith(f"{run_id}/artifacts/weights.bin"))
    stored = s3_store.client().get_object(Bucket=s3_store.bucket, Key=weights_key)
    assert stored["Body"].read() == payload[::-1]
    assert any(k.endswith(f"{run_id}/artifacts/cell/source.py") for k in keys)
    # ... MLflow's client reads them back through the server
    local = client.download_artifacts(run_id, "weights.bin", str(project / "down"))
    assert Path(local).read_bytes() == payload[::-1]
    # ... and so does the sidebar's adapter (listing and content)
    adapter = RunsAdapter(s3_server.url, max_artifact_bytes=10_000_000, max_entries=100)
    listing, truncated = adapter.artifact_list(run_id, run.info.artifact_uri)
    assert not truncated
    assert {"weights.bin", "notes.txt", "cell/source.py"} <= {e["path"] for e in listing}
    content, _media = adapter.artifact(run_id, "weights.bin")
    assert content == payload[::-1]
    assert adapter.artifact(run_id, "notes.txt")[0] == b"trained on s3"


@pytest.mark.parametrize(
    ("case", "code", "says"),
    [
        ("missing bucket", 64, "bucket 'no-such-bucket' does not exist"),
        ("wrong secret", 64, "refused the S3 credentials"),
        ("no keys", 64, "no S3 credentials"),
        ("endpoint down", 69, "unreachable"),
    ],
)
def test_server_cli_refuses_an_unusable_bucket_in_one_line(
    s3_store: ObjectStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    case: str,
    code: int,
    says: str,
) -> None:
    # Given the environment of a server host, broken in one way
    env = s3_store.env()
    destination = s3_store.url("mlflow")
    if case == "missing bucket":
        destination = "s3://no-such-bucket/mlflow"
    elif case == "wrong secret":
        env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
    elif case == "no keys":
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            env.pop(name)
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    elif case == "endpoint down":
        env["MLFLOW_S3_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
    for name in (*AWS_VARS, "MLFLOW_S3_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    # When `jupyter mlops server` is asked to keep artifacts there
    argv = ["server", "--artifacts-destination", destination, "--port", str(free_port())]
    argv += ["--backend-store-uri", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    result = cli_main(argv)

    # Then it refuses before starting anything, with one line and the documented code
    err = capsys.readouterr().err.strip()
    assert result == code
    assert len(err.splitlines()) == 1 and err.startswith("jupyter mlops: error:"), err
    assert says in err
    assert env.get("AWS_SECRET_ACCESS_KEY", "\0") not in err


def sha256(path: Path) -> str:
    """Hex digest of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def test_large_artifact_goes_up_in_parts_with_one_progress_line(
    s3_store: ObjectStore,
    s3_server: TeamServer,
    project: Path,
    experiment_name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a 120 MB file a tracked block names
    from jupyter_mlops.core.tracking.cellrun import track

    big = project / "big.bin"
    with open(big, "wb") as handle:
        for _ in range(120):
            handle.write(os.urandom(1 << 20))

    # When the block ends (with a cap above the file's size)
    with track(
        experiment_name,
        "large",
        tracking_uri=s3_server.url,
        artifacts=["big.bin"],
        quiet=True,
        max_artifact_mb=500,
    ):
        pass

    # Then the object was assembled from parts (S3's multipart ETag ends in -<parts>)
    client = get_client(s3_server.url)
    (run,) = runs_of(client, experiment_name)
    key = next(
        k
        for k in objects(s3_store, prefix_of(s3_server))
        if k.endswith(f"{run.info.run_id}/artifacts/big.bin")
    )
    head = s3_store.client().head_object(Bucket=s3_store.bucket, Key=key)
    assert head["ContentLength"] == 120 << 20
    assert head["ETag"].strip('"').endswith("-12")
    # ... it reads back byte for byte
    local = client.download_artifacts(run.info.run_id, "big.bin", str(project / "down"))
    assert sha256(Path(local)) == sha256(big)
    # ... and the progress was one line rewritten in place, ending at 100 %
    err = capsys.readouterr().err
    progress = [line for line in err.split("\n") if "uploading big.bin" in line]
    assert len(progress) == 1, err
    assert progress[0].startswith("\r") and "uploading big.bin: 100% (120/120 MB" in progress[0]


def test_server_cli_starts_on_a_usable_bucket_and_stops_on_sigterm(
    s3_store: ObjectStore, tmp_path: Path
) -> None:
    # Given the object store's keys and endpoint in the server host's environment
    import signal
    import subprocess
    import sys

    port = free_port()
    env = {**os.environ, **s3_store.env(), "PYTHONPATH": os.pathsep.join(sys.path)}
    argv = [sys.executable, "-m", "jupyter_mlops.cli", "server", "--port", str(port)]
    argv += ["--artifacts-destination", s3_store.url("cli"), "--workers", "1"]
    argv += ["--backend-store-uri", f"sqlite:///{tmp_path / 'db.sqlite'}"]

    # When `jupyter mlops server` starts on it and is stopped with SIGTERM
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        client = get_client(f"http://127.0.0.1:{port}")
        run = client.create_run(client.create_experiment("cli-s3"))
        (tmp_path / "hello.txt").write_text("hello")
        client.log_artifact(run.info.run_id, str(tmp_path / "hello.txt"))
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)

    # Then it said where it runs and where artifacts go, they went there, and it exited 0
    assert f"on http://127.0.0.1:{port}" in first and "artifacts s3://mlops/cli" in first
    assert any(k.endswith("/hello.txt") for k in objects(s3_store, "cli/"))
    assert code == 0


def test_large_file_through_a_server_on_a_folder_goes_up_in_one_piece(
    team_server: TeamServer,
    project: Path,
    experiment_name: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a team server whose artifacts are a local folder (no multipart there)
    from jupyter_mlops.core.tracking.cellrun import track

    monkeypatch.setenv("JUPYTER_MLOPS_LARGE_ARTIFACT_MB", "1")
    payload = os.urandom(3 << 20)
    (project / "weights.bin").write_bytes(payload)

    # When a tracked block names a file above the threshold
    with track(
        experiment_name,
        "folder",
        tracking_uri=team_server.url,
        artifacts=["weights.bin"],
        quiet=True,
    ):
        pass

    # Then it arrived whole through the ordinary upload, with its progress line, nothing spooled
    client = get_client(team_server.url)
    (run,) = runs_of(client, experiment_name)
    back = client.download_artifacts(run.info.run_id, "weights.bin", str(project / "down"))
    assert Path(back).read_bytes() == payload
    err = capsys.readouterr().err
    assert "uploading weights.bin: 100% (3/3 MB" in err and "spooled" not in err
