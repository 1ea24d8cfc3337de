"""Kernel-wide state: the tracked run executing now, the default experiment, and the one rule
for "which run does this belong to" (a data snapshot, a drift report).

The rule: an explicit run id; else the ``%%track`` run executing now; else MLflow's active run;
else the latest tracked run of this notebook; else the latest tracked run of any notebook.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from jupyter_mlops.core import contracts as c
from jupyter_mlops.core.errors import UsageProblem

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient


class _Active:
    """What lives as long as the kernel process."""

    def __init__(self) -> None:
        self.run_id: str | None = None
        self.experiment: str | None = None


_ACTIVE = _Active()


def current_run_id() -> str | None:
    """The run of the ``%%track`` cell / ``track()`` block executing right now, if any."""
    return _ACTIVE.run_id


def set_current_run(run_id: str | None) -> None:
    """Mark ``run_id`` as the tracked run executing now (None when it ends)."""
    _ACTIVE.run_id = run_id


def default_experiment() -> str | None:
    """The experiment ``%mlops_experiment`` / ``set_default_experiment`` chose, if any."""
    return _ACTIVE.experiment


def set_default_experiment(name: str) -> None:
    """Experiment used by tracked cells that name none (twin of ``%mlops_experiment``)."""
    validate_experiment_name(name)
    _ACTIVE.experiment = name


def validate_experiment_name(name: str) -> None:
    """Raise ``UsageProblem`` for names MLflow would reject or that are surely a mistake."""
    if not name or not name.strip():
        raise UsageProblem("experiment name is empty")
    if len(name) > 500 or any(ch in name for ch in "\n\r\t\x00"):
        raise UsageProblem(f"invalid experiment name {name[:60]!r}: one line, at most 500 chars")


_BEFORE_LOOKUP: list[Callable[[], object]] = []


def before_lookup(hook: Callable[[], object]) -> None:
    """Run ``hook`` before every latest-run lookup (the journal waits for its deliveries)."""
    if hook not in _BEFORE_LOOKUP:
        _BEFORE_LOOKUP.append(hook)


def latest_run_id(notebook: str | None = None, client: MlflowClient | None = None) -> str | None:
    """Most recent tracked run of ``notebook`` (``mlflow.source.name``); any tracked run if None.

    The ``before_lookup`` hooks run first: the journal delivers what this kernel tracked
    (bounded), so "the latest run" is the one the user just tracked, not the one before it."""
    from jupyter_mlops.core import store

    for hook in list(_BEFORE_LOOKUP):
        hook()
    client = client or store.get_client()
    experiments = [e.experiment_id for e in client.search_experiments(max_results=1000)]
    if not experiments:
        return None
    query = f"tags.`{c.TAG_CELL_HASH}` != ''"
    if notebook:
        query += f" and tags.`{c.TAG_SOURCE_NAME}` = '{notebook.replace(chr(39), '')}'"
    runs = client.search_runs(
        experiments, filter_string=query, order_by=["attributes.start_time DESC"], max_results=1
    )
    return runs[0].info.run_id if runs else None


def running_run_id() -> str | None:
    """The ``%%track`` run executing now, else MLflow's active run, else None."""
    if _ACTIVE.run_id:
        return _ACTIVE.run_id
    import mlflow

    active = mlflow.active_run()
    return active.info.run_id if active else None


def choose_run(
    client: MlflowClient, explicit: str | None = None, notebook: str | None = None
) -> str | None:
    """The run something belongs to, by the rule in this module's docstring (None: no run)."""
    if explicit:
        return explicit
    running = running_run_id()
    if running:
        return running
    latest = latest_run_id(notebook, client=client)
    if latest is None and notebook:
        latest = latest_run_id(None, client=client)
    return latest
