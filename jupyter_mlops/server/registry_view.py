"""Registered models for the sidebar's Models tab; promotion goes through ``core.registry``."""

from __future__ import annotations

from typing import Any

from jupyter_mlops.server.errors import BadRequest, NotFound

MAX_VERSIONS = 500


def name_filter(name: str) -> str | None:
    """An MLflow filter selecting one model by name, or None when no quoting can express it."""
    if "'" not in name:
        return f"name='{name}'"
    if '"' not in name:
        return f'name="{name}"'
    return None


def check_alias(alias: str) -> str:
    """Aliases are short names of letters, digits, ``_`` and ``-`` (MLflow's own rule, bounded)."""
    if not isinstance(alias, str) or not alias or len(alias) > 255:
        raise BadRequest("alias must be a non-empty string")
    if not all(ch.isalnum() or ch in "_-" for ch in alias):
        raise BadRequest("alias may contain only letters, digits, '_' and '-'")
    return alias


class RegistryView:
    """Models, versions and aliases of one store, through a core-opened MLflow client."""

    def __init__(self, store: Any) -> None:
        self.store = store

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
        """One model with all its versions (newest first) and the aliases each carries."""
        client = self.store.client
        model = self._get(name)
        query = name_filter(name)
        if query is not None:
            versions = client.search_model_versions(query, max_results=MAX_VERSIONS)
        else:
            versions = [
                v for v in client.search_model_versions(max_results=10000) if v.name == name
            ]
        aliases = {a: str(v) for a, v in (model.aliases or {}).items()}
        by_version: dict[str, list[str]] = {}
        for alias, version in aliases.items():
            by_version.setdefault(version, []).append(alias)
        rows = [
            {
                "version": str(v.version),
                "run_id": v.run_id,
                "status": v.status,
                "stage": v.current_stage,
                "source": v.source,
                "created": v.creation_timestamp,
                "aliases": sorted(by_version.get(str(v.version), [])),
            }
            for v in versions
        ]
        rows.sort(key=lambda r: int(r["version"]), reverse=True)
        return {
            "name": model.name,
            "description": model.description or "",
            "aliases": aliases,
            "versions": rows,
        }

    def compare(self, name: str, version: str, alias: str) -> dict[str, Any]:
        """Metrics of ``version``'s run beside those of the version holding ``alias`` now."""
        check_alias(alias)
        detail = self.model(name)
        candidate = self._version(detail, version)
        holder = detail["aliases"].get(alias)
        current = self._version(detail, holder) if holder is not None else None
        cand_metrics = self._metrics(candidate["run_id"])
        cur_metrics = self._metrics(current["run_id"]) if current else {}
        rows = []
        for key in sorted(set(cand_metrics) | set(cur_metrics)):
            new, old = cand_metrics.get(key), cur_metrics.get(key)
            delta = new - old if new is not None and old is not None else None
            rows.append({"key": key, "candidate": new, "current": old, "delta": delta})
        return {
            "name": name,
            "alias": alias,
            "candidate": {"version": candidate["version"], "run_id": candidate["run_id"]},
            "current": (
                {"version": current["version"], "run_id": current["run_id"]} if current else None
            ),
            "metrics": rows,
        }

    def promote(self, name: str, version: str, alias: str) -> dict[str, Any]:
        """Point ``alias`` at ``version`` by the registry's own promote (history recorded)."""
        from jupyter_mlops.core.registry import promote

        check_alias(alias)
        self._version(self.model(name), version)
        promote(name, version, alias=alias)
        return self.model(name)

    def demote(self, name: str, alias: str) -> dict[str, Any]:
        """Remove ``alias`` from the model by the registry's own demote."""
        from jupyter_mlops.core.registry import demote

        check_alias(alias)
        if alias not in self.model(name)["aliases"]:
            raise NotFound(f"model {name!r} has no alias {alias!r}")
        demote(name, alias)
        return self.model(name)

    def _get(self, name: str) -> Any:
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

    def _metrics(self, run_id: str | None) -> dict[str, float]:
        if not run_id:
            return {}
        try:
            return dict(self.store.client.get_run(run_id).data.metrics)
        except Exception:
            return {}
