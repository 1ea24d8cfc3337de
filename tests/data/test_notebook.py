"""A real kernel (nbclient) runs the data magics as a user's notebook would."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def notebook(*sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in sources]
    return nb


def execute(nb: nbformat.NotebookNode, cwd) -> nbformat.NotebookNode:
    client = NotebookClient(
        nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    return nb


@pytest.mark.slow
def test_snapshot_track_and_lineage_in_a_kernel(dvc_repo, client):
    nb = notebook(
        "%load_ext jupyter_mlops",
        "open('data/train.csv', 'w').write('x,y\\n1,2\\n')",
        "%%track\nwith open('data/train.csv') as f:\n    rows = len(f.readlines()) - 1",
        '%dvc_snapshot data/train.csv -m "v1"',
        "open('data/train.csv', 'w').write('x,y\\n7,7\\n8,8\\n')\n"
        "%dvc_snapshot data/train.csv -m v2",
        "from jupyter_mlops import data_lineage\nframe = data_lineage('data/train.csv')\n"
        "print(len(frame), list(frame['message']))",
    )
    execute(nb, dvc_repo)
    # the snapshot is the cell's only output: no DVC hints or spinners around it
    (snap_out,) = nb.cells[3].outputs
    assert snap_out["data"]["text/html"].startswith("<div class='jupyter-mlops-snapshot'>")
    assert snap_out["data"]["text/plain"].startswith("Snapshot data/train.csv")
    assert "linked to run" in snap_out["data"]["text/plain"]
    printed = "".join(o.get("text", "") for o in nb.cells[5].outputs)
    assert printed.strip() == "2 ['v1', 'v2']"


@pytest.mark.slow
def test_bad_input_stops_the_notebook_with_one_line(dvc_repo):
    nb = notebook("%load_ext jupyter_mlops", "%dvc_snapshot data/missing.csv")
    with pytest.raises(CellExecutionError) as exc:
        execute(nb, dvc_repo)
    assert "no such file or directory: data/missing.csv" in str(exc.value)
    text = "".join(o.get("text", "") for o in nb.cells[1].outputs)
    assert text.strip() == "UsageError: no such file or directory: data/missing.csv"
