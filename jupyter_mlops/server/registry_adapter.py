"""The sidebar's Models API: a thin adapter over ``core.models`` (the widget's own functions).

Listing, versions, the champion verdict, alias rules and promotion are core's; this module only
shapes their results as the JSON the sidebar reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jupyter_mlops.core.models.registry import VersionSummary

# core.models is imported on first use, not when the extension loads (the server's start-up
# stays as short as before; the warm-up and the first request pay for it)


class RegistryAdapter:
    """Models, versions, aliases and promotions of one tracking store, as plain dicts."""

    def __init__(self, tracking_uri: str) -> None:
        self.uri = tracking_uri

    def models(self) -> list[dict[str, Any]]:
        """Registered models with their aliases (alias → version) and newest version."""
        from jupyter_mlops.core.models import registry

        return [m.to_dict() for m in registry.model_summaries(self.uri)]

    def model(self, name: str) -> dict[str, Any]:
        """One model: versions newest first (aliases, source-run metrics) and its history."""
        from jupyter_mlops.core.models import registry

        versions = registry.model_versions(name, self.uri)
        return self._detail(name, versions)

    def _detail(self, name: str, versions: list[VersionSummary]) -> dict[str, Any]:
        from jupyter_mlops.core.models import promotion

        rows = [v.to_dict() for v in versions]
        aliases = {alias: v["version"] for v in rows for alias in v["aliases"]}
        history = [p.to_dict() for p in promotion.promotion_history(name, self.uri)]
        return {
            "name": name,
            "aliases": aliases,
            "versions": rows,
            "history": history,
            "access": self.access(name),
        }

    def access(self, name: str) -> dict[str, Any]:
        """Whether this server's user may promote ``name``, with the reason when not."""
        from jupyter_mlops.core.access import model_access

        access = model_access(name, self.uri)
        reason = access.denial("MANAGE", f"model {name!r}")
        return {
            "user": access.user,
            "permission": access.permission,
            "can_promote": not reason,
            "reason": reason,
        }

    def compare(self, name: str, version: str, alias: str) -> dict[str, Any]:
        """Every metric of ``version``'s run beside the current ``alias`` holder's, plus core's
        verdict on the primary metric."""
        from jupyter_mlops.core.models import champion, promotion, registry

        alias = promotion.check_alias(alias)
        versions = registry.model_versions(name, self.uri)
        candidate, holder = champion.candidate_and_holder(versions, name, version, alias)
        verdict = champion.verdict(candidate, holder)
        new = candidate.to_dict()["metrics"]
        old = holder.to_dict()["metrics"] if holder else {}
        rows = []
        for key in sorted(set(new) | set(old)):
            a, b = new.get(key), old.get(key)
            delta = a - b if a is not None and b is not None else None
            rows.append({"key": key, "candidate": a, "current": b, "delta": delta})
        return {
            "name": name,
            "alias": alias,
            "candidate": {"version": candidate.version, "run_id": candidate.run_id},
            "current": {"version": holder.version, "run_id": holder.run_id} if holder else None,
            "metrics": rows,
            "primary": {
                "metric": verdict.metric,
                "higher_is_better": verdict.higher_is_better,
                "worse": verdict.worse,
                "message": verdict.message,
            },
        }

    def promote(self, name: str, version: str, alias: str, user: str | None) -> dict[str, Any]:
        """Point ``alias`` at ``version`` by core's promote (recorded in the history)."""
        from jupyter_mlops.core.models import promotion

        entry = promotion.promote(name, version, alias, tracking_uri=self.uri, user=user)
        return {**self.model(name), "serving_notes": entry.serving}

    def demote(self, name: str, alias: str, user: str | None) -> dict[str, Any]:
        """Remove ``alias`` by core's demote (recorded in the history)."""
        from jupyter_mlops.core.models import promotion

        entry = promotion.demote(name, alias, tracking_uri=self.uri, user=user)
        return {**self.model(name), "serving_notes": entry.serving}
