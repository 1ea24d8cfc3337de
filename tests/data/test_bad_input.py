"""Every bad input of issue 3 is one clear line, and a failed snapshot changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jupyter_mlops import snapshot
from jupyter_mlops.core.data.snapshot import SnapshotPushError
from jupyter_mlops.core.errors import DataVersionError, UsageProblem


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and "Traceback" not in text
    return text


@pytest.fixture
def unchanged(dvc_repo, git_state):
    """Given data/a.csv; assert git HEAD, index and work-tree status are the same afterwards."""
    (dvc_repo / "data" / "a.csv").write_text("a\n1\n")
    before = git_state(dvc_repo)
    yield
    assert git_state(dvc_repo) == before
    assert not list((dvc_repo / "data").glob("*.dvc"))


def test_missing_path(dvc_repo, unchanged):
    with pytest.raises(UsageProblem) as exc:
        snapshot("data/nope.csv")
    assert one_line(exc) == "no such file or directory: data/nope.csv"


def test_path_outside_the_repo(dvc_repo, tmp_path, unchanged):
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("a\n1\n")
    with pytest.raises(UsageProblem) as exc:
        snapshot(str(outside))
    assert "is outside the git repository" in one_line(exc)
    with pytest.raises(UsageProblem, match="outside the git repository"):
        snapshot("../elsewhere.csv")


def test_path_already_tracked_by_git(dvc_repo, unchanged):
    with pytest.raises(UsageProblem) as exc:
        snapshot("README.md")
    assert "already tracked by git" in one_line(exc)
    assert "git rm -r --cached README.md" in str(exc.value)


def test_path_inside_dvc_folder(dvc_repo, unchanged):
    with pytest.raises(UsageProblem) as exc:
        snapshot(".dvc/config")
    assert "inside .dvc/" in one_line(exc)


def test_outside_any_git_repo_says_git_init(tmp_path, monkeypatch, tracking_uri):
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "a.csv").write_text("a\n1\n")
    monkeypatch.chdir(folder)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    with pytest.raises(UsageProblem) as exc:
        snapshot("a.csv")
    assert "run `git init` first" in one_line(exc)
    assert not (folder / ".dvc").exists() and not (folder / "a.csv.dvc").exists()


def test_unknown_run_id(dvc_repo, unchanged):
    with pytest.raises(UsageProblem) as exc:
        snapshot("data/a.csv", run_id="0123456789abcdef0123456789abcdef")
    assert one_line(exc) == "unknown run id '0123456789abcdef0123456789abcdef'"


def test_push_without_a_remote(project, tracking_uri, git, git_state):
    from dvc.repo import Repo

    Repo.init(str(project)).close()
    git(project, "add", ".dvc", ".dvcignore")
    git(project, "commit", "-q", "-m", "dvc init")
    (project / "a.csv").write_text("a\n1\n")
    before = git_state(project)
    with pytest.raises(UsageProblem) as exc:
        snapshot("a.csv", push=True)
    assert "--push needs a DVC remote" in one_line(exc)
    assert git_state(project) == before and not (project / "a.csv.dvc").exists()


def test_push_to_unknown_remote_name(dvc_repo, unchanged):
    with pytest.raises(UsageProblem) as exc:
        snapshot("data/a.csv", push=True, remote="nowhere")
    assert one_line(exc) == "unknown DVC remote 'nowhere' (known: local)"


def test_unreachable_remote_keeps_the_local_snapshot(dvc_repo, tmp_path, git):
    from dvc.repo import Repo

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    repo = Repo(str(dvc_repo))
    with repo.config.edit() as conf:
        conf["remote"]["broken"] = {"url": str(blocker / "remote")}
    repo.close()
    (dvc_repo / "data" / "a.csv").write_text("a\n1\n")
    with pytest.raises(SnapshotPushError) as exc:
        snapshot("data/a.csv", push=True, remote="broken", link=False)
    assert "push to DVC remote 'broken' failed" in one_line(exc)
    assert "the local snapshot is kept" in str(exc.value)
    # the snapshot itself is committed
    (snap,) = exc.value.snapshots
    assert snap.committed and not snap.pushed
    assert git(dvc_repo, "log", "-1", "--format=%H").strip() == snap.git_rev


def test_no_git_identity_says_how_to_set_one(dvc_repo, git, unchanged, monkeypatch):
    git(dvc_repo, "config", "--unset", "user.email")
    git(dvc_repo, "config", "--unset", "user.name")
    git(dvc_repo, "config", "user.useConfigOnly", "true")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "EMAIL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("GIT_COMMITTER_EMAIL", raising=False)
    with pytest.raises(UsageProblem) as exc:
        snapshot("data/a.csv")
    assert 'git config user.email "you@example.com"' in one_line(exc)
    git(dvc_repo, "config", "--unset", "user.useConfigOnly")
    git(dvc_repo, "config", "user.email", "test@example.invalid")
    git(dvc_repo, "config", "user.name", "Test User")


@pytest.mark.slow
def test_dvc_lock_held_by_another_process(dvc_repo, unchanged):
    # Given another process holding DVC's repository lock
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import sys, time
                from dvc.repo import Repo
                repo = Repo(".")
                repo.lock.lock()
                print("locked", flush=True)
                sys.stdin.read()
                """
            ),
        ],
        cwd=dvc_repo,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(DataVersionError) as exc:
            snapshot("data/a.csv", link=False)
        assert "locked by another DVC process" in one_line(exc)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


