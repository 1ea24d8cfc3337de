"""The part of a tracked cell's work that waits for delivery: secrets masked in every text,
and the previous run of the same cell linked and diffed (it may itself have been delivered
only a moment ago). Runs in the delivery worker or ``sync``, never inside the cell."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_mlops.core import contracts as c
from jupyter_mlops.core import store
from jupyter_mlops.core.tracking import capture
from jupyter_mlops.core.tracking.runstate import STATE
from jupyter_mlops.core.tracking.spool_entry import SpoolEntry
from jupyter_mlops.core.tracking.writer import sanitise

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

CELL_KEY = "cell_key"  # extras: the cell id whose previous run is linked at delivery


def prepare(client: MlflowClient, entry: SpoolEntry) -> None:
    """Mask the record's texts and link the previous run of its cell (idempotent)."""
    if entry.extras.get("prepared"):
        return
    sanitise(entry.record)
    key = entry.extras.get(CELL_KEY)
    if key:
        _link_previous(client, entry, str(key))
    entry.extras["prepared"] = True


def _uri(client: MlflowClient, entry: SpoolEntry) -> str:
    return entry.tracking_uri or client.tracking_uri


def _link_previous(client: MlflowClient, entry: SpoolEntry, key: str) -> None:
    record = entry.record
    previous = STATE.previous.get((_uri(client, entry), key))
    if previous is None:
        previous = _previous_from_store(client, entry, key)
    if previous is None or previous[0] == record.run_id:
        return
    record.tags[c.TAG_CELL_PREVIOUS_RUN_ID] = previous[0]
    diff = capture.cell_diff(previous[1], record.texts.get(c.ART_CELL_SOURCE, ""), previous[0])
    if diff:
        record.texts[c.ART_CELL_DIFF] = diff


def remember(client: MlflowClient, entry: SpoolEntry, run_id: str) -> None:
    """After delivery: this run is now the previous run of its cell."""
    key = entry.extras.get(CELL_KEY)
    if key:
        source = entry.record.texts.get(c.ART_CELL_SOURCE, "")
        STATE.previous[(_uri(client, entry), str(key))] = (run_id, source)


def _previous_from_store(
    client: MlflowClient, entry: SpoolEntry, cell_id: str
) -> tuple[str, str] | None:
    """The last delivered run of the same cell in this store, other than this entry's."""
    record = entry.record
    try:
        runs = client.search_runs(
            [store.ensure_experiment(client, record.experiment_name, _uri(client, entry))],
            filter_string=f"tags.`{c.TAG_CELL_ID}` = '{cell_id.replace(chr(39), '')}'",
            order_by=["attributes.start_time DESC"],
            max_results=3,
        )
        for found in runs:
            own = found.data.tags.get(c.TAG_SPOOL_ID) == entry.spool_id
            if own or found.info.run_id == record.run_id:
                continue
            path = client.download_artifacts(found.info.run_id, c.ART_CELL_SOURCE)
            return found.info.run_id, Path(path).read_text(encoding="utf-8")
    except Exception:
        return None
    return None
