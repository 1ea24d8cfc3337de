"""A planted run cannot make ``%dvc_checkout`` write into (or out of) the repository (issue 18 §1).

Each attack is written into a real run of a real sqlite store, the way anyone who can write to a
shared store could; ``%dvc_checkout`` runs in a real InteractiveShell on a real git + DVC repo.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
from IPython.core.error import UsageError

from jupyter_mlops import checkout_data, snapshot
from jupyter_mlops.core.errors import UsageProblem

V1 = "x,y\n1,2\n"
V2 = "x,y\n1,2\n3,4\n"


@pytest.fixture
def victim(shell, dvc_repo, git, new_run):
    """A repo with data/train.csv at two committed versions, code files, and a clean status."""
    (dvc_repo / "src").mkdir()
    (dvc_repo / "src" / "helper.py").write_text("VALUE = 1\n")
    git(dvc_repo, "add", "src/helper.py")
    git(dvc_repo, "commit", "-q", "-m", "code")
    data = dvc_repo / "data" / "train.csv"
    data.write_text(V1)
    s1 = snapshot("data/train.csv", run_id=new_run())
    data.write_text(V2)
    s2 = snapshot("data/train.csv", run_id=new_run())
    return shell, s1, s2


@pytest.mark.parametrize(
    ("attack", "expected"),
    [
        ({"path": "data/train.csv", "git_rev": "--output={out}"}, "is not a commit id"),
        ({"path": "data/train.csv", "git_rev": "-p"}, "is not a commit id"),
        ({"path": "data/train.csv", "git_rev": "HEAD"}, "is not a commit id"),
        ({"path": "data/train.csv", "git_rev": "{short}"}, "is not a commit id"),
        ({"path": "{abs}", "git_rev": "{v1}"}, "is an absolute path"),
        ({"path": "../../x", "git_rev": "{v1}"}, "is not a normalised path"),
        ({"path": "data/../../x", "git_rev": "{v1}"}, "is not a normalised path"),
        ({"path": "./data/train.csv", "git_rev": "{v1}"}, "is not a normalised path"),
        ({"path": "conftest.py", "git_rev": "{v1}"}, "'conftest.py' is not a DVC-tracked output"),
        ({"path": "src/helper.py", "git_rev": "{v1}"}, "is not a DVC-tracked output"),
        ({"path": "src/helper.py", "git_rev": None}, "is not a DVC-tracked output at HEAD"),
        ({"path": "README.md", "git_rev": "{v1}"}, "is not a DVC-tracked output"),
        ({"path": ".git/hooks/pre-commit", "git_rev": "{v1}"}, "points into a .git or .dvc"),
        ({"path": "data/train.csv", "git_rev": "{v2}"}, "but data/train.csv.dvc at"),
        ({"path": "data/train.csv\nrestored", "git_rev": "{v1}"}, "control characters"),
        ({"path": "data/train.csv", "git_rev": 12}, "is not a commit id"),
    ],
)
def test_planted_attack_is_one_line_and_writes_nothing(
    victim, dvc_repo, client, git_state, tmp_path, capsys, attack, expected, file_tree, plant_run
):
    # Given a run whose recorded data version is an attack (with a real cache object's hash)
    shell, s1, s2 = victim
    out = tmp_path / "pwned-output"
    fill = {
        "out": out,
        "abs": tmp_path / "abs" / "target",
        "v1": s1.git_rev,
        "v2": s2.git_rev,
        "short": s1.git_rev[:8],
    }
    source = {k: v.format(**fill) if isinstance(v, str) else v for k, v in attack.items()}
    run_id = plant_run(client, source, s1.dvc_hash)
    before, files = git_state(dvc_repo), file_tree(tmp_path)
    # When the victim checks its data out
    with pytest.raises(UsageError) as exc:
        shell.run_line_magic("dvc_checkout", run_id)
    # Then one line names the run as untrustworthy, and nothing was written anywhere
    message = str(exc.value)
    assert type(exc.value) is UsageError and "\n" not in message
    assert message.startswith(f"run {run_id} is untrustworthy: ") and expected in message
    assert message.endswith("nothing was restored")
    assert "restored" not in capsys.readouterr().out
    assert git_state(dvc_repo) == before and file_tree(tmp_path) == files
    assert not out.exists() and not (tmp_path / "abs").exists()
    assert not (dvc_repo / "conftest.py").exists()
    assert (dvc_repo / "src" / "helper.py").read_text() == "VALUE = 1\n"


def test_a_revision_this_clone_lacks_says_fetch_and_writes_nothing(
    victim, dvc_repo, client, git_state, tmp_path, file_tree, plant_run
):
    _, s1, _ = victim
    run_id = plant_run(client, {"path": "data/train.csv", "git_rev": "ab" * 20}, s1.dvc_hash)
    before, files = git_state(dvc_repo), file_tree(tmp_path)
    with pytest.raises(UsageProblem) as exc:
        checkout_data(run_id)
    assert "which this repository does not have: fetch it (git fetch)" in str(exc.value)
    assert git_state(dvc_repo) == before and file_tree(tmp_path) == files


def test_unreadable_record_is_refused(
    victim, dvc_repo, client, file_tree, plant_run, git_state, tmp_path
):
    # a source that is not JSON falls back to the dataset name, which is no tracked output
    _, s1, _ = victim
    run_id = plant_run(client, "{not json", s1.dvc_hash)
    before, files = git_state(dvc_repo), file_tree(tmp_path)
    with pytest.raises(UsageProblem, match="untrustworthy: 'planted' is not a DVC-tracked"):
        checkout_data(run_id)
    assert git_state(dvc_repo) == before and file_tree(tmp_path) == files


def test_one_bad_record_among_good_ones_writes_nothing(
    victim, dvc_repo, client, file_tree, plant_run, tmp_path
):
    # Given a run recording the real v1 and, beside it, an attack
    from mlflow.entities import Dataset, DatasetInput

    _, s1, _ = victim
    run_id = plant_run(client, {"path": "data/train.csv", "git_rev": s1.git_rev}, s1.dvc_hash)
    bad = Dataset("x", s1.dvc_hash, "dvc", json.dumps({"path": "conftest.py", "git_rev": None}))
    client.log_inputs(run_id, datasets=[DatasetInput(bad)])
    files = file_tree(tmp_path)
    with pytest.raises(UsageProblem, match="untrustworthy"):
        checkout_data(run_id)
    assert file_tree(tmp_path) == files  # not even the good version was restored
    assert (dvc_repo / "data" / "train.csv").read_text() == V2


def test_a_folder_now_symlinked_out_of_the_repo_is_refused(
    victim, dvc_repo, client, file_tree, plant_run, git, tmp_path
):
    # Given data/sub/x.csv snapshotted, then data/sub replaced by a symlink to a folder outside
    sub = dvc_repo / "data" / "sub"
    sub.mkdir()
    (sub / "x.csv").write_text("a\n1\n")
    snap = snapshot("data/sub/x.csv", link=False)
    git(dvc_repo, "rm", "-q", "-r", "data/sub")
    shutil.rmtree(sub)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, sub)
    run_id = plant_run(client, {"path": "data/sub/x.csv", "git_rev": snap.git_rev}, snap.dvc_hash)
    # When / Then
    with pytest.raises(Exception, match="leads out of the repository through a symlink"):
        checkout_data(run_id, force=True)
    assert list(outside.iterdir()) == []


def test_the_genuine_record_still_restores_and_says_so(
    victim, dvc_repo, client, file_tree, plant_run, capsys
):
    shell, s1, _ = victim
    run_id = plant_run(client, {"path": "data/train.csv", "git_rev": s1.git_rev}, s1.dvc_hash)
    shell.run_line_magic("dvc_checkout", run_id)
    assert (dvc_repo / "data" / "train.csv").read_text() == V1
    assert f"restored data/train.csv at {s1.dvc_hash[:8]} (run {run_id})" in capsys.readouterr().out
    # a second checkout has nothing to do, and says that instead of "restored"
    shell.run_line_magic("dvc_checkout", run_id)
    out = capsys.readouterr().out
    assert "restored" not in out and "data/train.csv already at" in out


def test_an_uncommitted_record_is_checked_against_head(
    victim, dvc_repo, client, file_tree, plant_run, git
):
    # Given a run that recorded v1 of a DVC output without a revision (a --no-commit snapshot)
    _, s1, _ = victim
    run_id = plant_run(client, {"path": "data/train.csv", "git_rev": None}, s1.dvc_hash)
    # When / Then: the path is a DVC output at HEAD, so the recorded hash is restored
    checkout_data(run_id)
    assert (dvc_repo / "data" / "train.csv").read_text() == V1
    bogus = plant_run(client, {"path": "data/train.csv", "git_rev": None}, "../../etc/passwd")
    with pytest.raises(UsageProblem, match=r"recorded DVC hash '\.\./\.\./etc/passwd' is not"):
        checkout_data(bogus, force=True)
