"""GET delivery: the journal's pending runs and why delivery fails, for the sidebar."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from jupyter_mlops.core.tracking import journal, spool
from jupyter_mlops.core.tracking.record import RunRecord

API = "jupyter-mlops/api"


async def test_delivery_reports_pending_runs_and_the_failure(jp_fetch) -> None:
    # Given a journal with nothing in it
    folder = Path(os.environ["JUPYTER_MLOPS_SPOOL_DIR"])
    body = json.loads((await jp_fetch(API, "delivery")).body)
    empty = {"pending": 0, "oldest": None, "failing": None, "quarantined": 0, "other_stores": 0}
    assert body == empty
    # When a run for this server's store waits and the worker recorded why it could not deliver
    mine = os.environ["MLFLOW_TRACKING_URI"]
    spool.spool_run(RunRecord("Default", status="FINISHED"), folder, tracking_uri=mine)
    journal.record_failure(folder, "http://x: <b>connection refused</b>")
    body = json.loads((await jp_fetch(API, "delivery")).body)
    # Then the sidebar learns the count, the oldest entry's time and the reason (as data)
    assert body["pending"] == 1 and body["oldest"] <= time.time()
    assert body["failing"] == "http://x: <b>connection refused</b>"


async def test_delivery_counts_this_stores_runs_and_the_others_apart(jp_fetch, tmp_path) -> None:
    # Given a journal shared with two other stores (one of them a project deleted since)
    folder = Path(os.environ["JUPYTER_MLOPS_SPOOL_DIR"])
    gone = f"sqlite:///{tmp_path / 'deleted-project' / 'mlflow.db'}"
    for uri in ("http://other:5000", gone, gone):
        spool.spool_run(RunRecord("Default", status="FINISHED"), folder, tracking_uri=uri)
    record = RunRecord("Default", status="FINISHED")
    record.texts["cell/source.py"] = '"tracking_uri": "' + os.environ["MLFLOW_TRACKING_URI"] + '"'
    spool.spool_run(record, folder, tracking_uri="http://third:5000")  # its text names ours
    # When the sidebar asks, Then none of them counts as waiting for this server's store
    body = json.loads((await jp_fetch(API, "delivery")).body)
    assert body["pending"] == 0 and body["other_stores"] == 4 and body["oldest"] is None
    # And a run for this store (or for whichever store syncs it) does
    spool.spool_run(RunRecord("Default", status="FINISHED"), folder, tracking_uri=None)
    body = json.loads((await jp_fetch(API, "delivery")).body)
    assert body["pending"] == 1 and body["other_stores"] == 4
    # The CLI's line says both
    line = journal.status(folder, os.environ["MLFLOW_TRACKING_URI"]).text()
    assert line.startswith("1 run(s) waiting for delivery") and "(4 more for other stores)" in line
