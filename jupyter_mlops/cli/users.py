"""``jupyter mlops users add|grant`` (team permissions) and ``jupyter mlops promote``.

The admin's credentials come from the environment MLflow's client reads itself
(``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``); nothing here prints a password
except the one generated for a new user, once, when no ``--password-file`` is given.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path
from typing import Any

from jupyter_mlops.cli.errors import one_line
from jupyter_mlops.core.contracts import EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE
from jupyter_mlops.core.errors import UsageProblem


def register(subparsers: Any) -> None:
    """Add the ``users`` and ``promote`` subcommands."""
    users = subparsers.add_parser(
        "users",
        help="add users and grant permissions on an auth-enabled tracking server",
        description="Admin tasks on a server started with `jupyter mlops server --auth`; run "
        "with the admin's MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD set.",
    )
    actions = users.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="create a user")
    add.add_argument("name", type=one_line, help="the new user's name")
    source = add.add_mutually_exclusive_group()
    source.add_argument(
        "--password-file",
        type=one_line,
        help="write a generated password to this new file (0600) instead of printing it",
    )
    source.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    add.set_defaults(func=run_add, failure_code=EXIT_UNAVAILABLE)
    grant = actions.add_parser("grant", help="grant a user a permission on one resource")
    grant.add_argument("name", type=one_line, help="the user")
    target = grant.add_mutually_exclusive_group(required=True)
    target.add_argument("--experiment", type=one_line, help="experiment name (or id)")
    target.add_argument("--model", type=one_line, help="registered model name")
    grant.add_argument("--permission", required=True, type=str.upper, help="READ, EDIT or MANAGE")
    grant.set_defaults(func=run_grant, failure_code=EXIT_UNAVAILABLE)
    for sub in (add, grant):
        sub.add_argument(
            "--tracking-uri", type=one_line, help="the server (default: MLFLOW_TRACKING_URI)"
        )

    promote = subparsers.add_parser(
        "promote",
        help="point a model alias at a version (needs MANAGE on the model)",
        description="Set ALIAS (default champion) of MODEL to VERSION and record it in the "
        "promotion history. Exit 77 when the server refuses the permission.",
    )
    promote.add_argument("model", type=one_line, help="registered model name")
    promote.add_argument("version", type=one_line, help="version number")
    promote.add_argument("--alias", default="champion", type=one_line, help="alias to set")
    promote.add_argument(
        "--tracking-uri", type=one_line, help="store (default: the tracking-URI rule)"
    )
    promote.set_defaults(func=run_promote, failure_code=EXIT_USAGE)


def _server(args: argparse.Namespace) -> str:
    from jupyter_mlops.core.store import bound_http_timeouts, resolve_tracking_uri

    bound_http_timeouts()
    return resolve_tracking_uri(args.tracking_uri)


def run_add(args: argparse.Namespace) -> int:
    """Create the user; the password is read, or generated and shown once / written 0600."""
    from jupyter_mlops.core.team.auth import add_user, check_username, secret_file

    check_username(args.name)
    uri = _server(args)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif args.password_file:
        path = Path(args.password_file)
        if path.exists():
            raise UsageProblem(f"--password-file {path} exists; choose a new file")
        if not path.parent.is_dir():
            raise UsageProblem(f"--password-file: no folder {path.parent}")
        password = secret_file(path)
    else:
        password = secrets.token_urlsafe(18)
    add_user(uri, args.name, password)
    if args.password_stdin:
        print(f"created user {args.name}")
    elif args.password_file:
        print(f"created user {args.name}; password in {args.password_file} (0600)")
    else:
        print(f"created user {args.name}; password (shown once): {password}")
    return EXIT_OK


def run_grant(args: argparse.Namespace) -> int:
    """Grant the permission; prints what the user now has."""
    from jupyter_mlops.core.team.auth import grant

    line = grant(
        _server(args), args.name, args.permission, experiment=args.experiment, model=args.model
    )
    print(line)
    return EXIT_OK


def run_promote(args: argparse.Namespace) -> int:
    """Promote through core (which checks MANAGE first)."""
    from jupyter_mlops.core.models.promotion import promote

    entry = promote(args.model, args.version, args.alias, tracking_uri=_server(args))
    print(f"{args.model} v{entry.version} is now {entry.alias!r}")
    return EXIT_OK
