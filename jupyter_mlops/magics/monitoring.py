"""Monitoring magics: ``%mlops_drift REF CUR``, a thin call of the ``drift()`` widget."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

import jupyter_mlops.widgets  # noqa: F401  registers the view behind Monitor.dashboard()
from jupyter_mlops.core.errors import MlopsError
from jupyter_mlops.magics.arguments import parse


@magics_class
class MonitoringMagics(Magics):
    """Drift between two DataFrames of the namespace, shown inline."""

    @magic_arguments()
    @argument("reference", help="name of the reference DataFrame in the namespace")
    @argument("current", help="name of the current DataFrame in the namespace")
    @argument("--columns", help="comma-separated columns to test (default: all)")
    @argument("--test", help="one test for every column (ks, wasserstein, psi, ...)")
    @argument("--threshold", type=float, help="one threshold for every column")
    @argument("--log", action="store_true", help="also log the report to the tracked run")
    @line_magic
    def mlops_drift(self, line: str) -> Any:
        """Show per-column drift of CURRENT against REFERENCE (function twin: ``drift()``).

        Example: ``%mlops_drift train_df live_df --columns age,income --test psi``
        """
        from jupyter_mlops.widgets.drift import drift

        args = parse(self.mlops_drift, line)
        reference = self._frame(args.reference)
        current = self._frame(args.current)
        columns = None
        if args.columns:
            columns = [c.strip() for c in args.columns.split(",") if c.strip()]
        try:
            widget = drift(
                reference, current, columns=columns, tests=args.test, threshold=args.threshold
            )
            if args.log:
                widget.log_to_mlflow()
        except MlopsError as exc:
            raise UsageError(str(exc)) from None
        return widget

    def _frame(self, name: str) -> Any:
        namespace = self.shell.user_ns if self.shell is not None else {}
        if name not in namespace:
            raise UsageError(f"no variable named {name!r} in the namespace")
        value = namespace[name]
        import pandas as pd

        if not isinstance(value, pd.DataFrame):
            raise UsageError(f"{name} is a {type(value).__name__}, not a pandas DataFrame")
        return value
