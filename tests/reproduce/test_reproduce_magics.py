"""``%%track`` stores the code slice; ``%mlops_reproduce`` refuses bad input in one line."""

from __future__ import annotations

import json

import pytest
from IPython.core.error import UsageError

from jupyter_mlops import wait_for_delivery


def run(shell, source: str, cell_id: str | None = None) -> None:  # type: ignore[no-untyped-def]
    result = shell.run_cell(source, store_history=True, cell_id=cell_id)
    result.raise_error()


def test_tracked_cell_stores_its_slice_with_cell_ids(shell, client):
    # Given a session of a real shell with cell ids, as JupyterLab sends them
    run(shell, "base = 2", cell_id="a")
    run(shell, "noise = 99", cell_id="b")
    run(shell, "def double(v):\n    return v * base", cell_id="c")
    # When a tracked cell uses the helper
    run(shell, "%%track -n sliced\nresult = double(21)", cell_id="d")
    assert wait_for_delivery(60)  # the journal delivers it in the background
    [found] = client.search_runs([e.experiment_id for e in client.search_experiments()])
    text = client.download_artifacts(found.info.run_id, "cell/slice.json")
    meta = json.loads(open(text).read())
    # Then the slice holds the helper and what it reads, with their cell ids
    assert [(e["execution_count"], e["cell_id"]) for e in meta["entries"]] == [
        (1, "a"),
        (3, "c"),
        (4, "d"),
    ]  # execution 2 is unrelated
    # and the run names its cell as its slice does (one hook learnt the id for both)
    tags = found.data.tags
    assert (tags["jupyter_mlops.cell.id"], tags["jupyter_mlops.cell.execution_count"]) == ("d", "4")
    script = open(client.download_artifacts(found.info.run_id, "cell/slice.py")).read()
    assert "# %% [execution 3] cell c\ndef double(v):" in script
    assert found.data.metrics["result"] == 42


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "%mlops_reproduce: the following arguments are required: run_id"),
        ("0123abcd", "%mlops_reproduce: unknown run id '0123abcd'"),
        ("abc --tolerance -1", "%mlops_reproduce: tolerance must be >= 0, got -1.0"),
    ],
)
def test_reproduce_magic_bad_input_is_one_line(shell, line, message):
    with pytest.raises(UsageError) as info:
        shell.run_line_magic("mlops_reproduce", line)
    assert str(info.value) == message
