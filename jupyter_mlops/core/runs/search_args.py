"""Run filters and sort clauses parsed exactly as MLflow's ``search_runs`` parses them.

The sidebar's and the widgets' own sort clauses are parsed here without importing MLflow (its
import costs a cold process seconds); anything else goes through MLflow's parser, and what it
refuses becomes one ``UsageProblem`` line.
"""

from __future__ import annotations

import re
from typing import Any

from jupyter_mlops.core.errors import UsageProblem

INT64 = range(-(2**63), 2**63)


def parse_filter(filter_string: str | None) -> list[dict[str, Any]]:
    """MLflow's parse of a run filter; bad filters and beyond-64-bit integers a UsageProblem."""
    if not filter_string or not filter_string.strip():
        return []
    from mlflow.exceptions import MlflowException

    from jupyter_mlops.core.mlflow_internals import parse_search_filter

    try:
        parsed = parse_search_filter(filter_string)
    except MlflowException as exc:
        raise UsageProblem(f"bad filter {filter_string!r}: {exc.message}") from exc
    for item in parsed:
        value = item.get("value")
        for number in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(number, int) and not isinstance(number, bool) and number not in INT64:
                raise UsageProblem(
                    f"bad filter: {item.get('key')} compared with {number}, beyond a 64-bit integer"
                )
    return parsed


# ``metrics.<key> [ASC|DESC]`` / ``params.<key> ...``, key plain or in backticks/double quotes:
# the sidebar's and the widgets' own clauses, parsed without importing MLflow (seconds, cold)
_SIMPLE_ORDER = re.compile(
    r'(metrics|params|attributes)\.(?:`([^`]+)`|"([^"]+)"|(\w+))(?:\s+(ASC|DESC))?',
    re.IGNORECASE,
)
_ORDER_TYPES = {"metrics": "metric", "params": "parameter", "attributes": "attribute"}
_RUN_ATTRIBUTES = {
    "artifact_uri",
    "end_time",
    "run_id",
    "run_name",
    "start_time",
    "status",
    "user_id",
}


def parse_simple_order(order_by: str) -> tuple[str, str, bool] | None:
    """What MLflow's ``parse_order_by_for_search_runs`` returns, for the simple clauses only."""
    match = _SIMPLE_ORDER.fullmatch(order_by)
    if match is None or match.group(1) not in _ORDER_TYPES:  # a prefix in other case: MLflow
        return None
    kind, tick, quote, plain, direction = match.groups()
    key = tick or quote or plain
    if kind == "attributes" and key not in _RUN_ATTRIBUTES:
        return None  # an alias ("created") or an unknown attribute: MLflow's parse
    return _ORDER_TYPES[kind], key, (direction or "ASC").upper() == "ASC"


def parse_order(order_by: str) -> tuple[str, str, bool]:
    """``(key type, key, ascending)`` of one sort clause; a bad one is a UsageProblem."""
    simple = parse_simple_order(order_by)
    if simple is not None:
        return simple
    from mlflow.exceptions import MlflowException

    from jupyter_mlops.core.mlflow_internals import parse_order_by

    try:
        return parse_order_by(order_by)
    except MlflowException as exc:
        raise UsageProblem(f"bad order_by {order_by!r}: {exc.message}") from exc
