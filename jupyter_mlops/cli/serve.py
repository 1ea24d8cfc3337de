"""``jupyter mlops serve MODEL_URI``: serve a model in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import time
from typing import Any

from jupyter_mlops.core.contracts import EXIT_OK

STATUS_EVERY_S = 30.0


def register(subparsers: Any) -> None:
    """Add the ``serve`` subcommand."""
    parser = subparsers.add_parser(
        "serve",
        help="serve a registered model with request metrics (Ctrl-C stops it)",
        description="Serve MODEL_URI with MLflow's scoring protocol (POST /invocations), "
        "Prometheus metrics on /metrics and JSON stats on /stats. models:/NAME@alias follows "
        "the alias: a promotion is served within seconds without a failed request.",
    )
    parser.add_argument("model_uri", help="models:/NAME@alias, models:/NAME/N or a model path")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="interface (default: loopback)")
    parser.add_argument("--shadow", help="a second model URI every request is copied to")
    parser.add_argument("--tracking-uri", help="registry store (default: the tracking-URI rule)")
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between alias checks")
    parser.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    """Start the server, print where it listens, report now and then, stop on Ctrl-C."""
    from jupyter_mlops.core.serving.server import serve

    server = serve(  # our errors: one line from cli.main (64, or 69 when the store is down)
        args.model_uri,
        port=args.port,
        host=args.host,
        shadow=args.shadow,
        tracking_uri=args.tracking_uri,
        poll_interval=args.poll,
    )
    print(f"serving {args.model_uri} v{server.stats().get('version')} on {server.url}")
    print(
        f"  curl -X POST {server.url}/invocations -H 'Content-Type: application/json' "
        "-d '{\"dataframe_split\": {...}}'"
    )
    print(
        f"  metrics: {server.url}/metrics   stats: {server.url}/stats   Ctrl-C stops it", flush=True
    )
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while server.running:
            time.sleep(STATUS_EVERY_S)
            print(server.summary(), flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return EXIT_OK


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt
