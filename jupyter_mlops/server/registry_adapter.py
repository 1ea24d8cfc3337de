"""Registered models for the sidebar's Models tab, through ``core.registry`` (as the widget)."""

from __future__ import annotations

import math
from typing import Any

from jupyter_mlops.server.errors import BadRequest, NotFound


def check_alias(alias: str) -> str:
    """Aliases are short names of letters, digits, ``_`` and ``-`` (MLflow's own rule, bounded)."""
    if not isinstance(alias, str) or not alias or len(alias) > 255:
        raise BadRequest("alias must be a non-empty string")
    if not all(ch.isalnum() or ch in "_-" for ch in alias):
        raise BadRequest("alias may contain only letters, digits, '_' and '-'")
    return alias


class RegistryView:
    """Models, versions, aliases and promotions of the store a ``StoreView`` reads."""

    def __init__(self, store: Any) -> None:
        self.store = store

    @property
    def uri(self) -> str:
        """The tracking URI every core registry call is given explicitly."""
        return self.store.tracking_uri

    def models(self) -> list[dict[str, Any]]:
        """Registered models with their aliases (alias → version) and newest version."""
        found = self.store.client.search_registered_models(max_results=1000)
        out = []
        for model in found:
            versions = [int(v.version) for v in model.latest_versions or []]
            out.append(
                {
                    "name": model.name,
                    "description": model.description or "",
                    "aliases": {a: str(v) for a, v in (model.aliases or {}).items()},
                    "latest_version": str(max(versions)) if versions else None,
                    "last_updated": model.last_updated_timestamp,
                }
            )
        return sorted(out, key=lambda m: m["name"].lower())

    def model(self, name: str) -> dict[str, Any]:
        """One model: versions newest first (aliases, source-run metrics) and its history."""
        from jupyter_mlops.core.models.registry import model_versions, promotion_history

        registered = self._exists(name)
        if "'" in name:
            versions = self._versions_quoted_name(registered)
        else:
            versions = [v.to_dict() for v in model_versions(name, self.uri)]
        aliases = {alias: v["version"] for v in versions for alias in v["aliases"]}
        history = [p.to_dict() for p in promotion_history(name, self.uri)]
        return {"name": name, "aliases": aliases, "versions": versions, "history": history}

    def compare(self, name: str, version: str, alias: str) -> dict[str, Any]:
        """Every metric of ``version``'s run beside the current ``alias`` holder's, plus the
        registry's own verdict on the primary metric."""
        from jupyter_mlops.core.models.registry import compare_with_champion

        check_alias(alias)
        detail = self.model(name)
        candidate = self._version(detail, version)
        holder = detail["aliases"].get(alias)
        current = self._version(detail, holder) if holder is not None else None
        new, old = candidate["metrics"], current["metrics"] if current else {}
        if "'" in name:  # core's lookup misses quoted names: same verdict from the rows here
            verdict = self._verdict(version, new, current["version"] if current else None, old)
        else:
            verdict = compare_with_champion(name, version, alias=alias, tracking_uri=self.uri)
        rows = []
        for key in sorted(set(new) | set(old)):
            a, b = new.get(key), old.get(key)
            delta = a - b if a is not None and b is not None else None
            rows.append({"key": key, "candidate": a, "current": b, "delta": delta})
        return {
            "name": name,
            "alias": alias,
            "candidate": {"version": candidate["version"], "run_id": candidate["run_id"]},
            "current": (
                {"version": current["version"], "run_id": current["run_id"]} if current else None
            ),
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
        from jupyter_mlops.core.models.registry import promote

        check_alias(alias)
        self._version(self.model(name), version)
        promote(name, version, alias, tracking_uri=self.uri, user=user)
        return self.model(name)

    def demote(self, name: str, alias: str, user: str | None) -> dict[str, Any]:
        """Remove ``alias`` by core's demote (recorded in the history)."""
        from jupyter_mlops.core.models.registry import demote

        check_alias(alias)
        if alias not in self.model(name)["aliases"]:
            raise NotFound(f"model {name!r} has no alias {alias!r}")
        demote(name, alias, tracking_uri=self.uri, user=user)
        return self.model(name)

    def _versions_quoted_name(self, registered: Any) -> list[dict[str, Any]]:
        """Versions of a model whose name holds a quote, which core's name filter misses.

        Same shape as ``core.registry.VersionSummary.to_dict``; filtered here, not in SQL.
        """
        client = self.store.client
        by_version: dict[str, list[str]] = {}
        for alias, version in (registered.aliases or {}).items():
            by_version.setdefault(str(version), []).append(alias)
        rows = []
        for mv in client.search_model_versions(max_results=10000):
            if mv.name != registered.name:
                continue
            metrics, run_name = {}, None
            if mv.run_id:
                try:
                    run = client.get_run(mv.run_id)
                    metrics, run_name = dict(run.data.metrics), run.info.run_name
                except Exception:  # the source run was deleted; the version remains
                    pass
            stage = mv.current_stage if mv.current_stage not in (None, "", "None") else None
            rows.append(
                {
                    "name": mv.name,
                    "version": str(mv.version),
                    "run_id": mv.run_id,
                    "source": mv.source,
                    "aliases": sorted(by_version.get(str(mv.version), [])),
                    "creation_time": int(mv.creation_timestamp or 0),
                    "stage": stage,
                    "status": str(mv.status),
                    "metrics": {k: v if math.isfinite(v) else None for k, v in metrics.items()},
                    "run_name": run_name,
                }
            )
        return sorted(rows, key=lambda r: int(r["version"]), reverse=True)

    def _verdict(
        self, version: str, new: dict[str, Any], holder: str | None, old: dict[str, Any]
    ) -> Any:
        from jupyter_mlops.core.models.registry import ChampionComparison, default_primary_metric
        from jupyter_mlops.core.runs.summaries import higher_is_better

        metric = default_primary_metric(list(new) + list(old))
        return ChampionComparison(
            metric=metric,
            higher_is_better=higher_is_better(metric) if metric else True,
            candidate_version=str(version),
            candidate_value=new.get(metric) if metric else None,
            champion_version=holder,
            champion_value=old.get(metric) if metric else None,
        )

    def _exists(self, name: str) -> Any:
        if not name:
            raise BadRequest("model name is required")
        try:
            return self.store.client.get_registered_model(name)
        except Exception as error:
            if getattr(error, "error_code", None) == "RESOURCE_DOES_NOT_EXIST":
                raise NotFound(f"no registered model named {name!r}") from error
            raise

    def _version(self, detail: dict[str, Any], version: str | None) -> dict[str, Any]:
        for row in detail["versions"]:
            if row["version"] == str(version):
                return row
        raise NotFound(f"model {detail['name']!r} has no version {version}")
