"""``jupyter mlops server`` (a shared MLflow tracking server) and ``jupyter mlops sync``."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_mlops.cli.errors import one_line
from jupyter_mlops.core.contracts import EXIT_DATA_SKIPPED, EXIT_OK, EXIT_UNAVAILABLE
from jupyter_mlops.core.errors import UsageProblem
from jupyter_mlops.core.store import redact_uri

if TYPE_CHECKING:
    from jupyter_mlops.core.team.auth import AuthSetup


def register(subparsers: Any) -> None:
    """Add the ``server`` and ``sync`` subcommands."""
    server = subparsers.add_parser(
        "server",
        help="run a shared MLflow tracking server (team mode)",
        description="Run `mlflow server` with proxied artifacts, wait until it is healthy and "
        "print how notebooks point at it. Ctrl-C stops it.",
    )
    server.add_argument(
        "--backend-store-uri",
        help="SQLAlchemy URI of the backend store, e.g. postgresql://user@db/mlflow "
        "(default: the project's sqlite:///<root>/mlflow.db)",
    )
    server.add_argument(
        "--artifacts-destination",
        help="where the server keeps artifacts: a folder or s3://BUCKET/PATH (endpoint from "
        "MLFLOW_S3_ENDPOINT_URL, keys from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; checked "
        "before start) (default: <project root>/mlartifacts)",
    )
    server.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback)")
    server.add_argument("--port", type=int, default=5000, help="port (default: 5000)")
    server.add_argument("--workers", type=int, default=2, help="server worker processes")
    server.add_argument(
        "--auth",
        "--basic-auth",
        dest="auth",
        action="store_true",
        help="enable MLflow's basic-auth app: users, per-experiment/model permissions, an admin "
        "whose generated password is kept in <auth dir>/admin-password (0600)",
    )
    server.add_argument(
        "--auth-dir",
        type=one_line,
        help="with --auth: folder of the auth ini and secrets "
        "(default: <project root>/.mlflow-auth)",
    )
    server.add_argument(
        "--auth-db-uri",
        type=one_line,
        help="with --auth: users and grants database (default: sqlite in --auth-dir; the team's "
        "PostgreSQL works too)",
    )
    server.add_argument(
        "--admin-username", default="admin", type=one_line, help="with --auth: the admin user"
    )
    server.add_argument(
        "--auth-cache-seconds",
        type=int,
        default=0,
        help="with --auth: remember a good password check this long (a slow hash otherwise runs "
        "on every request; MLflow then answers token-only requests with 500; default 0)",
    )
    server.add_argument(
        "--default-permission",
        default="READ",
        type=str.upper,
        help="with --auth: what every user may do on what others made (READ: see everything, "
        "change only what you made or were granted; or EDIT, MANAGE, NO_PERMISSIONS)",
    )
    server.set_defaults(func=run_server, failure_code=EXIT_UNAVAILABLE)

    sync = subparsers.add_parser(
        "sync",
        help="deliver the tracked runs waiting in the journal (spool)",
        description="Send every journaled run to the tracking store, oldest first. Exit 0 when "
        "all arrived, 69 when the store is unreachable, 65 when entries had to be skipped.",
    )
    sync.add_argument(
        "--tracking-uri",
        type=one_line,
        help="store to replay into (default: the tracking-URI rule)",
    )
    sync.add_argument(
        "--spool-dir", type=one_line, help="spool directory (default: the user's spool)"
    )
    sync.add_argument(
        "--status",
        action="store_true",
        help="only print how many runs wait for delivery, the oldest, and why delivery fails",
    )
    sync.add_argument(
        "--requeue",
        action="store_true",
        help="first put the entries the store refused (quarantined, e.g. before a permission "
        "was granted) back into the journal; corrupt ones stay; one line per entry",
    )
    sync.set_defaults(func=run_sync, failure_code=EXIT_UNAVAILABLE)


def run_server(args: argparse.Namespace) -> int:
    """Start the server in the foreground until interrupted."""
    from jupyter_mlops.core.store import default_tracking_uri, project_root
    from jupyter_mlops.core.team.artifact_store import check_artifacts_destination
    from jupyter_mlops.core.team.server import TeamServer

    check_server_options(args)
    backend = args.backend_store_uri or default_tracking_uri()
    artifacts = args.artifacts_destination or str(project_root() / "mlartifacts")
    auth = auth_setup(args)
    check_artifacts_destination(artifacts)  # s3://: bucket and keys usable, else 64 / 69
    server = TeamServer(
        backend_store_uri=backend,
        artifacts_destination=artifacts,
        host=args.host,
        port=args.port,
        workers=args.workers,
        app_name="basic-auth" if auth else None,
        env=auth.prepare() if auth else {},
    )
    server.start()  # MlopsError: one line and 69 (cannot start) or 64 (cannot launch) in main
    url = server.url if args.host not in {"0.0.0.0", "::"} else f"http://<this host>:{args.port}"
    print(f"MLflow tracking server on {url} (backend {redact_uri(backend)}, artifacts {artifacts})")
    print(f"point notebooks at it:  export MLFLOW_TRACKING_URI={url}")
    print(f"  or in a notebook:     %config MlopsMagics.tracking_uri = '{url}'")
    if auth:
        print_auth_help(auth, url)
    print(f"server log: {server.log_path}; Ctrl-C stops the server", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        assert server.process is not None
        code = server.process.wait()
    except KeyboardInterrupt:
        code = 0
    finally:
        server.stop()
    if code:
        print(f"jupyter mlops server: mlflow server exited with {code}: {server.log_tail()}")
        return EXIT_UNAVAILABLE
    return EXIT_OK


def auth_setup(args: argparse.Namespace) -> AuthSetup | None:
    """The auth app's files for ``--auth`` (None without it); bad flags are a UsageProblem."""
    from jupyter_mlops.core.store import project_root
    from jupyter_mlops.core.team.auth import AUTH_DIR, AuthSetup

    if not args.auth:
        if args.auth_dir or args.auth_db_uri:
            raise UsageProblem("--auth-dir and --auth-db-uri need --auth")
        return None
    folder = Path(args.auth_dir) if args.auth_dir else project_root() / AUTH_DIR
    setup = AuthSetup(
        folder, args.auth_db_uri, args.admin_username, args.default_permission,
        args.auth_cache_seconds,
    )  # fmt: skip
    setup.check()
    return setup


