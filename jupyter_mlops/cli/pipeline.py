"""``jupyter mlops run`` and ``jupyter mlops gate``: notebooks as CI pipelines, quality gates."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from jupyter_mlops.cli.errors import fail, one_line
from jupyter_mlops.core.contracts import EXIT_GATE_FAILED, EXIT_NOTEBOOK_FAILED, EXIT_OK

GATE_HELP = (
    "quality gate METRIC OP VALUE, OP one of >= > <= < ==, VALUE a number or "
    "champion[-TOLERANCE] (needs --model); repeatable"
)


def register(subparsers: Any) -> None:
    """Add the ``run`` and ``gate`` subcommands."""
    run = subparsers.add_parser(
        "run",
        help="execute a notebook headless as one MLflow run, then check quality gates",
        description="Execute NOTEBOOK in a kernel as one parent MLflow run (each %%track cell "
        "a child run), log the executed notebook and its HTML, then check the gates. Exit 0 "
        "gates pass, 1 a gate failed, 2 the notebook raised, 64 usage error, 69 the tracking "
        "store is unreachable.",
    )
    run.add_argument("notebook", help="the .ipynb file to execute")
    run.add_argument(
        "-p",
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="parameter injected after the cell tagged 'parameters' (repeatable)",
    )
    run.add_argument(
        "-f",
        "--parameters-file",
        action="append",
        default=[],
        metavar="PARAMS.yaml",
        help="YAML mapping of parameters (-p wins)",
    )
    run.add_argument(
        "--experiment", type=one_line, help="MLflow experiment (wins over %%mlops_experiment)"
    )
    _add_gate_options(run)
    run.add_argument(
        "-o", "--output", type=one_line, metavar="OUT.ipynb", help="write the executed notebook"
    )
    run.add_argument(
        "--run-name", type=one_line, help="name of the parent run (default: the notebook's name)"
    )
    run.add_argument("--timeout", type=float, help="seconds allowed per cell (default: none)")
    run.add_argument(
        "--kernel", type=one_line, help="kernel name (default: the notebook's kernelspec)"
    )
    run.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar over cells (default: when stderr is a terminal)",
    )
    run.set_defaults(func=run_command, failure_code=EXIT_NOTEBOOK_FAILED)

    gate = subparsers.add_parser(
        "gate",
        help="check quality gates on an existing run",
        description="Check gates on RUN_ID (metrics from the run, else its latest child run "
        "that logged them). Exit 0 all pass, 1 a gate failed, 64 usage error (bad gate, no such "
        "run), 69 the tracking store is unreachable.",
    )
    gate.add_argument("run_id", metavar="RUN_ID")
    _add_gate_options(gate, required=True)
    gate.set_defaults(func=gate_command, failure_code=EXIT_GATE_FAILED)


def _add_gate_options(parser: argparse.ArgumentParser, required: bool = False) -> None:
    parser.add_argument(
        "--gate", action="append", default=[], required=required, metavar="GATE", help=GATE_HELP
    )
    parser.add_argument(
        "--model", type=one_line, metavar="NAME", help="registered model whose @champion to beat"
    )
    parser.add_argument(
        "--tracking-uri", type=one_line, help="MLflow tracking URI (default: the project rule)"
    )


def _print_gates(results: list[Any]) -> None:
    for result in results:
        print(f"gate {'passed' if result.passed else 'FAILED'}: {result.line}")


@contextmanager
def _progress_bar(enabled: bool | None) -> Iterator[Callable[[int, int], None] | None]:
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield None
        return
    from tqdm import tqdm

    bar: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "bar" not in bar:
            bar["bar"] = tqdm(total=total, unit="cell", desc="cells", file=sys.stderr)
        bar["bar"].update(done - bar["bar"].n)

    try:
        yield update
    finally:
        if "bar" in bar:
            bar["bar"].close()


def run_command(args: argparse.Namespace) -> int:
    """``jupyter mlops run``: execute, log, gate; the contracts' exit status."""
    from jupyter_mlops.core.pipeline.outputs import browse_hint
    from jupyter_mlops.core.pipeline.parameters import collect_parameters
    from jupyter_mlops.core.pipeline.runner import run_notebook

    parameters = collect_parameters(args.parameter, args.parameters_file)
    with _progress_bar(args.progress) as on_cell:
        result = run_notebook(
            args.notebook,
            parameters,
            experiment=args.experiment,
            gates=args.gate,
            model=args.model,
            output=args.output,
            tracking_uri=args.tracking_uri,
            run_name=args.run_name,
            timeout=args.timeout,
            kernel_name=args.kernel,
            on_cell=on_cell,
        )
    print(f"pipeline run {result.run_id} (experiment {result.experiment_id})")
    if result.output_path is not None:
        print(f"executed notebook: {result.output_path}")
    print(browse_hint(result.tracking_uri))
    if result.failure is not None:
        return fail(result.failure.describe(), EXIT_NOTEBOOK_FAILED)
    _print_gates(result.gates)
    return result.exit_code


def gate_command(args: argparse.Namespace) -> int:
    """``jupyter mlops gate RUN_ID``: check gates on an existing run."""
    from jupyter_mlops.core.pipeline.gates import gate

    results = gate(args.run_id, args.gate, args.model, args.tracking_uri)
    _print_gates(results)
    return EXIT_GATE_FAILED if any(not r.passed for r in results) else EXIT_OK
