"""``%mlops_serve``: serve a registered model from the notebook and show it live.

The magic parses its arguments and calls ``serve()`` (``jupyter_mlops.widgets.serving``),
whose ``LiveServer`` displays as the live dashboard.
"""

from __future__ import annotations

import shlex
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from jupyter_mlops.core.errors import MlopsError


@magics_class
class ServingMagics(Magics):
    """Model serving with request metrics, alias following and shadow traffic."""

    def _tracking_uri(self) -> str | None:
        tracker = self.shell.magics_manager.registry.get("MlopsMagics") if self.shell else None
        return getattr(tracker, "tracking_uri", "") or None

    @magic_arguments()
    @argument("model_uri", nargs="?", help="models:/NAME@alias, models:/NAME/N or a model path")
    @argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    @argument("--host", default="127.0.0.1", help="interface (default: loopback)")
    @argument("--shadow", default=None, help="a second model URI to copy every request to")
    @argument("--poll", type=float, default=2.0, help="seconds between alias checks")
    @argument("--list", action="store_true", help="list the servers of this kernel")
    @argument("--stop", action="store_true", help="stop every server of this kernel")
    @line_magic
    def mlops_serve(self, line: str) -> Any:
        """Serve a model: ``%mlops_serve models:/NAME@champion [--port N] [--shadow URI]``.

        Returns the server (function twin: ``serve()``); displayed, it is a live dashboard.
        ``%mlops_serve --list`` lists this kernel's servers, ``--stop`` stops them all.
        """
        from jupyter_mlops.widgets.serving import serve, servers

        try:
            args = self.mlops_serve.parser.parse_args(shlex.split(line))
        except (ValueError, UsageError) as exc:
            raise UsageError(f"%mlops_serve: {exc}") from None
        if args.list or args.stop:
            running = servers()
            if args.stop:
                for server in running:
                    server.stop()
                print(f"stopped {len(running)} server(s)")
                return None
            print("\n".join(s.summary() for s in running) or "no servers running")
            return None
        if not args.model_uri:
            raise UsageError("%mlops_serve: give a model URI such as models:/NAME@champion")
        try:
            return serve(
                args.model_uri,
                args.port,
                args.host,
                args.shadow,
                poll_interval=args.poll,
                tracking_uri=self._tracking_uri(),
            )
        except MlopsError as exc:
            raise UsageError(f"%mlops_serve: {exc}") from None
