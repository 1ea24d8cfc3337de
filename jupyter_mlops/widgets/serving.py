"""The notebook face of serving: ``serve()`` returning a ``LiveServer`` whose display is live.

``display(server)`` (or ``server.dashboard()``) shows requests/s, p50/p95/p99 latency, errors,
the version timeline with swaps marked and the shadow comparison, refreshed every second by a
kernel thread while the server runs. Python computes every number; ``serving.js`` only draws.
Under nbconvert the bundle's escaped HTML summary is what the notebook keeps.
"""

from __future__ import annotations

import threading
import time
import weakref
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from jupyter_mlops.core.serving.server import Server, servers
from jupyter_mlops.core.serving.server import serve as core_serve
from jupyter_mlops.widgets._display import StaticFallback
from jupyter_mlops.widgets._html import esc, fmt_number, html_table

__all__ = ["LiveServer", "ServerDashboard", "dashboard_view", "serve", "servers"]

_HERE = Path(__file__).parent
SERVING_ESM = (_HERE / "drift_common.js").read_text() + (_HERE / "serving.js").read_text()
REFRESH_S = 1.0


def _ms(value: Any) -> str:
    return "" if value is None else f"{value:.2f} ms"


def dashboard_view(stats: dict[str, Any]) -> dict[str, Any]:
    """What the live view draws: headline numbers, series, swaps and shadow, all plain data."""
    shadow = stats.get("shadow") or {}
    versions = stats.get("versions") or []
    return {
        "model_uri": stats.get("model_uri"),
        "url": stats.get("url"),
        "running": bool(stats.get("running")),
        "version": stats.get("version"),
        "numbers": {
            "requests/s": round(stats.get("requests_per_s") or 0.0, 2),
            "requests": stats.get("requests", 0),
            "errors": stats.get("errors", 0),
            "p50": _ms(stats.get("p50_ms")),
            "p95": _ms(stats.get("p95_ms")),
            "p99": _ms(stats.get("p99_ms")),
        },
        "series": stats.get("series") or {},
        "swaps": [{"version": v["version"], "t": v["since"]} for v in versions],
        "shadow": None
        if not stats.get("shadow_uri")
        else {
            "uri": stats.get("shadow_uri"),
            "version": stats.get("shadow_version"),
            "agreement": stats.get("shadow_agreement"),
            "mae": stats.get("shadow_mae"),
            "requests": shadow.get("requests", 0),
            "errors": shadow.get("errors", 0),
            "dropped": shadow.get("dropped", 0),
            "p50": _ms(shadow.get("p50_ms")),
            "champion_p50": _ms(stats.get("p50_ms")),
        },
    }


def _summary(view: dict[str, Any]) -> str:
    n = view["numbers"]
    state = "serving" if view["running"] else "stopped"
    line = (
        f"{view['model_uri']} v{view['version']} {state} at {view['url']}: "
        f"{n['requests']} requests, {n['errors']} errors, p50 {n['p50'] or '-'}, "
        f"p95 {n['p95'] or '-'}, p99 {n['p99'] or '-'}"
    )
    shadow = view["shadow"]
    if shadow and shadow["agreement"] is not None:
        line += f"; shadow v{shadow['version']} agreement {shadow['agreement']:.1%}"
    elif shadow and shadow["mae"] is not None:
        line += f"; shadow v{shadow['version']} MAE {shadow['mae']:.4g}"
    return line


