"""``%dvc_snapshot`` / ``%dvc_checkout`` in a real InteractiveShell; ``%%track`` lineage."""

from __future__ import annotations

import pytest
import yaml
from IPython.core.error import UsageError

from jupyter_mlops import Snapshot
from jupyter_mlops.core.active import latest_run_id


@pytest.fixture
def nb(shell, dvc_repo):
    """The shell, in a DVC repo holding data/train.csv."""
    (dvc_repo / "data" / "train.csv").write_text("x,y\n1,2\n3,4\n")
    return shell


def run_ok(shell, source: str):
    result = shell.run_cell(source)
    result.raise_error()
    return result.result


def dvc_md5(path) -> str:
    return yaml.safe_load(path.read_text())["outs"][0]["md5"]


def test_help_comes_from_magic_arguments(nb):
    doc = nb.find_line_magic("dvc_snapshot").__doc__
    assert "%dvc_snapshot [-m MESSAGE]" in doc and "--push" in doc and "--no-commit" in doc
    assert "%dvc_checkout [--force]" in nb.find_line_magic("dvc_checkout").__doc__


@pytest.mark.slow
def test_snapshot_magic_links_the_latest_tracked_run(nb, dvc_repo, git, client):
    run_ok(nb, "%%track\nscore = 0.5\n")
    tracked = latest_run_id(None, client)
    snap = run_ok(nb, '%dvc_snapshot data/train.csv -m "training set v3"')
    assert isinstance(snap, Snapshot) and snap.run_id == tracked
    assert git(dvc_repo, "log", "-1", "--format=%s").strip() == "training set v3"
    (inp,) = client.get_run(tracked).inputs.dataset_inputs
    assert inp.dataset.digest == dvc_md5(dvc_repo / "data" / "train.csv.dvc")


def test_snapshot_inside_a_tracked_cell_belongs_to_that_run(nb, dvc_repo, client):
    run_ok(nb, "%%track\nscore = 0.1\n")
    earlier = latest_run_id(None, client)
    run_ok(nb, "%%track\nrows = 2\n%dvc_snapshot data/train.csv\n")
    cell_run = latest_run_id(None, client)
    assert cell_run != earlier
    (inp,) = client.get_run(cell_run).inputs.dataset_inputs
    assert inp.dataset.digest == dvc_md5(dvc_repo / "data" / "train.csv.dvc")
    assert not client.get_run(earlier).inputs.dataset_inputs


def test_twin_inside_a_tracked_cell_belongs_to_that_run(nb, dvc_repo, client):
    run_ok(nb, "%%track\nfrom jupyter_mlops import snapshot\nsnap = snapshot('data/train.csv')\n")
    cell_run = latest_run_id(None, client)
    assert nb.user_ns["snap"].run_id == cell_run
    (inp,) = client.get_run(cell_run).inputs.dataset_inputs
    assert inp.dataset.digest == nb.user_ns["snap"].dvc_hash


def test_tracked_cell_naming_dvc_data_records_its_version(nb, dvc_repo, client):
    # Given a snapshot of the data, and a cell that only reads it
    snap = run_ok(nb, "%dvc_snapshot data/train.csv")
    run_ok(nb, "%%track\nwith open('data/train.csv') as f:\n    n = len(f.readlines())\n")
    cell_run = latest_run_id(None, client)
    (inp,) = client.get_run(cell_run).inputs.dataset_inputs
    assert inp.dataset.digest == snap.dvc_hash and inp.dataset.name == "data/train.csv"
    assert {t.key: t.value for t in inp.tags}["mlflow.data.context"] == "cell"


def test_tracked_cell_without_dvc_data_records_nothing(nb, client):
    run_ok(nb, "%%track\npath = 'README.md'\nname = 'data/nothing-here.csv'\n")
    assert not client.get_run(latest_run_id(None, client)).inputs.dataset_inputs


