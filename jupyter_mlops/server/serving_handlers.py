"""REST handler for model serving: which versions are served where (the Models tab).

Serving processes announce themselves in the runtime dir (``core.serving.runtime``), whichever
kernel or terminal started them; this handler lists the live ones with their latest numbers.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from tornado import web

from jupyter_mlops.server.base import MlopsHandler

STATS_TIMEOUT_S = 1.0
_NUMBERS = ("requests", "errors", "p50_ms", "p95_ms", "p99_ms", "requests_per_s")


def _live_numbers(url: str) -> dict[str, Any]:
    """The headline numbers of one server's ``/stats`` (empty when it does not answer)."""
    try:
        with urllib.request.urlopen(url + "/stats", timeout=STATS_TIMEOUT_S) as resp:
            stats = json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return {}
    out = {k: stats.get(k) for k in _NUMBERS}
    out["shadow_agreement"] = stats.get("shadow_agreement")
    return out


def served(model: str | None = None) -> list[dict[str, Any]]:
    """Live servers (optionally of one registered model) with their latest numbers."""
    from jupyter_mlops.core.serving.runtime import running_servers

    found = []
    for info in running_servers():
        if model and info.get("model") != model:
            continue
        keep = ("pid", "url", "model", "version", "model_uri", "shadow_uri", "shadow_version")
        entry = {k: info.get(k) for k in keep}
        entry["started"] = info.get("started")
        url = str(info.get("url", ""))
        if url.startswith(("http://127.", "http://localhost", "http://[::1]")):
            entry.update(_live_numbers(url))
        found.append(entry)
    return found


class ServingHandler(MlopsHandler):
    """GET ``serving[?name=MODEL]``: the model servers running on this host."""

    @web.authenticated
    async def get(self) -> None:
        """List live model servers and the versions they serve."""
        name = self.get_query_argument("name", "") or None
        await self.reply("list servers", lambda: {"servers": served(name)})


ROUTES: list[tuple[str, type[MlopsHandler]]] = [(r"serving", ServingHandler)]
