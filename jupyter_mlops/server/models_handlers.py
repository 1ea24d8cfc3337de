"""REST handlers for registered models: list, one model, champion comparison, promotion."""

from __future__ import annotations

from typing import Any

from tornado import web

from jupyter_mlops.server.base import INT64_MAX, MlopsHandler
from jupyter_mlops.server.errors import BadRequest


def checked_version(value: str) -> str:
    """A model version number (ASCII digits, within MLflow's 64-bit range); else a 400."""
    if not (value.isascii() and value.isdigit()) or int(value) > INT64_MAX:
        raise BadRequest("version must be a version number")
    return str(int(value))


class ModelsHandler(MlopsHandler):
    """GET ``models``: registered models with their aliases."""

    @web.authenticated
    async def get(self) -> None:
        """List registered models."""
        await self.reply("list models", lambda: {"models": self.registry.models()})


class ModelHandler(MlopsHandler):
    """GET ``model?name=``: one model with its versions (names travel as a query argument)."""

    @web.authenticated
    async def get(self) -> None:
        """One model with its versions."""
        await self.reply("get model", lambda: self.registry.model(self._name()))

    def _name(self) -> str:
        name = self.text_argument("name")
        if not name:
            raise BadRequest("name (a registered model name) is required")
        if len(name) > 500:
            raise BadRequest("name (a registered model name) must be at most 500 characters")
        return name


class CompareHandler(ModelHandler):
    """GET ``model/compare?name=&version=&alias=champion``: candidate vs current alias holder."""

    @web.authenticated
    async def get(self) -> None:
        """Metric comparison shown in the promote confirmation dialog."""
        await self.reply("compare versions", self._compare)

    def _compare(self) -> dict[str, Any]:
        version = checked_version(self.text_argument("version"))
        alias = self.text_argument("alias", "champion", max_length=500)
        return self.registry.compare(self._name(), version, alias)


class PromoteHandler(MlopsHandler):
    """POST ``model/promote``: {name, version, alias} sets an alias; with ``remove`` drops it."""

    @web.authenticated
    async def post(self) -> None:
        """Set or remove an alias through the registry's own promote/demote."""
        body = self.json_body_or_fail()
        if body is None:
            return
        await self.reply("promote", lambda: self._apply(body))

    def json_body_or_fail(self) -> dict[str, Any] | None:
        try:
            return self.json_body()
        except BadRequest as error:
            self.fail(400, str(error))
            return None

    def _apply(self, body: dict[str, Any]) -> dict[str, Any]:
        name, alias = body.get("name"), body.get("alias", "champion")
        if not isinstance(name, str) or not name:
            raise BadRequest("name (a registered model name) is required")
        if len(name) > 500:
            raise BadRequest("name (a registered model name) must be at most 500 characters")
        if not isinstance(alias, str):
            raise BadRequest("alias must be a string")
        user = self.user_name()
        if body.get("remove"):
            return self.registry.demote(name, alias, user)
        version = body.get("version")
        if isinstance(version, bool) or not isinstance(version, (str, int)):
            raise BadRequest("version must be a version number")
        return self.registry.promote(name, checked_version(str(version)), alias, user)

    def user_name(self) -> str | None:
        """The jupyter-server user making the request, recorded in the promotion history."""
        user = self.current_user
        name = getattr(user, "name", None) or getattr(user, "username", None)
        # token-only servers give every visitor a random anonymous identity: record the
        # server's own OS user instead (core's default) rather than a meaningless id
        if not name or str(name).startswith("Anonymous"):
            return None
        return str(name)


ROUTES: list[tuple[str, type[MlopsHandler]]] = [
    (r"models", ModelsHandler),
    (r"model", ModelHandler),
    (r"model/compare", CompareHandler),
    (r"model/promote", PromoteHandler),
]