def test_explicit_run_and_unknown_run(nb, new_run, client):
    run_id = new_run()
    snap = run_ok(nb, f"%dvc_snapshot data/train.csv --run {run_id}")
    assert snap.run_id == run_id
    with pytest.raises(UsageError) as exc:
        nb.run_line_magic("dvc_snapshot", "data/train.csv --run feedfacefeedfacefeedfacefeedface")
    assert type(exc.value) is UsageError
    assert str(exc.value) == "unknown run id 'feedfacefeedfacefeedfacefeedface'"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("data/missing.csv", "no such file or directory: data/missing.csv"),
        ("README.md", "README.md is already tracked by git"),
        (".dvc/config", ".dvc/config is inside .dvc/"),
        ("../outside.csv", "../outside.csv is outside the git repository"),
        ("data/train.csv --link-type softlink", "argument --link-type: invalid choice"),
        ("'data/train.csv", "cannot parse"),
    ],
)
def test_bad_input_is_a_plain_usage_error(nb, line, expected):
    with pytest.raises(UsageError) as exc:
        nb.run_line_magic("dvc_snapshot", line)
    assert type(exc.value) is UsageError
    assert expected in str(exc.value)


def test_bad_input_in_a_cell_prints_one_line(nb, capsys):
    result = nb.run_cell("%dvc_snapshot data/missing.csv")
    assert isinstance(result.error_in_exec, UsageError)
    err = capsys.readouterr()
    text = err.out + err.err
    assert "no such file or directory: data/missing.csv" in text
    assert "Traceback" not in text


def test_disabled_tracking_still_versions_but_does_not_link(nb, monkeypatch, client):
    run_ok(nb, "%%track\nscore = 0.5\n")
    monkeypatch.setenv("JUPYTER_MLOPS_DISABLE", "1")
    snap = run_ok(nb, "%dvc_snapshot data/train.csv")
    assert snap.committed and snap.run_id is None
    assert not client.get_run(latest_run_id(None, client)).inputs.dataset_inputs


def test_several_paths_and_no_commit(nb, dvc_repo, git):
    (dvc_repo / "data" / "test.csv").write_text("x,y\n5,6\n")
    head = git(dvc_repo, "rev-parse", "HEAD")
    snaps = run_ok(nb, "%dvc_snapshot data/train.csv data/test.csv --no-commit")
    assert [s.path for s in snaps] == ["data/train.csv", "data/test.csv"]
    assert git(dvc_repo, "rev-parse", "HEAD") == head
    assert "data/test.csv.dvc" in git(dvc_repo, "diff", "--cached", "--name-only")
    assert "staged in git only" in str(snaps)


def test_snapshot_display_escapes_names(nb, dvc_repo):
    (dvc_repo / "data" / "<b>odd&.csv").write_text("<i>c</i>\n1\n")
    snap = run_ok(nb, "%dvc_snapshot 'data/<b>odd&.csv'")
    html = snap._repr_html_()
    assert "&lt;b&gt;odd&amp;.csv" in html and "<b>odd" not in html
    assert "&lt;i&gt;c&lt;/i&gt;" in html
    assert "data/<b>odd&.csv" in repr(snap) or "data/<b>odd&.csv" in str(snap)


def test_checkout_magic_restores_the_runs_data(nb, dvc_repo, new_run, capsys):
    data = dvc_repo / "data" / "train.csv"
    first = new_run()
    run_ok(nb, f"%dvc_snapshot data/train.csv --run {first}")
    data.write_text("x,y\n9,9\n")
    run_ok(nb, f"%dvc_snapshot data/train.csv --run {new_run()}")
    run_ok(nb, f"%dvc_checkout {first}")
    assert data.read_text() == "x,y\n1,2\n3,4\n"
    assert "restored data/train.csv" in capsys.readouterr().out
    with pytest.raises(UsageError, match="unknown run id"):
        nb.run_line_magic("dvc_checkout", "feedfacefeedfacefeedfacefeedface")
    data.write_text("local edit\n")
    with pytest.raises(UsageError, match="--force"):
        nb.run_line_magic("dvc_checkout", first)
    run_ok(nb, f"%dvc_checkout {first} data/train.csv --force")
    assert data.read_text() == "x,y\n1,2\n3,4\n"
