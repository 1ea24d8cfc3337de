"""``snapshot`` (the function twin of ``%dvc_snapshot``) against real git + DVC + MLflow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from jupyter_mlops import Snapshot, snapshot
from jupyter_mlops.core.errors import UsageProblem


def dvc_md5(dvcfile: Path) -> str:
    return yaml.safe_load(dvcfile.read_text())["outs"][0]["md5"]


def test_snapshot_commits_only_its_files_and_links_the_run(dvc_repo, git, new_run, dataset_inputs):
    # Given a CSV, a run, and an unrelated change the user has staged
    (dvc_repo / "data" / "train.csv").write_text("a,b\n1,x\n2,y\n3,z\n")
    (dvc_repo / "notes.txt").write_text("work in progress\n")
    git(dvc_repo, "add", "notes.txt")
    run_id = new_run()

    # When
    snap = snapshot("data/train.csv", message="training set v3", run_id=run_id)

    # Then the .dvc file and .gitignore are committed with the message, nothing else
    assert isinstance(snap, Snapshot)
    head = git(dvc_repo, "rev-parse", "HEAD").strip()
    assert git(dvc_repo, "log", "-1", "--format=%s").strip() == "training set v3"
    files = git(dvc_repo, "show", "--name-only", "--format=", "HEAD").split()
    assert sorted(files) == ["data/.gitignore", "data/train.csv.dvc"]
    assert git(dvc_repo, "diff", "--cached", "--name-only").split() == ["notes.txt"]
    # dvc's own CLI sees a clean workspace
    status = subprocess.run(
        [sys.executable, "-m", "dvc", "status"], cwd=dvc_repo, capture_output=True, text=True
    )
    assert status.returncode == 0 and "up to date" in status.stdout
    # the .dvc hash is the run's dataset digest; the source names path and revision
    md5 = dvc_md5(dvc_repo / "data" / "train.csv.dvc")
    assert snap.dvc_hash == md5 and snap.git_rev == head and snap.committed
    (inp,) = dataset_inputs(run_id)
    assert inp.dataset.digest == md5
    assert inp.dataset.name == "data/train.csv"
    assert json.loads(inp.dataset.source) == {
        "path": "data/train.csv",
        "git_rev": head,
        "committed": True,
    }
    profile = json.loads(inp.dataset.profile)
    assert profile["rows"] == 3 and profile["columns"] == 2 and profile["size"] == 16
    assert snap.rows == 3 and snap.columns == 2 and snap.schema == {"a": "int64", "b": "str"}
    assert snap.run_id == run_id and f"linked to run {run_id}" in str(snap)


def test_generated_message_names_path_and_short_hash(dvc_repo, git):
    (dvc_repo / "data" / "x.bin").write_bytes(b"\x00\x01" * 100)
    snap = snapshot("data/x.bin", link=False)
    assert git(dvc_repo, "log", "-1", "--format=%s").strip() == (
        f"data: data/x.bin {snap.dvc_hash[:8]}"
    )


def test_git_repo_without_dvc_is_initialised_and_says_so(project, tracking_uri, git):
    (project / "table.csv").write_text("a\n1\n")
    snap = snapshot("table.csv", link=False)
    assert (project / ".dvc" / "config").exists()
    assert any("initialised DVC" in note for note in snap.notes)
    committed = git(project, "show", "--name-only", "--format=", "HEAD").split()
    assert {".dvc/config", ".dvc/.gitignore", ".dvcignore", "table.csv.dvc"} <= set(committed)


def test_unchanged_resnapshot_is_a_no_op_that_says_so(dvc_repo, git):
    (dvc_repo / "data" / "a.csv").write_text("a\n1\n")
    first = snapshot("data/a.csv", link=False)
    head = git(dvc_repo, "rev-parse", "HEAD")
    second = snapshot("data/a.csv", link=False)
    assert second.unchanged and not first.unchanged
    assert "unchanged" in str(second)
    assert git(dvc_repo, "rev-parse", "HEAD") == head
    assert second.dvc_hash == first.dvc_hash and second.git_rev == first.git_rev


def test_no_commit_stages_only_and_run_records_uncommitted(dvc_repo, git, new_run, dataset_inputs):
    (dvc_repo / "data" / "a.csv").write_text("a\n1\n")
    head = git(dvc_repo, "rev-parse", "HEAD")
    run_id = new_run()
    snap = snapshot("data/a.csv", commit=False, run_id=run_id)
    assert git(dvc_repo, "rev-parse", "HEAD") == head
    staged = git(dvc_repo, "diff", "--cached", "--name-only").split()
    assert sorted(staged) == ["data/.gitignore", "data/a.csv.dvc"]
    assert not snap.committed and snap.git_rev is None
    assert any("--no-commit" in n for n in snap.notes)
    source = json.loads(dataset_inputs(run_id)[0].dataset.source)
    assert source["committed"] is False and source["git_rev"] is None
    # a later snapshot of the same data commits it
    again = snapshot("data/a.csv", link=False)
    assert again.committed and not again.unchanged
    assert git(dvc_repo, "rev-parse", "HEAD") != head


def test_no_run_at_all_still_snapshots_and_says_not_linked(dvc_repo, git):
    (dvc_repo / "data" / "a.csv").write_text("a\n1\n")
    snap = snapshot("data/a.csv")
    assert snap.run_id is None and snap.committed
    assert "not linked to any run" in str(snap)


def test_directory_snapshot_counts_files(dvc_repo, new_run, dataset_inputs):
    images = dvc_repo / "data" / "images"
    images.mkdir()
    for i in range(3):
        (images / f"{i}.txt").write_text(f"image {i}\n")
    run_id = new_run()
    snap = snapshot(["data/images"], run_id=run_id)
    assert isinstance(snap, list) and len(snap) == 1
    assert snap[0].nfiles == 3 and snap[0].dvc_hash.endswith(".dir")
    assert dataset_inputs(run_id)[0].dataset.digest == snap[0].dvc_hash


def test_two_paths_in_one_commit(dvc_repo, git):
    (dvc_repo / "data" / "a.csv").write_text("a\n1\n")
    (dvc_repo / "data" / "b.csv").write_text("b\n2\n")
    snaps = snapshot(["data/a.csv", "data/b.csv"], link=False)
    assert [s.path for s in snaps] == ["data/a.csv", "data/b.csv"]
    files = git(dvc_repo, "show", "--name-only", "--format=", "HEAD").split()
    assert {"data/a.csv.dvc", "data/b.csv.dvc"} <= set(files)


def test_push_uploads_to_the_local_remote(dvc_repo, remote_dir):
    (dvc_repo / "data" / "a.csv").write_text("a\n1\n2\n")
    snap = snapshot("data/a.csv", push=True, link=False)
    assert snap.pushed and snap.remote == "local"
    stored = remote_dir / "files" / "md5" / snap.dvc_hash[:2] / snap.dvc_hash[2:]
    assert stored.read_text() == "a\n1\n2\n"


@pytest.mark.parametrize("link_type", ["copy", "hardlink"])
def test_link_type_option(dvc_repo, link_type):
    data = dvc_repo / "data" / "a.csv"
    data.write_text("a\n1\n")
    snapshot("data/a.csv", link=False, link_type=link_type)
    cached = dvc_repo / ".dvc" / "cache" / "files" / "md5"
    (obj,) = [p for p in cached.rglob("*") if p.is_file()]
    assert (obj.stat().st_ino == data.stat().st_ino) is (link_type == "hardlink")


def test_unknown_link_type_is_one_line(dvc_repo):
    (dvc_repo / "data" / "a.csv").write_text("a\n1\n")
    with pytest.raises(UsageProblem, match="unknown link type 'softlink'"):
        snapshot("data/a.csv", link_type="softlink")


def test_push_shows_dvc_progress_on_stderr(dvc_repo, capfd):
    (dvc_repo / "data" / "big.bin").write_bytes(b"\x07" * 300_000)
    snapshot("data/big.bin", push=True, link=False)
    err = capfd.readouterr().err
    assert "Pushing" in err or "%" in err, err[-500:]


def test_parquet_snapshot_reports_rows_columns_schema(dvc_repo):
    import pandas as pd

    frame = pd.DataFrame({"id": [1, 2, 3, 4], "score": [0.1, 0.2, 0.3, 0.4]})
    frame.to_parquet(dvc_repo / "data" / "t.parquet")
    snap = snapshot("data/t.parquet", link=False)
    assert (snap.rows, snap.columns) == (4, 2)
    assert snap.schema == {"id": "int64", "score": "double"}
    assert "4 rows x 2 columns" in str(snap)


def test_literals_naming_dvc_data_are_linked_cheaply(dvc_repo, new_run, dataset_inputs, client):
    from jupyter_mlops.core.data.dvc_files import is_dvc_tracked
    from jupyter_mlops.core.data.lineage import link_versions, versions_for_paths

    folder = dvc_repo / "data" / "images"
    folder.mkdir()
    (folder / "1.txt").write_text("one\n")
    (dvc_repo / "data" / "a.csv").write_text("a\n1\n")
    snap_dir = snapshot("data/images", link=False)
    snap_a = snapshot("data/a.csv", link=False)
    assert is_dvc_tracked(folder / "1.txt") and is_dvc_tracked(dvc_repo / "data" / "a.csv")
    assert not is_dvc_tracked(dvc_repo / "README.md")
    assert not is_dvc_tracked(dvc_repo / ".dvc" / "config")

    run_id = new_run()
    literals = ["data/images/1.txt", "data/a.csv", "data/a.csv", "README.md", "x" * 5000, "a\0b"]
    versions = versions_for_paths(literals, dvc_repo)
    link_versions(client, run_id, versions, context="cell")
    assert [(v.path, v.dvc_hash) for v in versions] == [
        ("data/images", snap_dir.dvc_hash),
        ("data/a.csv", snap_a.dvc_hash),
    ]
    assert all(v.committed and v.git_rev for v in versions)
    digests = sorted(i.dataset.digest for i in dataset_inputs(run_id))
    assert digests == sorted([snap_dir.dvc_hash, snap_a.dvc_hash])

    assert versions_for_paths(["README.md", "nope.csv", ""], dvc_repo) == []