PERMISSION_SCRIPT = """
import sys
from jupyter_mlops import snapshot
from jupyter_mlops.core.errors import MlopsError
try:
    snapshot(sys.argv[1], link=False)
except MlopsError as exc:
    print(type(exc).__name__ + ": " + str(exc))
"""


def _without_root_powers(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run ``args`` without CAP_DAC_OVERRIDE/READ_SEARCH, so file modes bind even for root."""
    prefix = []
    if os.geteuid() == 0:
        prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps=-all"]
    return subprocess.run([*prefix, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_permission_denied(dvc_repo, unchanged):
    secret = dvc_repo / "data" / "secret.csv"
    secret.write_text("a\n1\n")
    secret.chmod(0)
    try:
        out = _without_root_powers(
            [sys.executable, "-c", PERMISSION_SCRIPT, "data/secret.csv"], dvc_repo
        )
    finally:
        secret.chmod(0o644)
    assert out.stdout.strip() == "UsageProblem: permission denied: cannot read data/secret.csv", (
        out.stderr
    )
    secret.unlink()


def test_dot_dvc_file_itself_is_refused(dvc_repo, unchanged):
    (dvc_repo / "data" / "x.dvc").write_text("outs: []\n")
    with pytest.raises(UsageProblem, match=r"is a \.dvc file"):
        snapshot("data/x.dvc")
    (dvc_repo / "data" / "x.dvc").unlink()


def test_path_inside_a_dvc_tracked_directory(dvc_repo, git_state):
    folder = dvc_repo / "data" / "images"
    folder.mkdir()
    (folder / "1.txt").write_text("one\n")
    snapshot("data/images", link=False)
    before = git_state(dvc_repo)
    with pytest.raises(UsageProblem) as exc:
        snapshot("data/images/1.txt", link=False)
    assert one_line(exc) == (
        "data/images/1.txt is inside data/images, which DVC tracks as a whole; "
        "snapshot data/images instead"
    )
    assert git_state(dvc_repo) == before


def test_failed_commit_rolls_everything_back(dvc_repo, git, git_state):
    # Given a staged change of the user's and a pre-commit hook that refuses every commit
    (dvc_repo / "README.md").write_text("changed\n")
    git(dvc_repo, "add", "README.md")
    (dvc_repo / "data" / "a.csv").write_text("a\n1\n")
    (dvc_repo / "data" / ".gitignore").write_text("/old-entry\n")
    git(dvc_repo, "add", "data/.gitignore")
    hook = dvc_repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'hook says no' >&2\nexit 1\n")
    hook.chmod(0o755)
    before = git_state(dvc_repo)
    # When the snapshot's commit fails after DVC wrote the .dvc file and .gitignore
    with pytest.raises(DataVersionError) as exc:
        snapshot("data/a.csv", link=False)
    # Then one line, and the files and the git index are as they were
    assert one_line(exc).startswith("git commit failed")
    assert git_state(dvc_repo) == before
    assert not (dvc_repo / "data" / "a.csv.dvc").exists()
    assert (dvc_repo / "data" / ".gitignore").read_text() == "/old-entry\n"


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_snapshot_with_the_tracking_server_down_is_still_taken(shell, dvc_repo, git, monkeypatch):
    # Given a tracking server that cannot be reached, outside any tracked cell
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{_closed_port()}")
    (dvc_repo / "data" / "b.csv").write_text("a\n1\n")
    # When
    result = shell.run_cell("%dvc_snapshot data/b.csv")
    # Then the data is versioned and committed, and one line says linking was impossible
    result.raise_error()
    snap = result.result
    assert snap.committed and snap.run_id is None
    assert git(dvc_repo, "log", "-1", "--format=%H").strip() == snap.git_rev
    (note,) = [n for n in snap.notes if "linked" in n]
    assert note.startswith("NOT linked to a run: cannot reach http://127.0.0.1:")
    assert "\n" not in note and len(note) < 300


def test_snapshot_with_an_explicit_run_and_the_server_down(dvc_repo, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{_closed_port()}")
    (dvc_repo / "data" / "b.csv").write_text("a\n1\n")
    snap = snapshot("data/b.csv", run_id="0123456789abcdef0123456789abcdef")
    assert snap.committed and snap.run_id is None
    assert any(n.startswith("NOT linked to a run: cannot reach") for n in snap.notes)


def test_dangling_symlink_says_so(dvc_repo, unchanged):
    (dvc_repo / "data" / "gone.csv").symlink_to(dvc_repo / "data" / "never-there.csv")
    with pytest.raises(UsageProblem) as exc:
        snapshot("data/gone.csv")
    assert one_line(exc).startswith("data/gone.csv is a dangling symlink: its target ")
    (dvc_repo / "data" / "gone.csv").unlink()


def test_fifo_is_refused_instead_of_blocking(dvc_repo, unchanged):
    os.mkfifo(dvc_repo / "data" / "pipe")
    with pytest.raises(UsageProblem) as exc:
        snapshot("data/pipe")
    assert one_line(exc) == (
        "data/pipe is a FIFO (named pipe), not a file or folder: DVC versions only those"
    )
    folder = dvc_repo / "data" / "with-pipe"
    folder.mkdir()
    os.replace(dvc_repo / "data" / "pipe", folder / "pipe")
    with pytest.raises(UsageProblem, match=r"data/with-pipe holds pipe, a FIFO \(named pipe\)"):
        snapshot("data/with-pipe")
    (folder / "pipe").unlink()
    folder.rmdir()


def test_too_long_values_say_too_long(dvc_repo, unchanged):
    with pytest.raises(UsageProblem) as exc:
        snapshot("data/" + "a" * 5000)
    assert one_line(exc).startswith("path too long (")
    with pytest.raises(UsageProblem) as exc:
        snapshot("data/a.csv", run_id="f" * 5000)
    assert "5000 characters; MLflow run ids are 32 hex digits" in one_line(exc)
    with pytest.raises(UsageProblem) as exc:
        snapshot("data/a.csv", run_id="")
    assert one_line(exc).startswith("the run id is empty")
    with pytest.raises(UsageProblem, match="not a run id: 'a b'"):
        snapshot("data/a.csv", run_id="a b")
