"""Team-mode magics: ``%mlops_sync`` replays runs spooled while the tracking server was down."""

from __future__ import annotations

from pathlib import Path

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from jupyter_mlops.core.errors import MlopsError, first_line
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
    @argument("--status", action="store_true", help="only say how many runs are spooled")
    @line_magic
    def mlops_sync(self, line: str) -> None:
        """Replay runs spooled while the tracking server was unreachable, oldest first.

        Prints one line: runs and metric points replayed, entries skipped, runs still spooled.
        Function twin: ``jupyter_mlops.core.tracking.spool.replay(client)``.
        """
        from jupyter_mlops.core.store import get_client, redact_uri
        from jupyter_mlops.core.tracking import spool

        args = parse(self.mlops_sync, line)
        spool_dir = Path(args.spool_dir).expanduser() if args.spool_dir else None
        if spool_dir is not None and not spool_dir.is_dir():
            raise UsageError(f"%mlops_sync: no spool directory {spool_dir}")
        if args.status:
            print(f"{spool.pending_runs(spool_dir)} run(s) spooled")
            return
        uri = self._tracking_uri(args.tracking_uri)
        try:
            client = get_client(uri)
        except Exception as exc:  # MLflow refuses unknown schemes and paths in many ways
            raise UsageError(
                f"%mlops_sync: cannot open the tracking store {redact_uri(uri)}: {first_line(exc)}"
            ) from None
        try:
            result = spool.replay(client, spool_dir)
        except MlopsError as exc:
            raise UsageError(f"%mlops_sync: {exc}") from None
        print(result.summary())
