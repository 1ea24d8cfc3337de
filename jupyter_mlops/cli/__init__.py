"""``jupyter mlops ...``: subcommands over core; each module registers its own subparsers.

Every failure is one line on stderr and an exit code from the contracts (``cli.errors``): 64 bad
input (``UsageProblem``, bad flags), 69 the tracking store is unreachable, else the
subcommand's own ``failure_code`` for our other errors.
"""

from __future__ import annotations

import argparse
import importlib
import logging
from typing import NoReturn

from jupyter_mlops.cli.errors import PROG, exit_code, fail
from jupyter_mlops.core.contracts import EXIT_USAGE
from jupyter_mlops.core.errors import MlopsError

# modules exposing ``register(subparsers)``; each subparser sets ``func(args) -> int``
SUBCOMMAND_MODULES = [
    "jupyter_mlops.cli.pipeline",
    "jupyter_mlops.cli.team",
    "jupyter_mlops.cli.serve",
    "jupyter_mlops.cli.reproduce",
    "jupyter_mlops.cli.users",
]


class _UsageExit(Exception):
    """argparse refused the arguments; the one line is already printed."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse: usage block + exit 2; ours: 1 line, 64
        fail(f"{message} (see {self.prog} --help)", prog=self.prog)
        raise _UsageExit


def build_parser() -> argparse.ArgumentParser:
    """The ``jupyter mlops`` parser with every available subcommand."""
    parser = _Parser(prog=PROG, description="MLOps for notebooks.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``jupyter-mlops`` (``jupyter mlops``); returns the exit status."""
    # MLflow's INFO lines on opening a fresh store ("Creating initial MLflow database tables")
    # would precede our one line; its warnings and errors still show.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    try:
        args = build_parser().parse_args(argv)
    except _UsageExit:
        return EXIT_USAGE
    except SystemExit as exc:  # --help, --version: argparse printed and wants to stop
        return exc.code if isinstance(exc.code, int) else 0
    try:
        return int(args.func(args))
    except MlopsError as exc:
        return fail(str(exc), exit_code(exc, getattr(args, "failure_code", EXIT_USAGE)))


if __name__ == "__main__":
    raise SystemExit(main())
