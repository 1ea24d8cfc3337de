"""Hostile and careless input to ``jupyter mlops run`` / ``gate``: one line, the right exit code,
checked before anything runs, nothing half-written (issue 18 §4). Real store, real processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from mlflow.tracking import MlflowClient

from jupyter_mlops import gate, run_notebook
from jupyter_mlops.cli import main
from jupyter_mlops.core.contracts import EXIT_UNAVAILABLE, EXIT_USAGE
from jupyter_mlops.core.errors import TrackingUnavailable, UsageProblem
from jupyter_mlops.core.team.server import free_port

PYTHON3 = {"name": "python3", "display_name": "Python 3", "language": "python"}


def _notebook(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nb.metadata["kernelspec"] = PYTHON3
    path = folder / "nb.ipynb"
    nbformat.write(nb, path)
    return path


def _all_runs(uri: str) -> list:
    client = MlflowClient(uri)
    return client.search_runs([e.experiment_id for e in client.search_experiments()])


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--timeout", "-1"], "timeout must be a positive number"),
        (["--timeout", "0"], "timeout must be a positive number"),
        (["--timeout", "nan"], "timeout must be a positive number"),
        (["--timeout", "soon"], "invalid float value"),
        (["--experiment", ""], "argument --experiment: expected one non-empty line"),
        (["--experiment", "a\nb"], "argument --experiment: expected one non-empty line"),
        (["--run-name", " "], "argument --run-name: expected one non-empty line"),
        (["--kernel", ""], "argument --kernel: expected one non-empty line"),
        (["--tracking-uri", ""], "argument --tracking-uri: expected one non-empty line"),
        (["-o", ""], "argument -o/--output: expected one non-empty line"),
        (["-o", "/proc/out.ipynb"], "-o /proc/out.ipynb: cannot write in /proc"),
        (["-o", "{folder}"], "is a folder"),
        (["-o", "{file}/x.ipynb"], "is not a folder"),
        (["-o", "{folder}/dangling.ipynb"], "is a dangling symbolic link"),
        (["-o", "é" * 300], "File name too long"),
        (["-f", "é" * 300], "File name too long"),
        (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    ],
)
def test_bad_run_options_exit_64_with_one_line_before_anything_runs(
    project: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str], flags, said
) -> None:
    # Given a runnable notebook and an empty store
    path = _notebook(project)
    (project / "dangling.ipynb").symlink_to(project / "nowhere")
    flags = [f.format(folder=project, file=path) for f in flags]

    # When the run is asked for with one bad option
    code = main(["run", str(path), *flags])

    # Then it is refused at once: exit 64, one line, no run created, nothing written
    assert code == EXIT_USAGE
    line = _one_error_line(capsys)
    assert line.startswith("jupyter mlops") and said in line
    assert _all_runs(tracking_uri) == []
    assert not Path("/proc/out.ipynb").exists()


def test_a_notebook_name_too_long_for_the_file_system_is_one_line(
    tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "é" * 300]) == EXIT_USAGE
    assert "File name too long" in _one_error_line(capsys)


def test_the_function_twins_refuse_the_same_input(project: Path, tracking_uri: str) -> None:
    path = _notebook(project)
    with pytest.raises(UsageProblem, match="experiment name is empty"):
        run_notebook(path, experiment="")
    with pytest.raises(UsageProblem, match="timeout must be a positive number"):
        run_notebook(path, timeout=-1)
    with pytest.raises(UsageProblem, match="is a folder"):
        run_notebook(path, output=project)
    with pytest.raises(UsageProblem, match="not a run id"):
        gate("-rf", ["accuracy>=0.5"])
    assert _all_runs(tracking_uri) == []


def test_gate_against_a_down_server_says_outage_and_exits_69(
    tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a tracking server that is down (nothing listens on the port)
    down = f"http://127.0.0.1:{free_port()}"

    # When a gate is checked against it
    code = main(["gate", "0123abcd", "--gate", "accuracy>=0.5", "--tracking-uri", down])

    # Then it is an outage (69), not "no run" (64)
    assert code == EXIT_UNAVAILABLE
    line = _one_error_line(capsys)
    assert "could not read run 0123abcd" in line and "no run" not in line
    with pytest.raises(TrackingUnavailable):
        gate("0123abcd", ["accuracy>=0.5"], tracking_uri=down)


def test_gate_on_an_unknown_run_of_a_working_store_is_still_usage(
    tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gate", "0123abcd", "--gate", "accuracy>=0.5"]) == EXIT_USAGE
    assert "no run '0123abcd'" in _one_error_line(capsys)


def test_gate_with_a_bogus_tracking_uri_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gate", "abc", "--gate", "a>1", "--tracking-uri", "bogus://x"]) == EXIT_USAGE
    assert "tracking URI 'bogus://x' cannot be used" in _one_error_line(capsys)


@pytest.mark.slow
def test_run_with_a_bogus_tracking_uri_is_one_line_in_a_real_process(
    project: Path, tracking_uri: str
) -> None:
    # Given a notebook that would write a file if its cell ran
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("open('ran.txt', 'w').write('x')")]
    )
    nb.metadata["kernelspec"] = PYTHON3
    nbformat.write(nb, project / "nb.ipynb")

    # When `jupyter mlops run` is pointed at a URI MLflow has no store for
    proc = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "run", "nb.ipynb", "--tracking-uri",
         "bogus://x", "-o", "out.ipynb"],
        cwd=project, capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    # Then one line, exit 64, no cell ran, nothing written
    assert proc.returncode == EXIT_USAGE, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines == [lines[-1]] and "tracking URI 'bogus://x' cannot be used" in lines[-1]
    assert not (project / "ran.txt").exists() and not (project / "out.ipynb").exists()
