"""Every magic with arbitrary flag strings, through a real ``InteractiveShell`` on a real git +
DVC repo and sqlite store: the answer is a result or one ``UsageError`` line, never another
exception, and the git index, the ``.dvc`` files and the store stay as they were (except what a
well-formed ``%%track`` or ``--log`` is meant to write).

Bounded for CI (fixed seed, ``FUZZ_EXAMPLES`` inputs per magic);
``benchmarks/fuzz_magics.py`` runs the same property with many more, freshly random.
``JUPYTER_MLOPS_FUZZ_REPORT=<file>`` records how many inputs each magic got.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError
from mlflow.tracking import MlflowClient

from jupyter_mlops.core import active
from jupyter_mlops.core.tracking.journal import wait_for_delivery

FUZZ_EXAMPLES = int(os.environ.get("JUPYTER_MLOPS_FUZZ_EXAMPLES", "12"))  # inputs per magic
DEEP = os.environ.get("JUPYTER_MLOPS_FUZZ_DEEP", "") == "1"  # fresh random inputs each run
REPORT = os.environ.get("JUPYTER_MLOPS_FUZZ_REPORT", "")
COUNTS: Counter[str] = Counter()

# magic -> (kind, its flags)
TARGETS: dict[str, tuple[str, list[str]]] = {
    "track": ("cell", ["-e", "--experiment", "-n", "--run-name", "--param", "--metric",
                       "--artifact", "--tag", "--log-model", "--register", "--continue",
                       "--nested", "--no-autolog", "--quiet"]),
    "mlops_experiment": ("line", []),
    "dvc_snapshot": ("line", ["-m", "--message", "--push", "--remote", "--run", "--no-commit",
                              "--link-type", "hardlink", "copy"]),
    "dvc_checkout": ("line", ["--force"]),
    "mlops_compare": ("line", ["--runs", "--filter", "--max-runs", "--page-size"]),
    "mlops_registry": ("line", ["--sample"]),
    "mlops_drift": ("line", ["ref", "cur", "--columns", "--test", "--threshold", "--log", "a",
                             "ks", "psi"]),
    "mlops_sync": ("line", ["--tracking-uri", "--spool-dir", "--status"]),
}  # fmt: skip
TRICKY = ['"', "'", '""', "''", "=", "--", "-", "a=b", "=b", "a=", "0", "-1", "nan", "1e309",
          "../..", "/etc/hostname", "\\", "$HOME", "%", "{}", "-e=", "bogus://x", "x" * 300,
          "password=hunter2", "\x00", "\t", "é", "<img src=x onerror=1>",
          "--tracking-uri bogus://x", "--spool-dir /nonexistent", "-e ''",
          "--artifact /etc/hostname"]  # fmt: skip
CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r")


def flag_line(flags: list[str]) -> st.SearchStrategy[str]:
    """Lines of up to 6 words: the magic's flags, tricky words and arbitrary text."""
    word = st.one_of(
        st.sampled_from(flags or TRICKY), st.sampled_from(TRICKY), st.text(CHARS, max_size=12)
    )
    return st.one_of(st.lists(word, max_size=6).map(" ".join), st.text(CHARS, max_size=40))


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout


def repo_state(root: Path) -> tuple[str, str, dict[str, str]]:
    """HEAD, the index (``ls-files -s``) and every ``.dvc`` file's text."""
    dvc = {str(p.relative_to(root)): p.read_text() for p in root.rglob("*.dvc") if p.is_file()}
    return _git(root, "rev-parse", "HEAD"), _git(root, "ls-files", "-s"), dvc


def store_state(uri: str) -> tuple[int, int, int]:
    """Experiments, runs and registered models in the store."""
    client = MlflowClient(tracking_uri=uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = len(client.search_runs(ids)) if ids else 0
    return len(ids), runs, len(client.search_registered_models())


@pytest.fixture
def fuzz_shell(shell: Any, project: Path) -> Any:
    """The shell on a git + DVC repo holding one tracked file, with two small frames."""
    import pandas as pd
    from dvc.repo import Repo

    repo = Repo.init(str(project))
    (project / "data.csv").write_text("a,b\n1,2\n3,4\n")
    repo.add([str(project / "data.csv")])
    repo.close()
    _git(project, "add", ".dvc", ".dvcignore", "data.csv.dvc", ".gitignore")
    _git(project, "-c", "user.name=T", "-c", "user.email=t@x", "commit", "-qm", "data")
    shell.user_ns.update(ref=pd.DataFrame({"a": [1.0, 2.0, 3.0]}), cur=pd.DataFrame({"a": [2.0]}))
    yield shell
    active._ACTIVE.experiment = None  # %mlops_experiment examples must not leak to other tests


def _writes(name: str, line: str) -> bool:
    """Whether a well-formed ``line`` may rightly add to the store."""
    return name == "track" or (name == "mlops_drift" and "--log" in line)


def check_magic(shell: Any, project: Path, uri: str, name: str, line: str) -> None:
    """Run one magic with ``line``; assert the outcome and that nothing it must not touch moved."""
    kind, _flags = TARGETS[name]
    COUNTS[name] += 1
    # runs of earlier %%track examples arrive from the journal: let them land first
    assert wait_for_delivery(120)
    before_repo, before_store = repo_state(project), store_state(uri)
    try:
        if kind == "cell":
            shell.run_cell_magic(name, line, "fuzz_value = 1\n")
        else:
            shell.run_line_magic(name, line)
    except UsageError as exc:
        message = str(exc)
        assert "\n" not in message.strip() and len(message) < 600, message
    assert repo_state(project) == before_repo, line
    if not _writes(name, line):
        assert store_state(uri) == before_store, line


@settings(
    max_examples=FUZZ_EXAMPLES,
    derandomize=not DEEP,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(lines=st.fixed_dictionaries({name: flag_line(TARGETS[name][1]) for name in TARGETS}))
def test_every_magic_with_arbitrary_flags(
    fuzz_shell: Any, project: Path, tracking_uri: str, lines: dict[str, str]
) -> None:
    for name in sorted(lines):  # every magic gets every example: equal input counts
        check_magic(fuzz_shell, project, tracking_uri, name, lines[name])


def teardown_module() -> None:
    if REPORT:
        Path(REPORT).write_text(json.dumps(dict(COUNTS), indent=1))
