"""``jupyter mlops reproduce RUN_ID``: re-run a run's code slice and compare (the magic's twin)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``reproduce`` subcommand."""
    parser = subparsers.add_parser(
        "reproduce",
        help="re-run a tracked run's code slice in a temporary git worktree and compare metrics",
        description="Check out RUN_ID's commit (and dirty diff) in a temporary git worktree, "
        "restore its DVC data (or --data latest / a git revision), execute its code slice in a "
        "fresh kernel as a new run tagged jupyter_mlops.reproduces, and compare metrics. Your "
        "working tree is never touched. Exit 0 every metric within tolerance (or the gates "
        "pass), 1 a metric differs or a gate failed, 2 the slice raised, 64 usage error.",
    )
    parser.add_argument("run_id", help="the run to reproduce")
    parser.add_argument(
        "--data",
        default="same",
        help="same (default: the run's data version), latest (newest committed), or a git rev",
    )
    parser.add_argument("--tolerance", type=float, default=1e-9, help="allowed metric difference")
    parser.add_argument("--gate", action="append", default=[], metavar="EXPR", help="gate")
    parser.add_argument("--model", help="registered model for champion gates and comparison")
    parser.add_argument("--tracking-uri", dest="tracking_uri", help="MLflow tracking URI")
    parser.add_argument("--timeout", type=float, help="seconds per cell (default: no limit)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=run, failure_code=1)


def run(args: argparse.Namespace) -> int:
    """Reproduce, print the comparison, return the exit code."""
    from jupyter_mlops.core.reproduce.rerun import reproduce

    result = reproduce(  # our errors: one line from cli.main, 64 / 69 / failure_code 1
        args.run_id,
        data=args.data,
        tolerance=args.tolerance,
        gates=args.gate,
        model=args.model,
        tracking_uri=args.tracking_uri,
        timeout=args.timeout,
    )
    print(json.dumps(result.to_dict(), indent=1) if args.json else result.text())
    return result.exit_code
