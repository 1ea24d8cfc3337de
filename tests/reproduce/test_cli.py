"""``jupyter mlops reproduce`` through the real command: exit codes 0, 1, 2 and 64, hazards shown.

Given a session whose tracked cells read an unversioned CSV inside the project and a file
outside it, reproducing prints the comparison and the hazard, and exits by the CLI contract.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_mlops.cli import main
from jupyter_mlops.core.contracts import (
    EXIT_GATE_FAILED,
    EXIT_NOTEBOOK_FAILED,
    EXIT_OK,
    EXIT_USAGE,
)
from tests.reproduce.conftest import slice_of


def jupyter_mlops(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed ``jupyter mlops`` command."""
    command = [str(Path(sys.executable).parent / "jupyter"), "mlops", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)


def runs_by_name(client) -> dict[str, str]:  # type: ignore[no-untyped-def]
    experiments = [e.experiment_id for e in client.search_experiments()]
    return {r.info.run_name: r.info.run_id for r in client.search_runs(experiments)}


@pytest.mark.slow
def test_cli_reproduces_with_hazards_and_exits_by_contract(
    project, start_kernel, client, tmp_path, capsys
):
    # Given an unversioned CSV in the project and a file outside it, read by two tracked runs
    (project / "inputs").mkdir()
    (project / "inputs" / "raw.csv").write_text("v\n1.5\n2.5\n")
    outside = tmp_path / "outside.txt"
    outside.write_text("7\n")
    kernel = start_kernel(project)
    kernel.run("%load_ext jupyter_mlops")
    kernel.run("import csv")
    kernel.run("rows = list(csv.reader(open('inputs/raw.csv')))")
    kernel.run(f"extra = float(open({str(outside)!r}).read())")
    kernel.run("%%track -n sum-run --no-autolog\ntotal = sum(float(r[0]) for r in rows[1:])")
    kernel.run("%%track -n extra-run --no-autolog\nboosted = extra * 2")
    runs = runs_by_name(client)

    # Then the CSV read is a hazard of the first run's slice
    hazards = slice_of(client, runs["sum-run"])["hazards"]
    assert [(h["kind"], h["execution_count"]) for h in hazards] == [("untracked_file", 3)]
    assert "inputs/raw.csv" in hazards[0]["detail"]

    # When the first run is reproduced: same metric, hazard shown, exit 0
    done = jupyter_mlops("reproduce", runs["sum-run"], cwd=project)
    assert done.returncode == EXIT_OK, done.stdout + done.stderr
    assert "hazard untracked file: inputs/raw.csv is neither git- nor DVC-tracked" in done.stdout
    assert any(
        line.startswith("total") and line.endswith("yes") for line in done.stdout.splitlines()
    )

    # When a gate fails: exit 1 with the gate's line
    gated = jupyter_mlops("reproduce", runs["sum-run"], "--gate", "total>100", cwd=project)
    assert gated.returncode == EXIT_GATE_FAILED, gated.stdout + gated.stderr
    assert "FAIL total 4.000 <= 100.000" in gated.stdout

    # When the file outside the project is gone: the slice raises, exit 2 naming the execution
    outside.unlink()
    failed = jupyter_mlops("reproduce", runs["extra-run"], cwd=project)
    assert failed.returncode == EXIT_NOTEBOOK_FAILED, failed.stdout + failed.stderr
    assert "the slice raised in execution 4 `extra = float(open(" in failed.stdout
    assert "FileNotFoundError" in failed.stdout
    assert "Traceback" not in failed.stdout + failed.stderr

    # When the run id is unknown: one line, exit 64
    capsys.readouterr()  # (MLflow's download progress of the checks above)
    assert main(["reproduce", "0123456789abcdef"]) == EXIT_USAGE
    assert capsys.readouterr().err.strip() == (
        "jupyter mlops: error: unknown run id '0123456789abcdef'"
    )
