"""The slot through which an adapter supplies the view behind ``Monitor.dashboard()``.

Core never imports the widgets package, not even lazily: ``jupyter_mlops.widgets`` fills this
slot when it is imported (``jupyter_mlops.Monitor`` and ``%load_ext jupyter_mlops`` import it),
so ``Monitor.dashboard()`` keeps working in a notebook while the core stays usable without any
front-end library.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jupyter_mlops.core.errors import UsageProblem

DashboardView = Callable[[Any], Any]  # monitor -> something a notebook displays

_view: DashboardView | None = None


def register_dashboard_view(view: DashboardView | None) -> None:
    """Make ``view(monitor)`` the view ``Monitor.dashboard()`` returns (None clears it)."""
    global _view
    _view = view


def dashboard_view() -> DashboardView:
    """The registered view; UsageProblem naming the fix when no adapter registered one."""
    if _view is None:
        raise UsageProblem(
            "no dashboard view is registered: `import jupyter_mlops.widgets` first "
            "(or call jupyter_mlops.monitor_dashboard(monitor))"
        )
    return _view
