"""``jupyter mlops ...``: subcommands over core; each module registers its own subparsers."""

from __future__ import annotations

import argparse
import importlib
import sys

from jupyter_mlops.core.contracts import EXIT_USAGE

# modules exposing ``register(subparsers)``; each subparser sets ``func(args) -> int``
SUBCOMMAND_MODULES = [
    "jupyter_mlops.cli.pipeline",
    "jupyter_mlops.cli.team",
    "jupyter_mlops.cli.reproduce",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2; our contract says 64
        self.print_usage(sys.stderr)
        print(f"jupyter mlops: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="jupyter mlops", description="MLOps for notebooks.")
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
    """Entry point of ``jupyter-mlops`` (``jupyter mlops``)."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
