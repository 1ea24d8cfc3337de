"""Bad input to ``jupyter mlops sync`` / ``server`` and ``%mlops_sync``: one line, exit 64 (or a
UsageError), before any store or server is touched (issue 18 §4). No server is started here."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_mlops import sync
from jupyter_mlops.cli import main
from jupyter_mlops.core.contracts import EXIT_OK, EXIT_USAGE
from jupyter_mlops.core.errors import UsageProblem


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["sync", "--tracking-uri", "bogus://x"], "tracking URI 'bogus://x' cannot be used"),
        (["sync", "--tracking-uri", "relative/folder"], "cannot be used"),
        (["sync", "--tracking-uri", ""], "argument --tracking-uri: expected one non-empty line"),
        (["sync", "--spool-dir", "{missing}"], "no spool directory"),
        (["sync", "--status", "--spool-dir", "{missing}"], "no spool directory"),
        (["server", "--port", "0"], "--port must be between 1 and 65535"),
        (["server", "--port", "70000"], "--port must be between 1 and 65535"),
        (["server", "--port", "http"], "invalid int value"),
        (["server", "--workers", "0"], "--workers must be between 1 and 64"),
        (["server", "--backend-store-uri", ""], "--backend-store-uri must be one non-empty line"),
        (["nosuch"], "invalid choice: 'nosuch'"),
        ([], "the following arguments are required: command"),
    ],
)
def test_bad_sync_and_server_input_exit_64_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], said: str
) -> None:
    argv = [a.format(missing=tmp_path / "missing") for a in argv]
    assert main(argv) == EXIT_USAGE
    line = _one_error_line(capsys)
    assert line.startswith("jupyter mlops") and said in line and "Traceback" not in line


def test_sync_twin_with_an_empty_spool_says_nothing_to_do(tmp_path: Path) -> None:
    # Given an empty spool folder and a store URI (nothing is sent, so nothing listens)
    (tmp_path / "spool").mkdir(exist_ok=True)
    result = sync("http://127.0.0.1:9", tmp_path / "spool")
    assert result.ok and result.runs_replayed == 0 and result.pending == 0
    with pytest.raises(UsageProblem, match="cannot be used"):
        sync("bogus://x", tmp_path / "spool")
    assert main(["sync", "--status"]) == EXIT_OK


def test_mlops_sync_magic_with_a_bogus_uri_is_one_usage_error(shell) -> None:
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="tracking URI 'bogus://x' cannot be used") as info:
        shell.run_line_magic("mlops_sync", "--tracking-uri bogus://x")
    assert type(info.value) is UsageError and "\n" not in str(info.value)
