"""What a reproduction found: metric by metric original / new / delta, package differences.

``ReproduceResult`` is plain data (JSON-serialisable through ``to_dict``) shown as a table in
a notebook (``_repr_html_``, escaped) and as text by the CLI; ``exit_code`` follows the CLI
contract (0 within tolerance or gates passed, 1 a metric differs or a gate failed, 2 raised).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from html import escape
from typing import Any

from jupyter_mlops.core.contracts import EXIT_GATE_FAILED, EXIT_NOTEBOOK_FAILED, EXIT_OK

LOWER_IS_BETTER = re.compile(r"(loss|error|rmse|mse|mae|mape|log_?loss|perplexity)", re.I)
PREFERRED_PRIMARY = ("accuracy", "f1", "f1_score", "roc_auc", "auc", "r2", "score", "rmse", "loss")


@dataclass(frozen=True)
class MetricComparison:
    """One metric of the original run beside the same metric of the re-run."""

    name: str
    original: float | None
    new: float | None
    delta: float | None
    within_tolerance: bool


@dataclass(frozen=True)
class PackageDifference:
    """A distribution whose version differs from the original run's requirements."""

    name: str
    original: str | None
    new: str | None


@dataclass(frozen=True)
class ChampionComparison:
    """The re-run against ``models:/MODEL@champion`` on the primary metric."""

    model: str
    version: str
    metric: str
    champion: float | None
    new: float | None
    better: bool | None


@dataclass
class ReproduceResult:
    """The outcome of ``reproduce(run_id, ...)``."""

    original_run_id: str
    new_run_id: str | None
    data: str
    tolerance: float
    metrics: list[MetricComparison] = field(default_factory=list)
    packages: list[PackageDifference] = field(default_factory=list)
    hazards: list[str] = field(default_factory=list)
    data_versions: list[str] = field(default_factory=list)  # "path@hash" restored in the worktree
    gates: list[str] = field(default_factory=list)  # one line per gate, "PASS ..."/"FAIL ..."
    gates_passed: bool | None = None
    champion: ChampionComparison | None = None
    failure: str | None = None  # one line naming the execution that raised
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 within tolerance (or gates passed), 1 a metric differs / gate failed, 2 raised."""
        if self.failure is not None:
            return EXIT_NOTEBOOK_FAILED
        if self.gates_passed is not None:
            return EXIT_OK if self.gates_passed else EXIT_GATE_FAILED
        ok = all(m.within_tolerance for m in self.metrics if m.original is not None)
        return EXIT_OK if ok else EXIT_GATE_FAILED

    @property
    def reproduced(self) -> bool:
        """True when the re-run finished and every original metric is within tolerance."""
        return self.failure is None and all(
            m.within_tolerance for m in self.metrics if m.original is not None
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (``jupyter mlops reproduce --json``, the server)."""
        data = asdict(self)
        data["exit_code"] = self.exit_code
        return data

    def text(self) -> str:
        """The result as a plain-text table."""
        head = f"reproduce {self.original_run_id} (data: {self.data})"
        head += f" -> run {self.new_run_id}" if self.new_run_id else ""
        lines = [head]
        if self.failure:
            lines.append(f"FAILED: {self.failure}")
        if self.metrics:
            lines.append(f"{'metric':<24} {'original':>14} {'new':>14} {'delta':>12}  ok")
            for m in self.metrics:
                mark = "yes" if m.within_tolerance else "NO"
                lines.append(
                    f"{m.name:<24} {_num(m.original):>14} {_num(m.new):>14} "
                    f"{_num(m.delta):>12}  {mark}"
                )
        for p in self.packages:
            lines.append(f"package {p.name}: {p.original or '-'} -> {p.new or '-'}")
        if self.champion is not None:
            c = self.champion
            lines.append(
                f"vs {c.model} v{c.version} @champion on {c.metric}: "
                f"{_num(c.champion)} -> {_num(c.new)}"
                + ("" if c.better is None else (" (better)" if c.better else " (not better)"))
            )
        lines += [f"gate {g}" for g in self.gates]
        lines += [f"data {v}" for v in self.data_versions]
        lines += [f"hazard {h}" for h in self.hazards]
        lines += [f"note {n}" for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{escape(m.name)}</td><td>{_num(m.original)}</td><td>{_num(m.new)}</td>"
            f"<td>{_num(m.delta)}</td><td>{'&#10003;' if m.within_tolerance else '&#10007;'}</td>"
            "</tr>"
            for m in self.metrics
        )
        head = escape(f"Reproduce {self.original_run_id} (data: {self.data})")
        if self.new_run_id:
            head += " &rarr; run " + escape(self.new_run_id)
        parts = [f"<div class='jupyter-mlops-reproduce'><b>{head}</b>"]
        if self.failure:
            parts.append(f"<div style='color:#c62828'>{escape(self.failure)}</div>")
        if rows:
            parts.append(
                "<table><tr><th>metric</th><th>original</th><th>new</th><th>delta</th>"
                f"<th>within {self.tolerance:g}</th></tr>{rows}</table>"
            )
        extra: list[str] = []
        for line in self.text().splitlines()[1:]:
            if line.startswith(("package ", "vs ", "gate ", "data ", "hazard ", "note ")):
                extra.append(escape(line))
        parts += [f"<div>{line}</div>" for line in extra]
        return "".join(parts) + "</div>"


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.6g}" if abs(value) >= 1e-4 or value == 0 else f"{value:.3e}"


def within(original: float, new: float, tolerance: float) -> bool:
    """Equal up to ``tolerance``, absolute for small values and relative for large ones."""
    if math.isnan(original) or math.isnan(new):
        return math.isnan(original) and math.isnan(new)
    return abs(new - original) <= tolerance * max(1.0, abs(original))


def compare_metrics(
    original: dict[str, float], new: dict[str, float], tolerance: float
) -> list[MetricComparison]:
    """Every metric of either run; a metric missing from the re-run is not within tolerance."""
    rows = []
    for name in sorted(set(original) | set(new)):
        old, now = original.get(name), new.get(name)
        delta = now - old if old is not None and now is not None else None
        ok = old is None or (now is not None and within(old, now, tolerance))
        rows.append(MetricComparison(name, old, now, delta, ok))
    return rows


def parse_requirements(text: str) -> dict[str, str]:
    """``name==version`` lines (our ``environment/requirements.txt``) as a dict."""
    pins = {}
    for line in text.splitlines():
        name, sep, version = line.strip().partition("==")
        if sep and name and not name.startswith("#"):
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return pins


def package_differences(original: str, new: str) -> list[PackageDifference]:
    """Distributions added, removed or at another version between two requirements texts."""
    old, now = parse_requirements(original), parse_requirements(new)
    return [
        PackageDifference(name, old.get(name), now.get(name))
        for name in sorted(set(old) | set(now))
        if old.get(name) != now.get(name)
    ]


def primary_metric(metrics: list[str], gate_metrics: list[str]) -> str | None:
    """The metric a champion comparison uses: the first gated one, else a usual score name."""
    for name in gate_metrics:
        if name in metrics:
            return name
    for name in PREFERRED_PRIMARY:
        if name in metrics:
            return name
    return sorted(metrics)[0] if metrics else None


def is_better(metric: str, new: float | None, champion: float | None) -> bool | None:
    """Whether ``new`` beats the champion's value (lower is better for losses and errors)."""
    if new is None or champion is None:
        return None
    return new < champion if LOWER_IS_BETTER.search(metric) else new > champion
