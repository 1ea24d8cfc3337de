"""ipywidgets views over core results: Python computes, the front end only renders.

Importing this package registers the view behind ``Monitor.dashboard()`` with the core (which
never imports widgets); the view itself, and anywidget, load on the first call.
"""

from __future__ import annotations

from typing import Any

from jupyter_mlops.core.monitoring.dashboard_view import register_dashboard_view


def _monitor_dashboard(monitor: Any) -> Any:
    from jupyter_mlops.widgets.drift import monitor_dashboard

    return monitor_dashboard(monitor)


register_dashboard_view(_monitor_dashboard)
