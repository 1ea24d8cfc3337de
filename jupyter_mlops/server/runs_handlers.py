"""REST handlers for experiments, runs, metric histories and artifacts."""

from __future__ import annotations

from typing import Any

from tornado import web

from jupyter_mlops.core.store import redact_uri
from jupyter_mlops.server.artifacts import BINARY
from jupyter_mlops.server.base import ApiFailure, MlopsHandler
from jupyter_mlops.server.errors import BadRequest

MAX_OFFSET = 10_000_000


class ExperimentsHandler(MlopsHandler):
    """GET ``experiments``: active experiments, most recently updated first."""

    @web.authenticated
    async def get(self) -> None:
        """List experiments."""
        await self.reply("list experiments", lambda: {"experiments": self.runs.experiments()})


class RunsHandler(MlopsHandler):
    """GET ``experiments/<id>/runs?offset&limit&order_by&filter``: one page of runs."""

    @web.authenticated
    async def get(self, experiment_id: str) -> None:
        """One page of an experiment's runs."""
        await self.reply("list runs", lambda: self._page(experiment_id))

    def _page(self, experiment_id: str) -> dict[str, Any]:
        exp_id = self.checked_id(experiment_id, "experiment")
        offset = self.int_argument("offset", 0, 0, MAX_OFFSET)
        limit = self.int_argument("limit", 50, 1, self.mlops.max_page_size)
        order_by = [o for o in self.get_query_arguments("order_by") if o.strip()] or None
        filter_string = self.text_argument("filter").strip() or None
        if order_by and any(len(o) > 500 for o in order_by):
            raise BadRequest("order_by clauses must be shorter than 500 characters")
        return self.runs.runs(
            exp_id, filter_string=filter_string, order_by=order_by, offset=offset, limit=limit
        )


class KeysHandler(MlopsHandler):
    """GET ``experiments/<id>/keys``: metric/param names and the default primary metric."""

    @web.authenticated
    async def get(self, experiment_id: str) -> None:
        """Names used by the experiment's runs."""
        await self.reply(
            "run keys", lambda: self.runs.keys(self.checked_id(experiment_id, "experiment"))
        )


class RunHandler(MlopsHandler):
    """GET ``runs/<run_id>``: params, metrics, tags, inputs and artifact list of one run."""

    @web.authenticated
    async def get(self, run_id: str) -> None:
        """Details of one run."""
        await self.reply("get run", lambda: self.runs.run(self.checked_id(run_id, "run")))


class MetricHistoryHandler(MlopsHandler):
    """GET ``runs/<run_id>/metric-history?key=``: every logged point of one metric."""

    @web.authenticated
    async def get(self, run_id: str) -> None:
        """History of one metric."""
        await self.reply("metric history", lambda: self._history(run_id))

    def _history(self, run_id: str) -> dict[str, Any]:
        key = self.text_argument("key")
        if not key:
            raise BadRequest("key (a metric name) is required")
        if len(key) > 250:
            raise BadRequest("key (a metric name) must be at most 250 characters")
        points = self.runs.metric_history(self.checked_id(run_id, "run"), key)
        return {"key": key, "points": points}


class ArtifactHandler(MlopsHandler):
    """GET ``runs/<run_id>/artifact?path=``: raw bytes of one artifact file, sandboxed.

    An image type only when the bytes are that image; other UTF-8 files as text/plain; anything
    else as an octet-stream download. Never HTML, never sniffed, never scripted.
    """

    @web.authenticated
    async def get(self, run_id: str) -> None:
        """Content of one artifact."""
        try:
            data, media = await self.call("read artifact", lambda: self._read(run_id))
        except ApiFailure as failure:
            self.fail(failure.status, failure.message)
            return
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Content-Security-Policy", "sandbox")
        download = media == BINARY
        self.set_header("Content-Disposition", "attachment" if download else "inline")
        self.finish(data, set_content_type=media)

    def _read(self, run_id: str) -> tuple[bytes, str]:
        path = self.text_argument("path", max_length=1024)
        return self.runs.artifact(self.checked_id(run_id, "run"), path)


ROUTES: list[tuple[str, type[MlopsHandler]]] = [
    (r"experiments", ExperimentsHandler),
    (r"experiments/([^/]+)/runs", RunsHandler),
    (r"experiments/([^/]+)/keys", KeysHandler),
    (r"runs/([^/]+)", RunHandler),
    (r"runs/([^/]+)/metric-history", MetricHistoryHandler),
    (r"runs/([^/]+)/artifact", ArtifactHandler),
]


class StatusHandler(MlopsHandler):
    """GET ``status``: which store the sidebar reads (password redacted) and our version."""

    @web.authenticated
    async def get(self) -> None:
        """Store and version."""
        from jupyter_mlops import __version__

        await self.reply(
            "status",
            lambda: {
                "tracking_uri": redact_uri(self.runs.tracking_uri),
                "version": __version__,
                "ready": self.runs.ready,
            },
        )


ROUTES.append((r"status", StatusHandler))
