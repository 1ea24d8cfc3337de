"""Fuzzing ``jupyter mlops`` (issue 18 §6): arbitrary argument lists give a contract exit code
and, for bad input, exit 64 with one line on stderr, never a traceback. Bounded and seeded for
CI; ``benchmarks/fuzz_cli.py`` is the deep mode."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_fuzzing import Outcome, Workspace, call_main, check, check_server
from hypothesis import HealthCheck, given, settings

from jupyter_mlops.core.team.server import free_port

FUZZ = settings(
    max_examples=int(os.environ.get("JUPYTER_MLOPS_FUZZ_EXAMPLES", "300")),
    derandomize=True,  # a fixed seed: CI sees the same inputs every time
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
SEEN: Counter[str] = Counter()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """A cwd with a private sqlite store and spool; hostile files to point arguments at."""
    root = tmp_path_factory.mktemp("fuzz")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        mp.setenv("JUPYTER_MLOPS_SPOOL_DIR", str(root / "spool"))
        yield Workspace.make(root, f"http://127.0.0.1:{free_port()}")
    print(f"\nCLI fuzz inputs: {dict(SEEN)}")


def _untouched(root: Path) -> set[str]:
    return {p.name for p in root.iterdir()} - {"mlflow.db", "mlflow.db.lock", "mlruns", "spool"}


def test_any_argument_list_through_main(workspace: Workspace) -> None:
    before = _untouched(workspace.root)

    @FUZZ
    @given(argv=workspace.argv())
    def one(argv: list[str]) -> None:
        SEEN["main"] += 1
        check(argv, call_main(argv))

    one()
    # nothing half-written: no output notebook, no PWNED, no stray file in the cwd
    assert _untouched(workspace.root) == before
    assert not Path("/proc/out.ipynb").exists()


def test_any_server_options_are_parsed_and_checked_never_started(workspace: Workspace) -> None:
    @FUZZ
    @given(argv=workspace.argv(["server"]).map(lambda a: a[1:] if a[:1] == ["server"] else a))
    def one(argv: list[str]) -> None:
        SEEN["server"] += 1
        check_server(argv)

    one()


@pytest.mark.slow
def test_a_few_argument_lists_in_real_processes(workspace: Workspace) -> None:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}

    @settings(FUZZ, max_examples=6)
    @given(argv=workspace.argv())
    def one(argv: list[str]) -> None:
        if any("\x00" in a for a in argv):  # a process argument cannot hold NUL
            return
        SEEN["process"] += 1
        proc = subprocess.run(
            [sys.executable, "-m", "jupyter_mlops.cli", *argv],
            cwd=workspace.root, env=env, capture_output=True, text=True, errors="replace",
            timeout=120,
        )  # fmt: skip
        check(argv, Outcome(proc.returncode, proc.stdout, proc.stderr))

    one()
