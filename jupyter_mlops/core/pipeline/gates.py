"""Quality gates: ``METRIC OP VALUE`` checks of a run, the ``evaluate.py # fail if accuracy drops``.

A gate's VALUE is a number or ``champion`` with an optional tolerance (``champion-0.01``),
meaning that metric of the run behind ``models:/NAME@champion``. A run's metric is its latest
value in the run itself, else in the most recent child run (``mlflow.parentRunId``) that logged it.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from jupyter_mlops.core.contracts import TAG_PARENT_RUN_ID
from jupyter_mlops.core.errors import MlopsError, TrackingUnavailable, UsageProblem, first_line
from jupyter_mlops.core.store import get_client, redact_uri, resolve_tracking_uri

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

CHAMPION_ALIAS = "champion"

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    ">": operator.gt,
    "<": operator.lt,
}
# what a failed comparison shows: accuracy>=0.95 failing reads "accuracy 0.912 < 0.950"
NEGATION = {">=": "<", "<=": ">", "==": "!=", ">": "<=", "<": ">="}

_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,255}$")
_GATE = re.compile(
    r"^\s*(?P<metric>[^<>=!\s][^<>=!]*?)\s*(?P<op>>=|<=|==|>|<)\s*"
    rf"(?:(?P<champion>champion)\s*(?:(?P<sign>[+-])\s*(?P<tol>{_NUMBER}))?|(?P<value>{_NUMBER}))\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Gate:
    """One parsed gate: ``metric op value`` or ``metric op champion±tolerance``."""

    metric: str
    op: str
    value: float | None = None  # None when compared with the champion
    champion_offset: float = 0.0  # added to the champion's value (``champion-0.01`` → -0.01)
    text: str = ""

    @property
    def uses_champion(self) -> bool:
        """True when the threshold comes from ``models:/NAME@champion``."""
        return self.value is None


@dataclass(frozen=True)
class GateResult:
    """The outcome of one gate on one run; ``line`` is what the CLI prints."""

    gate: Gate
    passed: bool
    actual: float | None
    threshold: float | None
    line: str


def parse_gate(text: str) -> Gate:
    """Parse ``accuracy>=0.9`` or ``accuracy>=champion-0.01``; UsageProblem when malformed."""
    match = _GATE.match(text or "")
    if match is None:
        raise UsageProblem(
            f"malformed gate {text!r}: expected METRIC OP VALUE with OP one of >= > <= < == "
            "and VALUE a number or champion[+-TOLERANCE], e.g. 'accuracy>=0.9'"
        )
    op = match["op"]
    if match["champion"]:
        offset = float(match["tol"]) if match["tol"] else 0.0
        if match["sign"] == "-":
            offset = -offset
        return Gate(match["metric"], op, None, offset, text.strip())
    return Gate(match["metric"], op, float(match["value"]), 0.0, text.strip())


def parse_gates(texts: Iterable[str], model: str | None = None) -> list[Gate]:
    """Parse every gate; a champion gate without a model name is a usage error."""
    gates = [parse_gate(t) for t in texts]
    if model is None:
        for gate in gates:
            if gate.uses_champion:
                raise UsageProblem(
                    f"gate {gate.text!r} compares with the champion: add --model NAME"
                )
    return gates


def metric_value(client: MlflowClient, run_id: str, metric: str) -> float | None:
    """Latest value of ``metric`` in the run, else in its most recent child run that logged it."""
    run = client.get_run(run_id)
    if metric in run.data.metrics:
        return float(run.data.metrics[metric])
    children = client.search_runs(
        [run.info.experiment_id],
        filter_string=f"tags.`{TAG_PARENT_RUN_ID}` = '{run_id}'",
        order_by=["attributes.start_time DESC"],
        max_results=1000,
    )
    for child in children:
        if metric in child.data.metrics:
            return float(child.data.metrics[metric])
    return None


@dataclass(frozen=True)
class Champion:
    """The model version behind ``models:/NAME@champion`` and the run it came from."""

    model: str
    version: str
    run_id: str | None


def find_champion(client: MlflowClient, model: str) -> Champion | None:
    """The ``@champion`` version of a registered model, or None when it has no such alias."""
    from mlflow.exceptions import MlflowException

    try:
        version = client.get_model_version_by_alias(model, CHAMPION_ALIAS)
    except MlflowException as exc:
        if exc.get_http_status_code() >= 500:  # an outage is not "no champion"
            raise
        return None
    return Champion(model, str(version.version), version.run_id)


def _fmt(value: float) -> str:
    return f"{value:.3f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3g}"


def evaluate_gates(
    client: MlflowClient, run_id: str, gates: Iterable[Gate], model: str | None = None
) -> list[GateResult]:
    """Check each gate against the run (and its children); one result line per gate."""
    gates = list(gates)
    champion: Champion | None = None
    if model is not None and any(g.uses_champion for g in gates):
        champion = find_champion(client, model)
    return [_evaluate(client, run_id, gate, model, champion) for gate in gates]


def _evaluate(
    client: MlflowClient, run_id: str, gate: Gate, model: str | None, champion: Champion | None
) -> GateResult:
    actual = metric_value(client, run_id, gate.metric)
    if actual is None:
        line = f"{gate.metric} never logged in run {run_id} or its child runs (gate {gate.text})"
        return GateResult(gate, False, None, None, line)
    threshold = gate.value
    note = ""
    if gate.uses_champion:
        if champion is None or champion.run_id is None:
            line = f"{gate.metric}: model {model!r} has no @{CHAMPION_ALIAS} to compare with"
            return GateResult(gate, False, actual, None, line)
        base = metric_value(client, champion.run_id, gate.metric)
        if base is None:
            line = (
                f"{gate.metric} never logged in the run of {model} v{champion.version} "
                f"(@{CHAMPION_ALIAS}, run {champion.run_id})"
            )
            return GateResult(gate, False, actual, None, line)
        threshold = base + gate.champion_offset
        tolerance = f", {gate.champion_offset:+g}" if gate.champion_offset else ""
        note = f" (champion v{champion.version}{tolerance})"
    assert threshold is not None
    passed = not math.isnan(actual) and OPERATORS[gate.op](actual, threshold)
    shown = gate.op if passed else NEGATION[gate.op]
    line = f"{gate.metric} {_fmt(actual)} {shown} {_fmt(threshold)}{note}"
    return GateResult(gate, passed, actual, threshold, line)


def evaluate_run(
    client: MlflowClient, run_id: str, gates: Iterable[Gate], model: str | None = None
) -> list[GateResult]:
    """``evaluate_gates`` with MLflow's failures translated: an unknown run is a UsageProblem,
    anything else (a store that is down or failing) is TrackingUnavailable, never "no run"."""
    from mlflow.exceptions import MlflowException

    try:
        return evaluate_gates(client, run_id, gates, model)
    except MlflowException as exc:
        raise _store_error(exc, client, run_id) from exc


def _store_error(exc: Exception, client: MlflowClient, run_id: str) -> MlopsError:
    where = redact_uri(client.tracking_uri)
    if getattr(exc, "get_http_status_code", lambda: 500)() == 404:
        return UsageProblem(f"no run {run_id!r} in {where}")
    return TrackingUnavailable(f"could not read run {run_id} from {where}: {first_line(exc)}")


def check_run_id(run_id: str) -> None:
    """UsageProblem unless ``run_id`` looks like a run id (a leading ``-`` never does)."""
    if not _RUN_ID.match(run_id or ""):
        raise UsageProblem(f"{run_id[:80]!r} is not a run id (letters, digits, - and _)")


def check_run(
    client: MlflowClient, run_id: str, gate_texts: Iterable[str], model: str | None = None
) -> list[GateResult]:
    """Parse and evaluate gates on an existing run; unknown run → UsageProblem."""
    gates = parse_gates(gate_texts, model)
    check_run_id(run_id)
    from mlflow.exceptions import MlflowException

    try:
        client.get_run(run_id)
    except MlflowException as exc:
        raise _store_error(exc, client, run_id) from exc
    return evaluate_run(client, run_id, gates, model)


def gate(
    run_id: str,
    gates: Iterable[str],
    model: str | None = None,
    tracking_uri: str | None = None,
) -> list[GateResult]:
    """Check gates on an existing run (twin of ``jupyter mlops gate``; the tracking-URI rule).

    UsageProblem for a malformed gate or an unknown run, TrackingUnavailable when the store
    cannot be reached; a failed gate is a result with ``passed`` False, not an exception.
    """
    gate_texts = list(gates)
    parse_gates(gate_texts, model)  # bad input is refused before any store is opened
    check_run_id(run_id)
    uri = resolve_tracking_uri(tracking_uri)
    client = get_client(uri)
    from jupyter_mlops.core.tracking.journal import deliver_pending

    deliver_pending(uri)  # never gate on a run whose record still waits in the journal
    return check_run(client, run_id, gate_texts, model)
