"""``GET experiments/<id>/stale``: which runs' slice cells changed since (hashes, no re-run)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from mlflow.tracking import MlflowClient

from jupyter_mlops.core.contracts import TAG_CELL_HASH, TAG_SOURCE_NAME
from jupyter_mlops.core.reproduce.history import SessionHistory
from jupyter_mlops.core.reproduce.slicing import compute_slice
from tests.server.conftest import XSS, FilledStore
from tests.server.test_api import error_of, get_json

CELL = "%%track\naccuracy = 0.9"


def notebook(root: Path, source: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    nb.cells[0].id = "train"
    nbformat.write(nb, root / "train.ipynb")


def sliced_run(store: FilledStore) -> str:
    """A run of the sidebar's experiment recorded with a one-cell slice from train.ipynb."""
    client = MlflowClient(tracking_uri=store.uri)
    session = SessionHistory()
    session.record(1, CELL, cell_id="train")
    run = client.create_run(
        store.experiment_id, tags={TAG_CELL_HASH: "h", TAG_SOURCE_NAME: "train.ipynb"}
    )
    for path, text in compute_slice(session).texts().items():
        client.log_text(run.info.run_id, text, path)
    return run.info.run_id


async def test_stale_marks_runs_whose_slice_cell_changed(jp_fetch, jp_root_dir, filled_store):
    run_id = sliced_run(filled_store)
    other = filled_store.run_ids[0]
    notebook(jp_root_dir, CELL)
    body = await get_json(jp_fetch, "experiments", filled_store.experiment_id, "stale", run=run_id)
    assert body == {"runs": {run_id: {"stale": False, "reasons": [], "reproducible": True}}}

    notebook(jp_root_dir, CELL + "\nloss = 0.1")
    response = await jp_fetch(
        "jupyter-mlops/api/experiments", filled_store.experiment_id, "stale",
        params=[("run", run_id), ("run", other)],
    )  # fmt: skip
    import json

    runs = json.loads(response.body)["runs"]
    assert runs[run_id] == {"stale": True, "reasons": ["cell train changed"], "reproducible": True}
    assert runs[other]["stale"] is False


async def test_stale_refuses_bad_input_with_one_json_line(jp_fetch, filled_store):
    exp = filled_store.experiment_id
    status, body = await error_of(jp_fetch, "experiments", exp, "stale")
    assert (status, body["error"]) == (400, "give 1 to 200 run ids as ?run=<id>&run=<id>")
    status, body = await error_of(jp_fetch, "experiments", exp, "stale", run=XSS)
    assert status == 400 and "<script>" not in body["error"]