class ServerDashboard(StaticFallback, anywidget.AnyWidget):
    """Live view of a ``Server``: refreshed by a kernel thread while the server runs."""

    _esm = SERVING_ESM
    view = traitlets.Dict({}).tag(sync=True)
    summary = traitlets.Unicode("").tag(sync=True)

    def __init__(self, server: Server, interval: float = REFRESH_S, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._server = server
        self.refresh()
        if server.running:
            ref = weakref.ref(self)
            threading.Thread(
                target=_keep_fresh,
                args=(ref, interval),
                name="jupyter-mlops-dashboard",
                daemon=True,
            ).start()

    def refresh(self) -> None:
        """Read the server's stats once and push them to the view."""
        view = dashboard_view(self._server.stats())
        self.view = view
        self.summary = _summary(view)

    def static_html(self) -> str:
        """The headline numbers and version swaps as escaped HTML."""
        v = self.view
        rows = [[k, fmt_number(val)] for k, val in v.get("numbers", {}).items()]
        if v.get("shadow"):
            sh = v["shadow"]
            rows.append(["shadow", f"{sh['uri']} v{sh['version']}"])
            rows.append(["shadow agreement", fmt_number(sh["agreement"])])
            rows.append(["shadow MAE", fmt_number(sh["mae"])])
            rows.append(["shadow p50", sh["p50"]])
        swaps = ", ".join(f"v{s['version']}" for s in v.get("swaps", []))
        rows.append(["versions served", swaps])
        return (
            f"<div class='jm-serving-static'><b>{esc(self.summary)}</b>"
            f"{html_table(['', 'value'], rows)}</div>"
        )

    def static_text(self) -> str:
        """The summary line."""
        return self.summary


def _keep_fresh(ref: weakref.ref[ServerDashboard], interval: float) -> None:
    """Refresh the view every ``interval`` s; stop (after a last refresh) with the server."""
    while True:
        time.sleep(interval)
        widget = ref()
        if widget is None or widget.comm is None:
            return
        try:
            widget.refresh()
        except Exception:  # a closed comm or a dead kernel channel: stop quietly
            return
        if not widget._server.running:
            return


class ReplayProgress:
    """A tqdm-like bar for ``replay`` in a notebook: a progress widget that keeps a static text
    summary (so an executed notebook shows the final count, not an empty widget)."""

    def __init__(self, total: int, unit: str = "req", desc: str = "replay") -> None:
        from IPython.display import display

        self.total, self.unit, self.desc, self.n = total, unit, desc, 0
        self._bar = _progress_bar_class()(max=max(total, 1), description=desc)
        self._bar.summary = self.text
        self._handle = display(self._bar, display_id=True)

    def text(self) -> str:
        """``replay: 143/143 req``."""
        return f"{self.desc}: {self.n}/{self.total} {self.unit}"

    def update(self, n: int = 1) -> None:
        """Count ``n`` more requests."""
        self.n += n
        self._bar.value = self.n

    def close(self) -> None:
        """Show the final count (also in the saved output's static text)."""
        self._bar.bar_style = "success"
        if self._handle is not None:
            self._handle.update(self._bar)


def _progress_bar_class() -> type:
    import ipywidgets

    class ProgressBar(StaticFallback, ipywidgets.IntProgress):
        summary: Any = None

        def static_text(self) -> str:
            return self.summary() if self.summary else ""

        def static_html(self) -> str:
            return f"<pre>{esc(self.static_text())}</pre>"

    return ProgressBar


class LiveServer(Server):
    """A ``Server`` whose notebook display is the live dashboard."""

    def dashboard(self, interval: float = REFRESH_S) -> ServerDashboard:
        """The live view of this server."""
        return ServerDashboard(self, interval)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.dashboard()._repr_mimebundle_(**kwargs)

    def replay(self, frame: Any, rps: float | None = None, concurrency: int = 4, **kw: Any) -> Any:
        """``Server.replay`` with a notebook progress bar."""
        if kw.get("progress", True) is True:
            kw["progress"] = ReplayProgress
        return super().replay(frame, rps, concurrency, **kw)


def serve(
    model_uri: str, port: int = 0, host: str = "127.0.0.1", shadow: str | None = None, **kwargs: Any
) -> LiveServer:
    """``core.serving.serve`` returning a ``LiveServer`` (function twin of ``%mlops_serve``)."""
    server = core_serve(model_uri, port, host, shadow, server_class=LiveServer, **kwargs)
    assert isinstance(server, LiveServer)
    return server
