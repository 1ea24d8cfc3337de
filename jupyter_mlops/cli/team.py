"""``jupyter mlops server`` (a shared MLflow tracking server) and ``jupyter mlops sync``."""

from __future__ import annotations

import argparse
import signal
from typing import Any

from jupyter_mlops.cli.errors import one_line
from jupyter_mlops.core.contracts import EXIT_DATA_SKIPPED, EXIT_OK, EXIT_UNAVAILABLE
from jupyter_mlops.core.errors import UsageProblem
from jupyter_mlops.core.store import redact_uri


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
        help="where the server keeps artifacts: a folder or s3://..., gs://... "
        "(default: <project root>/mlartifacts)",
    )
    server.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback)")
    server.add_argument("--port", type=int, default=5000, help="port (default: 5000)")
    server.add_argument("--workers", type=int, default=2, help="server worker processes")
    server.add_argument(
        "--basic-auth",
        action="store_true",
        help="enable MLflow's basic-auth app (clients set MLFLOW_TRACKING_USERNAME/PASSWORD)",
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
    sync.set_defaults(func=run_sync, failure_code=EXIT_UNAVAILABLE)


def run_server(args: argparse.Namespace) -> int:
    """Start the server in the foreground until interrupted."""
    from jupyter_mlops.core.store import default_tracking_uri, project_root
    from jupyter_mlops.core.team.server import TeamServer

    check_server_options(args)
    backend = args.backend_store_uri or default_tracking_uri()
    artifacts = args.artifacts_destination or str(project_root() / "mlartifacts")
    server = TeamServer(
        backend_store_uri=backend,
        artifacts_destination=artifacts,
        host=args.host,
        port=args.port,
        workers=args.workers,
        app_name="basic-auth" if args.basic_auth else None,
    )
    server.start()  # MlopsError: one line and 69 (cannot start) or 64 (cannot launch) in main
    url = server.url if args.host not in {"0.0.0.0", "::"} else f"http://<this host>:{args.port}"
    print(f"MLflow tracking server on {url} (backend {redact_uri(backend)}, artifacts {artifacts})")
    print(f"point notebooks at it:  export MLFLOW_TRACKING_URI={url}")
    print(f"  or in a notebook:     %config MlopsMagics.tracking_uri = '{url}'")
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

    if args.status:
        print(delivery_status(args.spool_dir).text())
        return EXIT_OK
    result = sync(args.tracking_uri, args.spool_dir)
    print(f"{redact_uri(resolve_tracking_uri(args.tracking_uri))}: {result.summary()}")
    if result.error:
        return EXIT_UNAVAILABLE
    return EXIT_DATA_SKIPPED if result.skipped else EXIT_OK
