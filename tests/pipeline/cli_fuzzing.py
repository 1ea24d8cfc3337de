"""Argument lists for fuzzing ``jupyter mlops`` and the check every one of them must pass.

Shared by ``test_cli_fuzz.py`` (bounded, fixed seed) and ``benchmarks/fuzz_cli.py`` (deep).
Arguments mix the real flags with arbitrary text and with values chosen to be hostile: paths
that cannot be written, folders, broken notebooks, URIs without a store, a server that is down.
``server`` is fuzzed through its parser and option check only (a valid one would start a server).
"""

from __future__ import annotations

import argparse
import contextlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from hypothesis import strategies as st

from jupyter_mlops.cli import build_parser, main
from jupyter_mlops.cli.team import check_server_options
from jupyter_mlops.core.contracts import (
    EXIT_DATA_SKIPPED,
    EXIT_GATE_FAILED,
    EXIT_NOTEBOOK_FAILED,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
)
from jupyter_mlops.core.errors import UsageProblem

ALLOWED_EXITS = {
    EXIT_OK,
    EXIT_GATE_FAILED,
    EXIT_NOTEBOOK_FAILED,
    EXIT_USAGE,
    EXIT_DATA_SKIPPED,
    EXIT_UNAVAILABLE,
}
FLAGS = {
    "run": ["-p", "--parameter", "-f", "--parameters-file", "--experiment", "--gate", "--model",
            "--tracking-uri", "-o", "--output", "--run-name", "--timeout", "--kernel",
            "--progress", "--no-progress"],
    "gate": ["--gate", "--model", "--tracking-uri"],
    "sync": ["--tracking-uri", "--spool-dir", "--status"],
    "server": ["--backend-store-uri", "--artifacts-destination", "--host", "--port",
               "--workers", "--basic-auth"],
}  # fmt: skip
COMMANDS = ["run", "gate", "sync"]  # fuzzed end to end through main()
POSITIONAL = {"run", "gate"}  # commands with one positional argument
SWITCHES = {"--status", "--progress", "--no-progress", "--basic-auth"}