def print_auth_help(auth: AuthSetup, url: str) -> None:
    """How each user connects, and how the admin adds users and grants permissions."""
    admin = f"MLFLOW_TRACKING_USERNAME={auth.admin_username} "
    admin += f'MLFLOW_TRACKING_PASSWORD="$(cat {auth.admin_password_file})"'
    print(auth.describe())
    print(
        "each user, before starting Jupyter:  export MLFLOW_TRACKING_USERNAME=<name> "
        "MLFLOW_TRACKING_PASSWORD=<password>"
    )
    print(f"add a user:   {admin} jupyter mlops users add alice --tracking-uri {url}")
    print(
        f"grant:        {admin} jupyter mlops users grant alice --model churn "
        f"--permission MANAGE --tracking-uri {url}"
    )


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def check_server_options(args: argparse.Namespace) -> None:
    """UsageProblem, before anything starts, for a port, worker count or URI that cannot work."""
    if not 1 <= args.port <= 65535:
        raise UsageProblem(f"--port must be between 1 and 65535, not {args.port}")
    if not 1 <= args.workers <= 64:
        raise UsageProblem(f"--workers must be between 1 and 64, not {args.workers}")
    for flag, value in (
        ("--backend-store-uri", args.backend_store_uri),
        ("--artifacts-destination", args.artifacts_destination),
        ("--host", args.host),
    ):
        if value is not None and (not value.strip() or any(c in value for c in "\n\r\x00")):
            raise UsageProblem(f"{flag} must be one non-empty line, not {value[:80]!r}")


def run_sync(args: argparse.Namespace) -> int:
    """Replay the spool into the resolved store; the summary line goes to stdout."""
    from jupyter_mlops.core.store import resolve_tracking_uri
    from jupyter_mlops.core.team.sync import delivery_status, sync

    if args.status and args.requeue:
        raise UsageProblem("--status only reports: it cannot be combined with --requeue")
    if args.status:
        uri = resolve_tracking_uri(args.tracking_uri)
        print(f"{redact_uri(uri)}: {delivery_status(args.spool_dir, uri).text()}")
        return EXIT_OK
    result = sync(args.tracking_uri, args.spool_dir, requeue=args.requeue)
    for line in result.requeued:
        print(line)
    print(f"{redact_uri(resolve_tracking_uri(args.tracking_uri))}: {result.summary()}")
    if result.error:
        return EXIT_UNAVAILABLE
    return EXIT_DATA_SKIPPED if result.skipped else EXIT_OK
