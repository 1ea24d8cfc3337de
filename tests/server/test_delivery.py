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
    assert body == {"pending": 0, "oldest": None, "failing": None, "quarantined": 0}
    # When a run waits and the worker recorded why it could not deliver it
    spool.spool_run(RunRecord("Default", status="FINISHED"), folder, tracking_uri="http://x")
    journal.record_failure(folder, "http://x: <b>connection refused</b>")
    body = json.loads((await jp_fetch(API, "delivery")).body)
    # Then the sidebar learns the count, the oldest entry's time and the reason (as data)
    assert body["pending"] == 1 and body["oldest"] <= time.time()
    assert body["failing"] == "http://x: <b>connection refused</b>"
