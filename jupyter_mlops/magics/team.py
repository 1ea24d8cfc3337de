"""Team-mode magics: ``%mlops_sync`` replays runs spooled while the tracking server was down."""

from __future__ import annotations

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from jupyter_mlops.core.errors import MlopsError
from jupyter_mlops.magics.arguments import parse


@magics_class
class TeamMagics(Magics):
    """Work against a shared tracking server: offline spool status and replay."""

    def _tracking_uri(self, explicit: str | None) -> str:
        from jupyter_mlops.core.store import resolve_tracking_uri

        track = self.shell.magics_manager.registry.get("MlopsMagics") if self.shell else None
        return resolve_tracking_uri(explicit or getattr(track, "tracking_uri", None) or None)

    @magic_arguments()
    @argument("--tracking-uri", help="store to replay into (default: %%config MlopsMagics)")
    @argument("--spool-dir", help="spool directory (default: $JUPYTER_MLOPS_SPOOL_DIR or ~/.cache)")
    @argument("--status", action="store_true", help="only say what waits for delivery and why")
    @argument(
        "--requeue",
        action="store_true",
        help="first put entries the store refused (quarantined) back into the journal",
    )
    @line_magic
    def mlops_sync(self, line: str) -> None:
        """Replay runs spooled while the tracking server was unreachable, oldest first.

        Prints one line: runs and metric points replayed, entries skipped, runs still spooled;
        with ``--requeue`` first one line per quarantined entry (moved back, or kept: corrupt).
        Function twin: ``jupyter_mlops.sync(tracking_uri=None, spool_dir=None, requeue=False)``.
        """
        from jupyter_mlops.core.team.sync import delivery_status, sync

        args = parse(self.mlops_sync, line)
        if args.status and args.requeue:
            raise UsageError(
                "%mlops_sync: --status only reports: it cannot be combined with --requeue"
            )
        try:
            if args.status:
                uri = self._tracking_uri(args.tracking_uri)
                print(delivery_status(args.spool_dir, uri).text())
                return
            result = sync(self._tracking_uri(args.tracking_uri), args.spool_dir, args.requeue)
        except MlopsError as exc:
            raise UsageError(f"%mlops_sync: {exc}") from None
        for entry_line in result.requeued:
            print(entry_line)
        print(result.summary())
