"""REST handler for the journal: how many tracked runs wait for delivery and why (sidebar)."""

from __future__ import annotations

from tornado import web

from jupyter_mlops.server.base import MlopsHandler


class DeliveryHandler(MlopsHandler):
    """GET ``delivery``: ``{"pending", "oldest", "failing", "quarantined"}`` of the journal."""

    @web.authenticated
    async def get(self) -> None:
        """The journal's delivery status (the folder of ``$JUPYTER_MLOPS_SPOOL_DIR``)."""
        from jupyter_mlops.core.tracking.journal import status

        await self.reply("read the journal", lambda: status().to_dict())


ROUTES = [("delivery", DeliveryHandler)]
