"""REST handler for the journal: how many tracked runs wait for delivery and why (sidebar)."""

from __future__ import annotations

from tornado import web

from jupyter_mlops.server.base import MlopsHandler


class DeliveryHandler(MlopsHandler):
    """GET ``delivery``: ``{"pending", "oldest", "failing", "quarantined", "other_stores"}`` of
    the journal's entries for this server's store."""

    @web.authenticated
    async def get(self) -> None:
        """The journal's delivery status (the folder of ``$JUPYTER_MLOPS_SPOOL_DIR``)."""
        from jupyter_mlops.core.tracking.journal import status

        uri = self.runs.tracking_uri  # the store this sidebar shows
        await self.reply("read the journal", lambda: status(uri=uri).to_dict())


ROUTES = [("delivery", DeliveryHandler)]
