"""``%mlops_compare`` and ``%mlops_registry``: line magics over the inline views.

Each magic only parses its arguments, resolves names in the user namespace and returns the
widget of its function twin (``compare_runs()``, ``registry()``), which the shell displays.
"""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from jupyter_mlops.core.errors import MlopsError
from jupyter_mlops.magics.arguments import parse


@magics_class
class ViewMagics(Magics):
    """Inline comparison and registry views."""

    def _tracking_uri(self) -> str | None:
        """The ``%config MlopsMagics.tracking_uri`` setting, when the tracking magics have one."""
        tracker = self.shell.magics_manager.registry.get("MlopsMagics") if self.shell else None
        return getattr(tracker, "tracking_uri", "") or None

    @magic_arguments()
    @argument(
        "experiment", nargs="?", default=None, help="experiment name or id (default: current)"
    )
    @argument("--runs", default=None, help="comma-separated run ids to compare")
    @argument("--filter", dest="filter_string", default=None, help="MLflow filter string")
    @argument("--max-runs", type=int, default=1000, help="at most this many runs are reachable")
    @argument("--page-size", type=int, default=100, help="rows per page")
    @line_magic
    def mlops_compare(self, line: str) -> Any:
        """Compare runs inline: ``%mlops_compare [EXPERIMENT] [--runs ID,ID] [--filter F]``."""
        args = parse(self.mlops_compare, line)
        from jupyter_mlops.widgets.compare import compare_runs

        run_ids = [r.strip() for r in args.runs.split(",") if r.strip()] if args.runs else None
        if args.max_runs < 1 or args.page_size < 1:
            raise UsageError("%mlops_compare: --max-runs and --page-size must be positive")
        try:
            return compare_runs(
                args.experiment,
                run_ids,
                args.filter_string,
                args.max_runs,
                page_size=args.page_size,
                tracking_uri=self._tracking_uri(),
            )
        except MlopsError as exc:
            raise UsageError(f"%mlops_compare: {exc}") from None

    @magic_arguments()
    @argument("model", nargs="?", default=None, help="registered model name (default: first)")
    @argument("--sample", default=None, help="variable holding a sample for 'try it'")
    @line_magic
    def mlops_registry(self, line: str) -> Any:
        """Registry view: ``%mlops_registry [MODEL] [--sample VAR]``."""
        args = parse(self.mlops_registry, line)
        from jupyter_mlops.widgets.registry import registry

        sample = None
        if args.sample is not None:
            if args.sample not in self.shell.user_ns:
                raise UsageError(f"%mlops_registry: no variable named {args.sample!r}")
            sample = self.shell.user_ns[args.sample]
        try:
            return registry(args.model, sample, tracking_uri=self._tracking_uri())
        except MlopsError as exc:
            raise UsageError(f"%mlops_registry: {exc}") from None
