"""Data magics: ``%dvc_snapshot`` and ``%dvc_checkout``, thin calls of ``core.data``."""

from __future__ import annotations

import os
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from jupyter_mlops.core.contracts import tracking_disabled
from jupyter_mlops.core.data.snapshot import LINK_TYPES, Snapshot, SnapshotPushError
from jupyter_mlops.core.errors import MlopsError
from jupyter_mlops.magics.arguments import parse


class SnapshotList(list):
    """Several snapshots, displayed one per line."""

    def __str__(self) -> str:
        return "\n".join(str(s) for s in self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        return "".join(s._repr_html_() for s in self)


@magics_class
class DataMagics(Magics):
    """Version data with DVC and tie each version to the run that used it."""

    def _client(self) -> Any:
        from jupyter_mlops.core.store import get_client, resolve_tracking_uri

        track = self.shell.magics_manager.registry.get("MlopsMagics") if self.shell else None
        explicit = getattr(track, "tracking_uri", None) or None
        return get_client(resolve_tracking_uri(explicit))

    def _notebook(self) -> str | None:
        try:
            from jupyter_mlops.core.tracking.context import notebook_path
        except ImportError:
            return None
        return notebook_path()

    @magic_arguments()
    @argument("paths", nargs="+", help="files or folders to version with DVC")
    @argument("-m", "--message", help="git commit message (default: data: <path> <hash>)")
    @argument("--push", action="store_true", help="upload the data to the DVC remote")
    @argument("--remote", help="DVC remote name for --push (default: the repo's default remote)")
    @argument("--run", dest="run_id", help="link to this run (default: the %%track run or latest)")
    @argument("--no-commit", action="store_true", help="stage the .dvc file in git, no commit")
    @argument("--link-type", choices=LINK_TYPES, help="DVC cache link type (default: DVC's)")
    @line_magic
    def dvc_snapshot(self, line: str) -> Snapshot | SnapshotList:
        """Version PATHs with DVC, commit their .dvc files, link them to a run.

        Example: ``%dvc_snapshot data/train.csv -m "training set v3" --push``
        """
        args = parse(self.dvc_snapshot, line)
        client = None if _tracking_active() else self._client()
        try:
            made = _snapshot(args, client, self._notebook())
        except SnapshotPushError as exc:
            for snap in exc.snapshots:
                print(snap)
            raise UsageError(str(exc)) from None
        except MlopsError as exc:
            raise UsageError(str(exc)) from None
        return made if isinstance(made, Snapshot) else SnapshotList(made)

    @magic_arguments()
    @argument("run_id", help="the run whose data version to restore")
    @argument("paths", nargs="*", help="only these paths (default: every path the run used)")
    @argument("--force", action="store_true", help="overwrite local data changes not in DVC")
    @line_magic
    def dvc_checkout(self, line: str) -> None:
        """Restore in the work tree the data version(s) RUN_ID used, with their .dvc files."""
        from jupyter_mlops.core.data.checkout import checkout_data

        args = parse(self.dvc_checkout, line)
        try:
            restored = checkout_data(
                args.run_id, args.paths or None, force=args.force, client=self._client()
            )
        except MlopsError as exc:
            raise UsageError(str(exc)) from None
        for version in restored:
            print(version.summary(args.run_id))


def _tracking_active() -> bool:
    """True inside a ``%%track`` cell: the snapshot then goes to that run's own store."""
    from jupyter_mlops.core.active import current_run_id

    return current_run_id() is not None


def _snapshot(args: Any, client: Any, notebook: str | None) -> Snapshot | list[Snapshot]:
    from jupyter_mlops.core.data.snapshot import snapshot

    paths = args.paths[0] if len(args.paths) == 1 else args.paths
    disabled = tracking_disabled()
    return snapshot(
        paths,
        message=args.message,
        push=args.push,
        remote=args.remote,
        run_id=None if disabled else args.run_id,
        commit=not args.no_commit,
        link_type=args.link_type,
        cwd=os.getcwd(),
        client=client,
        notebook=notebook,
        link=not disabled,
    )
