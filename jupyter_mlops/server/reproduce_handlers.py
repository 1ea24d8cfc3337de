"""REST handler for stale runs: which runs' slice code or DVC inputs changed since they ran."""

from __future__ import annotations

from typing import Any

from tornado import web

from jupyter_mlops.server.base import MlopsHandler
from jupyter_mlops.server.errors import BadRequest

MAX_RUNS = 200


class StaleHandler(MlopsHandler):
    """GET ``experiments/<id>/stale?run=<id>&run=<id>``: staleness of those runs (hashes only)."""

    @web.authenticated
    async def get(self, experiment_id: str) -> None:
        """``{"runs": {run_id: {"stale", "reasons", "reproducible"}}}``."""
        await self.reply("check stale runs", lambda: self._stale(experiment_id))

    def _stale(self, experiment_id: str) -> dict[str, Any]:
        from jupyter_mlops.core.reproduce.staleness import stale_runs
        from jupyter_mlops.core.runs.summaries import query_runs
        from jupyter_mlops.core.store import project_root

        exp_id = self.checked_id(experiment_id, "experiment")
        run_ids = [self.checked_id(r, "run") for r in self.get_query_arguments("run")]
        if not run_ids or len(run_ids) > MAX_RUNS:
            raise BadRequest(f"give 1 to {MAX_RUNS} run ids as ?run=<id>&run=<id>")
        quoted = ", ".join(f"'{r}'" for r in dict.fromkeys(run_ids))
        page = query_runs(
            self.runs.tracking_uri,
            [exp_id],
            filter_string=f"attributes.run_id IN ({quoted})",
            limit=len(run_ids),
        )
        root = project_root(self.settings.get("server_root_dir") or ".")
        found = stale_runs(self.runs.tracking_uri, page.runs, root)
        return {"runs": {run_id: s.to_dict() for run_id, s in found.items()}}


ROUTES: list[tuple[str, type[MlopsHandler]]] = [(r"experiments/([^/]+)/stale", StaleHandler)]
