"""A DVC remote on the team's S3-compatible store: push, pull into a fresh clone, reproduce.

The remote is configured the DVC way: URL and endpoint in the committed ``.dvc/config``, the
keys in ``.dvc/config.local`` (git-ignored by DVC) on one machine and in the environment on the
other; no secret ever reaches git.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from IPython.core.error import UsageError

from jupyter_mlops.core.reproduce.rerun import reproduce
from jupyter_mlops.core.team.object_store import ObjectStore
from tests.conftest import git

pytestmark = [pytest.mark.team, pytest.mark.slow]


def dvc(root: Path, *args: str) -> str:
    """The ``dvc`` CLI in ``root`` (the one installed beside this Python)."""
    exe = Path(os.sys.executable).parent / "dvc"
    out = subprocess.run(
        [str(exe), *args], cwd=root, capture_output=True, text=True, timeout=120, check=True
    )
    return out.stdout


def run(shell, source: str) -> None:
    """A cell in the real shell; its error raised."""
    shell.run_cell(source, store_history=True).raise_error()


def test_snapshot_pushes_to_s3_and_a_fresh_clone_pulls_and_reproduces(
    s3_store: ObjectStore,
    shell,
    project: Path,
    tracking_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a DVC repo whose default remote is a prefix of the team bucket: URL and endpoint
    # committed, keys only in .dvc/config.local; the kernel has no AWS variables at all
    for name in (*s3_store.env(), "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    prefix = f"dvc-{uuid.uuid4().hex[:8]}"
    dvc(project, "init", "-q")
    dvc(project, "remote", "add", "-d", "team", s3_store.url(prefix))
    dvc(project, "remote", "modify", "team", "endpointurl", s3_store.endpoint_url)
    dvc(project, "remote", "modify", "--local", "team", "access_key_id", s3_store.access_key)
    dvc(project, "remote", "modify", "--local", "team", "secret_access_key", s3_store.secret_key)
    git(project, "add", ".dvc", ".dvcignore")
    git(project, "commit", "-q", "-m", "dvc remote on the team store")
    (project / "data").mkdir()
    rows = "\n".join(f"{k},{k * k % 17}" for k in range(2000))
    (project / "data" / "train.csv").write_text("a,b\n" + rows + "\n")

    # When the data is snapshot with --push and a tracked cell trains on it
    run(shell, '%dvc_snapshot data/train.csv -m "training set v1" --push')
    run(shell, "import pandas as pd")
    run(shell, "%%track -n fit\ndf = pd.read_csv('data/train.csv')\ntotal = float(df['b'].sum())")
    from mlflow.tracking import MlflowClient

    from jupyter_mlops import wait_for_delivery

    assert wait_for_delivery(120)  # the journal delivers the run in the background
    client = MlflowClient(tracking_uri)
    (found,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    run_id = found.info.run_id
    original = found.data.metrics["total"]

    # Then the data's objects are in the bucket under the remote's prefix
    listed = s3_store.client().list_objects_v2(Bucket=s3_store.bucket, Prefix=prefix + "/")
    assert listed.get("KeyCount", 0) >= 1
    # ... and no secret is in git: not in any commit, and config.local is not tracked
    history = git(project, "log", "-p", "--all")
    assert s3_store.secret_key not in history and s3_store.access_key not in history
    assert ".dvc/config.local" not in git(project, "ls-files")
    assert s3_store.endpoint_url in (project / ".dvc" / "config").read_text()

    # Given a fresh clone elsewhere: empty DVC cache, no data, keys from the environment
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(project), str(clone))
    assert not (clone / "data" / "train.csv").exists()
    assert not (clone / ".dvc" / "config.local").exists()
    monkeypatch.chdir(clone)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))

    # When %dvc_checkout runs there before the keys are set: one line, nothing written
    with pytest.raises(UsageError) as refused:
        shell.run_line_magic("dvc_checkout", run_id)
    assert len(str(refused.value).splitlines()) == 1
    assert not (clone / "data" / "train.csv").exists()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, s3_store.env()[name])

    # When %dvc_checkout restores the run's data there with the keys in the environment
    run(shell, f"%dvc_checkout {run_id}")

    # Then with the keys it was pulled from the bucket, byte for byte
    restored = (clone / "data" / "train.csv").read_bytes()
    assert restored == (project / "data" / "train.csv").read_bytes()

    # When the clone's cache is emptied again and the run is reproduced from the clone
    subprocess.run(["rm", "-rf", str(clone / ".dvc" / "cache")], check=True)
    (clone / "data" / "train.csv").unlink()
    result = reproduce(run_id, cwd=clone, tracking_uri=tracking_uri)

    # Then the slice ran on the data pulled from the remote and gave the same metric
    assert result.failure is None, result.text()
    row = next(m for m in result.metrics if m.name == "total")
    assert row.new == pytest.approx(original) and row.within_tolerance


def test_push_with_keys_in_the_committed_config_says_so(
    s3_store: ObjectStore,
    shell,
    project: Path,
    tracking_uri: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a remote whose keys were written into the git-shared .dvc/config
    prefix = f"dvc-{uuid.uuid4().hex[:8]}"
    dvc(project, "init", "-q")
    dvc(project, "remote", "add", "-d", "team", s3_store.url(prefix))
    dvc(project, "remote", "modify", "team", "endpointurl", s3_store.endpoint_url)
    dvc(project, "remote", "modify", "team", "access_key_id", s3_store.access_key)
    dvc(project, "remote", "modify", "team", "secret_access_key", s3_store.secret_key)
    (project / "data.csv").write_text("a\n1\n")

    # When the data is snapshot with --push
    run(shell, "%dvc_snapshot data.csv --push")

    # Then it is pushed, and one note says where the keys belong (naming no value)
    out = capsys.readouterr().out
    assert "keeps access_key_id, secret_access_key in .dvc/config" in out
    assert "dvc remote modify --local team" in out and s3_store.secret_key not in out
    listed = s3_store.client().list_objects_v2(Bucket=s3_store.bucket, Prefix=prefix + "/")
    assert listed.get("KeyCount", 0) == 1