@dataclass
class Workspace:
    """Files the hostile values point at (nothing here is a runnable notebook)."""

    root: Path
    down_uri: str
    values: list[str] = field(default_factory=list)

    @classmethod
    def make(cls, root: Path, down_uri: str) -> Workspace:
        """Create the files and the list of hostile values."""
        (root / "folder").mkdir(parents=True, exist_ok=True)
        (root / "broken.ipynb").write_text("{not json")
        (root / "params.yaml").write_text("- not\n- a mapping\n")
        (root / "text.txt").write_text("hello")
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
        nb.metadata["kernelspec"] = {"name": "no-such-kernel-fuzz", "display_name": "x"}
        nbformat.write(nb, root / "nokernel.ipynb")
        values = [
            "", " ", "-", "--", "-1", "0", "nan", "inf", "1e309", "a=b", "a==1", "x>=champion",
            "accuracy>=0.9", "accuracy>=champion-0.01", "'", '"', "\\", "\n", "%s", "{}", "../..",
            "/proc/out.ipynb", "/dev/null", "/", str(root / "folder"), str(root / "broken.ipynb"),
            str(root / "nokernel.ipynb"), str(root / "params.yaml"), str(root / "text.txt"),
            str(root / "missing.ipynb"), str(root / "text.txt" / "x.ipynb"),
            "bogus://x", "file:///proc/x", "sqlite://", "http://", down_uri,
            "<img src=x onerror=alert(1)>", "x'); __import__('os').system('touch PWNED') #",
            "0123456789abcdef0123456789abcdef", "é" * 300,
        ]  # fmt: skip
        return cls(root, down_uri, values)

    def value(self) -> st.SearchStrategy[str]:
        """A flag's value: a hostile one, or arbitrary text or numbers."""
        return st.one_of(
            st.sampled_from(self.values),
            st.sampled_from(self.values),
            st.text(max_size=40),
            st.integers(-(10**20), 10**20).map(str),
            st.floats().map(str),
        )

    def token(self) -> st.SearchStrategy[str]:
        """Anything at all: a flag of any command, a made-up flag, a value."""
        every_flag = sorted({f for flags in FLAGS.values() for f in flags})
        return st.one_of(
            st.sampled_from([*every_flag, "--help", "-h"]),
            st.from_regex(r"-{1,2}[a-z-]{1,12}", fullmatch=True),
            self.value(),
        )

    def option(self, command: str) -> st.SearchStrategy[list[str]]:
        """One option of ``command``: a switch alone, else the flag and a value."""
        flag = st.sampled_from(FLAGS[command])
        return flag.flatmap(
            lambda f: st.just([f]) if f in SWITCHES else self.value().map(lambda v: [f, v])
        )

    def option_named(self, flag: str) -> st.SearchStrategy[list[str]]:
        """``flag`` with a value (a well-formed gate half of the time for ``--gate``)."""
        values = self.value()
        if flag == "--gate":
            metric = st.sampled_from(["accuracy", "loss", "x y", "<b>", "é"])
            op = st.sampled_from([">=", "<=", "==", ">", "<"])
            rhs = st.sampled_from(["0.9", "champion", "champion-0.01", "1e309", "-0"])
            values = st.tuples(metric, op, rhs).map("".join) | values
        return values.map(lambda v: [flag, v])

    def argv(self, commands: list[str] = COMMANDS) -> st.SearchStrategy[list[str]]:
        """A whole argument list: mostly well-formed options with bad values, some noise."""

        def of(command: str) -> st.SearchStrategy[list[str]]:
            positional = st.lists(self.value(), min_size=1, max_size=1)
            if command not in POSITIONAL:
                positional = st.just([])
            options = st.lists(self.option(command), max_size=4)
            if command == "gate":  # --gate is required: usually give one
                options = (
                    st.tuples(self.option_named("--gate"), options).map(lambda t: [t[0], *t[1]])
                    | options
                )
            noise = st.just([]) | st.just([]) | st.just([]) | st.lists(self.token(), max_size=2)
            return st.tuples(positional, options, noise).map(
                lambda t: [command, *t[0], *(x for o in t[1] for x in o), *t[2]]
            )

        known = st.sampled_from(commands).flatmap(of)
        return st.one_of(known, known, known, st.lists(self.token(), max_size=4))


@dataclass
class Outcome:
    """What one call did."""

    code: int
    stdout: str
    stderr: str


def call_main(argv: list[str]) -> Outcome:
    """``main(argv)`` in this process with its output captured; exceptions propagate."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return Outcome(code, out.getvalue(), err.getvalue())


def check(argv: list[str], outcome: Outcome) -> None:
    """The CLI's promise for any input: a contract exit code; a failure is one line, no trace."""
    assert outcome.code in ALLOWED_EXITS, (argv, outcome)
    assert "Traceback" not in outcome.stderr + outcome.stdout, (argv, outcome)
    if outcome.code == EXIT_USAGE:
        lines = outcome.stderr.strip().splitlines()
        assert len(lines) == 1, (argv, outcome.stderr)
        assert lines[0].startswith("jupyter mlops"), (argv, outcome.stderr)


def check_server(argv: list[str]) -> str:
    """``server`` parsed and its options checked, never started: "ok", "refused" or "usage"."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            args = build_parser().parse_args(["server", *argv])
    except Exception as exc:  # our parser raises its private _UsageExit after one line
        assert type(exc).__name__ == "_UsageExit", (argv, exc)
        assert len(err.getvalue().strip().splitlines()) == 1, (argv, err.getvalue())
        return "usage"
    except SystemExit:  # --help
        return "ok"
    assert isinstance(args, argparse.Namespace)
    try:
        check_server_options(args)
    except UsageProblem as exc:
        assert "\n" not in str(exc), argv
        return "refused"
    return "ok"
