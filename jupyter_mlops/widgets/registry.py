"""``registry()``: registered models, their versions and alias promotion with a confirmation.

Buttons call the function twins in ``core.models`` (``register``, ``promote``, ``demote``);
a promotion first shows the candidate against the current holder of the alias on the primary
metric, with a clear warning when the candidate is worse.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from jupyter_mlops.core.access import model_access
from jupyter_mlops.core.errors import MlopsError, RegistryError
from jupyter_mlops.core.models import champion, promotion
from jupyter_mlops.core.models import registry as core
from jupyter_mlops.core.models.loader import try_predict
from jupyter_mlops.core.runs.summaries import higher_is_better
from jupyter_mlops.core.store import resolve_tracking_uri
from jupyter_mlops.widgets._display import StaticFallback
from jupyter_mlops.widgets._html import (
    BEST_STYLE,
    code_block,
    esc,
    fmt_number,
    fmt_time,
    html_table,
    notice,
    text_table,
)

MAX_METRIC_COLUMNS = 6


def usage_snippet(model: str, alias: str) -> str:
    """How to load or serve the version holding ``alias``."""
    uri = core.model_uri(model, alias)
    return (
        f"import mlflow\nmodel = mlflow.pyfunc.load_model({uri!r})\n"
        f"model.predict(sample)\n\n# serve it over HTTP:\n"
        f"# mlflow models serve -m '{uri}' --env-manager local -p 5001"
    )


class RegistryWidget(StaticFallback, widgets.VBox):
    """Versions of one registered model with promote / challenger / alias / remove controls."""

    def __init__(
        self, model: str | None = None, sample: Any = None, *, tracking_uri: str | None = None
    ) -> None:
        self.uri = resolve_tracking_uri(tracking_uri)
        self.sample = sample
        self.versions: list[core.VersionSummary] = []
        self.history: list[promotion.Promotion] = []
        self.pending: tuple[str, str, str] | None = None  # (action, version, alias)
        self.denied: str | None = None  # why this user may not move aliases (no MANAGE)
        models = core.list_models(self.uri)
        if model is not None and model not in models:
            raise RegistryError(f"no registered model named {model!r}")
        self._build(models, model or (models[0] if models else None))
        super().__init__(children=self._layout())
        self.reload()

    # --- construction ------------------------------------------------------------------
    def _build(self, models: list[str], model: str | None) -> None:
        self.model = widgets.Dropdown(options=models, value=model, description="Model")
        self.header = widgets.HTML()
        self.table = widgets.HTML()
        self.version = widgets.Dropdown(description="Version")
        self.metric = widgets.Dropdown(description="Metric")
        self.higher_is_better = widgets.ToggleButtons(
            options=[("higher is better", True), ("lower is better", False)]
        )
        self.promote_button = widgets.Button(
            description="Promote to champion", button_style="success", layout={"width": "auto"}
        )
        self.challenger_button = widgets.Button(description="Set challenger", button_style="info")
        self.alias_text = widgets.Text(placeholder="custom alias", layout={"width": "160px"})
        self.alias_button = widgets.Button(description="Set alias")
        self.remove_alias = widgets.Dropdown(description="Alias", layout={"width": "220px"})
        self.remove_button = widgets.Button(description="Remove alias", button_style="warning")
        self.confirm_html = widgets.HTML()
        self.confirm_button = widgets.Button(description="Confirm", button_style="danger")
        self.cancel_button = widgets.Button(description="Cancel")
        self.confirm_box = widgets.VBox(
            [self.confirm_html, widgets.HBox([self.confirm_button, self.cancel_button])],
            layout={"display": "none"},
        )
        self.status = widgets.HTML()
        self.access_note = widgets.HTML()
        self.history_html = widgets.HTML()
        self.usage = widgets.HTML()
        self.run_id_text = widgets.Text(placeholder="run id with a logged model")
        self.name_text = widgets.Text(placeholder="registered model name", value=model or "")
        self.register_button = widgets.Button(description="Register")
        self.try_button = widgets.Button(
            description="Try it on the sample", layout={"width": "auto"}
        )
        self.try_button.disabled = self.sample is None
        self.try_output = widgets.HTML()
        self.model.observe(lambda _: self.reload(), "value")
        self.metric.observe(self._on_metric, "value")
        self.version.observe(lambda _: self._render_usage(), "value")
        self.promote_button.on_click(lambda _: self.ask("promote", core.CHAMPION))
        self.challenger_button.on_click(lambda _: self.ask("promote", core.CHALLENGER))
        self.alias_button.on_click(lambda _: self.ask("promote", self.alias_text.value.strip()))
        self.remove_button.on_click(lambda _: self.remove(self.remove_alias.value))
        self.confirm_button.on_click(lambda _: self.confirm())
        self.cancel_button.on_click(lambda _: self._close_confirmation())
        self.register_button.on_click(lambda _: self.register())
        self.try_button.on_click(lambda _: self.try_it())

    def _layout(self) -> list[widgets.Widget]:
        return [
            self.header,
            self.model,
            self.table,
            widgets.HBox([self.metric, self.higher_is_better]),
            widgets.HBox([self.version, self.promote_button, self.challenger_button]),
            widgets.HBox(
                [self.alias_text, self.alias_button, self.remove_alias, self.remove_button]
            ),
            self.access_note,
            self.confirm_box,
            self.status,
            self.history_html,
            self.usage,
            widgets.HBox([self.try_button, self.try_output]),
            widgets.HBox([self.run_id_text, self.name_text, self.register_button]),
        ]

    # --- data --------------------------------------------------------------------------
    def reload(self) -> None:
        """Re-read versions, aliases and history from the registry and redraw."""
        name = self.model.value
        try:
            self.versions = core.model_versions(name, self.uri) if name else []
            self.history = promotion.promotion_history(name, self.uri) if name else []
            access = model_access(name, self.uri) if name else None
            self.denied = access.denial("MANAGE", f"model {name!r}") if access else None
        except MlopsError as exc:
            self.status.value = notice(str(exc), "error")
            self.versions, self.history = [], []
        metrics = sorted({k for v in self.versions for k in v.metrics})
        chosen = self.metric.value if self.metric.value in metrics else None
        chosen = chosen or champion.default_primary_metric(metrics)
        with self.hold_trait_notifications():
            self.metric.options = metrics
            self.metric.value = chosen
            if chosen:
                self.higher_is_better.value = higher_is_better(chosen)
            previous = self.version.value
            self.version.options = [v.version for v in self.versions]
            if previous in self.version.options:
                self.version.value = previous
            elif self.versions:  # the likely candidate: the newest version that is not champion
                fresh = [v for v in self.versions if core.CHAMPION not in v.aliases]
                pick = max(fresh or self.versions, key=lambda v: int(v.version))
                self.version.value = pick.version
            aliases = sorted(a for v in self.versions for a in v.aliases)
            self.remove_alias.options = aliases
        self._render()

    def _on_metric(self, change: dict[str, Any]) -> None:
        if change["new"]:
            self.higher_is_better.value = higher_is_better(change["new"])
        self._render()

    def holder(self, alias: str) -> core.VersionSummary | None:
        """The version that currently holds ``alias``."""
        return next((v for v in self.versions if alias in v.aliases), None)

    # --- actions -----------------------------------------------------------------------
    def ask(self, action: str, alias: str) -> None:
        """Open the confirmation step for pointing ``alias`` at the selected version."""
        version = self.version.value
        if not self.model.value or not version:
            self.status.value = notice("no model version selected", "error")
            return
        if not alias:
            self.status.value = notice("type an alias first", "error")
            return
        comparison = champion.compare_with_champion(
            self.model.value,
            version,
            self.metric.value or None,
            higher_is_better=self.higher_is_better.value,
            alias=alias,
            tracking_uri=self.uri,
        )
        self.pending = (action, version, alias)
        holder = comparison.champion_version
        what = f"Point {alias!r} at version {version}" + (
            f" (now version {holder})" if holder else ""
        )
        parts = [notice(what + "?"), notice(comparison.message)]
        if comparison.worse:
            parts.append(
                notice(
                    f"Warning: version {version} is WORSE than the current {alias} "
                    f"(version {holder}) on {comparison.metric}.",
                    "warn",
                )
            )
        self.confirm_html.value = "".join(parts)
        self.confirm_box.layout.display = "flex"

    def confirm(self) -> promotion.Promotion | None:
        """Carry out the pending promotion."""
        if self.pending is None:
            return None
        _, version, alias = self.pending
        self._close_confirmation()
        try:
            entry = promotion.promote(self.model.value, version, alias, tracking_uri=self.uri)
        except MlopsError as exc:
            self.status.value = notice(str(exc), "error")
            return None
        self.status.value = notice(f"{alias} → version {version} of {self.model.value}")
        self.reload()
        if entry.serving:  # a model server could not swap at once (it follows by polling)
            self.status.value += "".join(notice(line, "warn") for line in entry.serving)
        return entry

    def _close_confirmation(self) -> None:
        self.pending = None
        self.confirm_html.value = ""
        self.confirm_box.layout.display = "none"

    def remove(self, alias: str | None) -> promotion.Promotion | None:
        """Remove ``alias`` (recorded in the history)."""
        if not alias:
            self.status.value = notice("no alias to remove", "error")
            return None
        try:
            entry = promotion.demote(self.model.value, alias, tracking_uri=self.uri)
        except MlopsError as exc:
            self.status.value = notice(str(exc), "error")
            return None
        self.status.value = notice(f"removed alias {alias} (was version {entry.previous_version})")
        self.reload()
        if entry.serving:  # a model server did not hear of it (it follows by polling)
            self.status.value += "".join(notice(line, "warn") for line in entry.serving)
        return entry

    def register(self) -> core.VersionSummary | None:
        """Register the run id typed in the widget under the typed model name."""
        run_id, name = self.run_id_text.value.strip(), self.name_text.value.strip()
        try:
            version = core.register(run_id, name, tracking_uri=self.uri)
        except MlopsError as exc:
            self.status.value = notice(str(exc), "error")
            return None
        self.status.value = notice(f"registered run {run_id} as {name} version {version.version}")
        with self.hold_trait_notifications():
            self.model.options = core.list_models(self.uri)
            self.model.value = name
        self.reload()
        self.version.value = version.version
        return version

    def try_it(self, alias: str = core.CHAMPION) -> Any:
        """Load ``models:/NAME@alias`` through MLflow and predict on the sample."""
        try:
            result = try_predict(self.model.value, self.sample, alias, tracking_uri=self.uri)
        except MlopsError as exc:
            self.try_output.value = notice(str(exc), "error")
            return None
        text = repr(result)
        self.try_output.value = code_block(text if len(text) < 2000 else text[:2000] + " …")
        return result

    # --- rendering ---------------------------------------------------------------------
    def metric_columns(self) -> list[str]:
        """Metrics shown in the table: the chosen one first, then a few more."""
        names = list(self.metric.options)
        if self.metric.value in names:
            names.remove(self.metric.value)
            names.insert(0, self.metric.value)
        return names[:MAX_METRIC_COLUMNS]

    def columns(self) -> list[str]:
        """Versions table columns (stage only when a legacy stage is set)."""
        stage = ["stage"] if any(v.stage for v in self.versions) else []
        return ["version", "aliases", *stage, "created", "run", *self.metric_columns()]

    def rows(self) -> list[list[str]]:
        """One display row per version, newest first."""
        with_stage = any(v.stage for v in self.versions)
        out = []
        for v in self.versions:
            run = v.run_name or (v.run_id or "")[:8]
            stage = [v.stage or ""] if with_stage else []
            metrics = [fmt_number(v.metrics.get(m)) for m in self.metric_columns()]
            out.append(
                [v.version, ", ".join(v.aliases), *stage, fmt_time(v.creation_time), run, *metrics]
            )
        return out

    def history_rows(self) -> list[list[str]]:
        """Promotion history, newest first."""
        return [
            [
                fmt_time(h.time_ms),
                h.user,
                h.action,
                h.alias,
                h.version or "—",
                h.previous_version or "—",
            ]
            for h in reversed(self.history)
        ]

    def _render(self) -> None:
        name = self.model.value
        self.header.value = f"<b>Model registry</b> — {esc(self._title())}"
        champion = self.holder(core.CHAMPION)
        styles = [BEST_STYLE if champion and v is champion else "" for v in self.versions]
        self.table.value = html_table(self.columns(), self.rows(), row_styles=styles)
        self.history_html.value = (
            html_table(
                ["time (UTC)", "user", "action", "alias", "version", "previous"],
                self.history_rows(),
                caption="Promotion history",
            )
            if self.history
            else notice("no promotions recorded yet")
        )
        for button in (self.promote_button, self.challenger_button):
            button.disabled = not name or bool(self.denied)
        for button in (self.promote_button, self.challenger_button, self.alias_button,
                       self.remove_button):  # fmt: skip
            button.tooltip = self.denied or ""
        self.alias_button.disabled = self.remove_button.disabled = bool(self.denied)
        self.access_note.value = notice(self.denied, "warn") if self.denied else ""
        self._render_usage()

    def _title(self) -> str:
        if not self.model.value:
            return "no registered models yet: register a run's model below"
        return f"{self.model.value}: {len(self.versions)} versions"

    def _render_usage(self) -> None:
        name = self.model.value
        if not name:
            self.usage.value = ""
            return
        alias = core.CHAMPION if self.holder(core.CHAMPION) else None
        if alias is None:
            self.usage.value = notice("promote a version to champion to load it by alias")
            return
        self.usage.value = "<b>Load or serve the champion</b>" + code_block(
            usage_snippet(name, alias)
        )

    # --- static fallback ---------------------------------------------------------------
    def static_html(self) -> str:
        """Versions, aliases and the promotion history as escaped HTML."""
        history = (
            html_table(
                ["time (UTC)", "user", "action", "alias", "version", "previous"],
                self.history_rows(),
                caption="Promotion history",
            )
            if self.history
            else ""
        )
        usage = (
            code_block(usage_snippet(self.model.value, core.CHAMPION)) if self.model.value else ""
        )
        return (
            f"<div><b>Model registry</b> — {esc(self._title())}"
            f"{html_table(self.columns(), self.rows())}{history}{usage}</div>"
        )

    def static_text(self) -> str:
        """The same as plain text."""
        parts = [f"Model registry — {self._title()}", text_table(self.columns(), self.rows())]
        if self.history:
            cols = ["time (UTC)", "user", "action", "alias", "version", "previous"]
            parts += ["Promotion history", text_table(cols, self.history_rows())]
        return "\n".join(parts)


def registry(
    model: str | None = None, sample: Any = None, *, tracking_uri: str | None = None
) -> RegistryWidget:
    """Inline registry view of ``model`` (default: the first registered model)."""
    return RegistryWidget(model, sample, tracking_uri=tracking_uri)
