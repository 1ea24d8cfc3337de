"""One parsing style for every magic: quotes removed, every problem one ``UsageError`` line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from IPython.core.error import UsageError

UNBALANCED = [
    ("cell", "track", '-n "abc'),
    ("line", "mlops_drift", 'ref "cur'),
    ("line", "mlops_sync", '--spool-dir "/x'),
    ("line", "dvc_snapshot", 'data.csv -m "oops'),
    ("line", "dvc_checkout", "'abc"),
    ("line", "mlops_compare", '--filter "params.lr'),
    ("line", "mlops_registry", "'model"),
    ("line", "mlops_experiment", '"half'),
]


@pytest.mark.parametrize(("kind", "name", "line"), UNBALANCED)
def test_unbalanced_quotes_are_one_usage_line(shell, kind, name, line) -> None:
    with pytest.raises(UsageError) as caught:
        if kind == "cell":
            shell.run_cell_magic(name, line, "x = 1\n")
        else:
            shell.run_line_magic(name, line)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(("%%" if kind == "cell" else "%") + name + ": cannot parse")
    assert "No closing quotation" in message


def test_quotes_are_removed_from_names_tags_and_params(tracked) -> None:
    tracked.magic("x = 1\n", "--no-autolog -n 'my run' --tag \"note=a b\" --param 'k=v w'")
    run = tracked.last()
    assert run.info.run_name == "my run"
    assert run.data.tags["note"] == "a b"
    assert run.data.params["k"] == "v w"


def test_track_help_still_lists_its_flags(shell) -> None:
    doc = shell.find_cell_magic("track").__doc__
    assert "--experiment" in doc and "--artifact" in doc and "--no-autolog" in doc


def test_an_empty_experiment_is_refused_before_the_cell_runs(tracked) -> None:
    with pytest.raises(UsageError, match="experiment name is empty"):
        tracked.magic("ran = True\n", '--experiment ""')
    assert "ran" not in tracked.shell.user_ns
    assert tracked.runs() == []


def test_an_artifact_outside_the_project_is_refused_at_the_start(tracked, tmp_path) -> None:
    outside = tmp_path / "outside.txt"  # the project is tmp_path/project
    outside.write_text("not ours\n")
    with pytest.raises(UsageError) as caught:
        tracked.magic("ran = True\n", f"--artifact {outside}")
    assert "outside the project" in str(caught.value) and "\n" not in str(caught.value)
    assert "ran" not in tracked.shell.user_ns
    assert tracked.runs() == []


def test_an_artifact_above_the_kernel_folder_but_in_the_project_is_logged(
    tracked, project: Path, monkeypatch
) -> None:
    (project / "notes.txt").write_text("kept\n")
    (project / "sub").mkdir()
    monkeypatch.chdir(project / "sub")
    tracked.magic("x = 1\n", "--no-autolog --artifact ../notes.txt")
    assert "notes.txt" in tracked.artifact_paths(tracked.last())


def test_a_bad_flag_names_the_magic(shell) -> None:
    with pytest.raises(UsageError, match=r"^%mlops_compare: .*--nope"):
        shell.run_line_magic("mlops_compare", "--nope")
    with pytest.raises(UsageError, match=r"^%%track: "):
        shell.run_cell_magic("track", "--max-what 3", "x = 1\n")


def test_tag_without_equals_is_refused(shell) -> None:
    with pytest.raises(UsageError, match="--tag expects KEY=VALUE"):
        shell.run_cell_magic("track", "--tag novalue", "x = 1\n")
    assert os.environ.get("JUPYTER_MLOPS_DISABLE") is None


@pytest.mark.parametrize("uri", ["bogus://x", "not a uri"])
def test_sync_to_an_unusable_store_is_one_line(shell, uri) -> None:
    from jupyter_mlops.core.tracking import spool
    from jupyter_mlops.core.tracking.record import RunRecord

    spool.spool_run(RunRecord(experiment_name="offline"))
    with pytest.raises(UsageError) as caught:
        shell.run_line_magic("mlops_sync", f"--tracking-uri '{uri}'")
    assert str(caught.value).startswith("%mlops_sync: tracking URI ")
    assert "\n" not in str(caught.value)
    assert spool.pending_runs() == 1
