"""Going back: ``checkout_data`` restores a run's data version; ``data_lineage`` lists versions."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from jupyter_mlops import checkout_data, data_lineage, snapshot
from jupyter_mlops.core.errors import UsageProblem

V1 = b"id,label\n1,cat\n2,dog\n"
V2 = b"id,label\n1,cat\n2,dog\n3,bird\n"


@pytest.fixture
def two_versions(dvc_repo, new_run):
    """data/train.csv snapshotted twice, each version used by its own run."""
    data = dvc_repo / "data" / "train.csv"
    data.write_bytes(V1)
    first = new_run(accuracy=0.81)
    s1 = snapshot("data/train.csv", message="v1", run_id=first)
    data.write_bytes(V2)
    second = new_run(accuracy=0.93)
    s2 = snapshot("data/train.csv", message="v2", run_id=second, push=True)
    return first, second, s1, s2


def test_checkout_restores_the_first_version_byte_for_byte(dvc_repo, two_versions, git):
    first, _, s1, _ = two_versions
    restored = checkout_data(first)
    assert [v.dvc_hash for v in restored] == [s1.dvc_hash]
    assert (dvc_repo / "data" / "train.csv").read_bytes() == V1
    # the matching .dvc file is the one committed with v1
    committed = git(dvc_repo, "show", f"{s1.git_rev}:data/train.csv.dvc")
    assert (dvc_repo / "data" / "train.csv.dvc").read_text() == committed


def test_checkout_fetches_from_the_remote_when_not_cached(dvc_repo, two_versions):
    # Given v2 only on the remote (cache and work tree gone)
    _, second, _, _ = two_versions
    shutil.rmtree(dvc_repo / ".dvc" / "cache")
    (dvc_repo / "data" / "train.csv").unlink()
    # When
    checkout_data(second)
    # Then
    assert (dvc_repo / "data" / "train.csv").read_bytes() == V2


def test_checkout_missing_everywhere_is_one_line_and_keeps_dvc_file(dvc_repo, two_versions):
    first, *_ = two_versions  # v1 was never pushed
    before = (dvc_repo / "data" / "train.csv.dvc").read_text()
    shutil.rmtree(dvc_repo / ".dvc" / "cache")
    (dvc_repo / "data" / "train.csv").unlink()
    with pytest.raises(Exception) as exc:
        checkout_data(first)
    assert "neither in the DVC cache nor fetchable" in str(exc.value)
    assert "\n" not in str(exc.value)
    assert (dvc_repo / "data" / "train.csv.dvc").read_text() == before


def test_checkout_refuses_to_drop_the_only_copy_of_the_data(dvc_repo, two_versions):
    # v2 is pushed, but once the cache is gone the work tree holds the only local copy
    first, *_ = two_versions
    shutil.rmtree(dvc_repo / ".dvc" / "cache")
    with pytest.raises(UsageProblem, match="has local changes not saved in DVC"):
        checkout_data(first)
    assert (dvc_repo / "data" / "train.csv").read_bytes() == V2


def test_checkout_refuses_unsaved_local_changes_without_force(dvc_repo, two_versions):
    first, *_ = two_versions
    data = dvc_repo / "data" / "train.csv"
    data.write_bytes(b"id,label\nhand-edited\n")
    with pytest.raises(UsageProblem) as exc:
        checkout_data(first)
    assert "has local changes not saved in DVC" in str(exc.value)
    assert data.read_bytes() == b"id,label\nhand-edited\n"
    checkout_data(first, force=True)
    assert data.read_bytes() == V1


def test_checkout_only_named_paths_and_unknown_ones(dvc_repo, two_versions):
    first, *_ = two_versions
    checkout_data(first, ["data/train.csv"])
    assert (dvc_repo / "data" / "train.csv").read_bytes() == V1
    with pytest.raises(UsageProblem, match=r"did not use data/other.csv \(it used: data/train"):
        checkout_data(first, ["data/other.csv"])


def test_checkout_unknown_run_and_run_without_data(dvc_repo, new_run):
    with pytest.raises(UsageProblem, match="unknown run id 'feedfacefeedfacefeedfacefeedface'"):
        checkout_data("feedfacefeedfacefeedfacefeedface")
    bare = new_run()
    with pytest.raises(UsageProblem, match=f"run {bare} recorded no DVC data version"):
        checkout_data(bare)


def test_data_lineage_lists_both_versions_with_their_runs(dvc_repo, two_versions):
    first, second, s1, s2 = two_versions
    frame = data_lineage("data/train.csv")
    assert list(frame["hash"]) == [s1.dvc_hash, s2.dvc_hash]
    assert list(frame["git_rev"]) == [s1.git_rev, s2.git_rev]
    assert list(frame["message"]) == ["v1", "v2"]
    assert list(frame["run_id"]) == [first, second]
    assert list(frame["accuracy"]) == [0.81, 0.93]
    assert frame["date"].notna().all()


def test_data_lineage_keeps_unused_and_uncommitted_versions(dvc_repo, two_versions):
    (dvc_repo / "data" / "train.csv").write_bytes(b"id,label\n")
    s3 = snapshot("data/train.csv", commit=False, link=False)
    frame = data_lineage("data/train.csv")
    last = frame.iloc[-1]
    assert last["hash"] == s3.dvc_hash and pd.isna(last["git_rev"])
    assert last["message"] == "(uncommitted)" and pd.isna(last["run_id"])
    assert list(frame["version"]) == [1, 2, 3]


def test_data_lineage_of_unversioned_path(dvc_repo):
    with pytest.raises(UsageProblem, match="has no DVC versions"):
        data_lineage("data/never.csv")
