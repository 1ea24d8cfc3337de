"""%%track in real kernels (nbclient, nbconvert), the function twin in a plain script,
and the pure core never importing IPython."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from mlflow.tracking import MlflowClient
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from jupyter_mlops.core import contracts as c


def _notebook(path: Path, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def _runs(uri: str) -> list:
    """Runs of ``uri``, oldest first, once delivered: by this process's journal worker, and
    by ``sync`` for what a kernel that has exited left in the journal."""
    from jupyter_mlops.core.team.sync import sync
    from jupyter_mlops.core.tracking.journal import wait_for_delivery

    assert wait_for_delivery(120)
    assert sync(uri).ok
    client = MlflowClient(tracking_uri=uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(ids, order_by=["attributes.start_time ASC"])


@pytest.mark.slow
def test_nbclient_kernel_logs_runs_with_notebook_path_and_cell_ids(project, tracking_uri):
    path = _notebook(
        project / "train.ipynb",
        [
            "%load_ext jupyter_mlops",
            "%%track --no-autolog\nalpha = 0.5\nscore = alpha * 1.5",
            "%%track --no-autolog\nbeta = 2\nscore2 = beta * 0.25",
        ],
    )
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(project)}}
    )
    try:
        client.execute(cleanup_kc=False)
        connection = Path(client.km.connection_file).stem  # what the magic passes in
    finally:
        if client.km is not None:
            client.km.shutdown_kernel(now=True)
    runs = _runs(tracking_uri)
    assert [r.data.metrics for r in runs] == [{"score": 0.75}, {"score2": 0.5}]
    assert {r.data.tags[c.TAG_KERNEL_ID] for r in runs} == {connection.removeprefix("kernel-")}
    assert [r.data.params for r in runs] == [{"alpha": "0.5"}, {"beta": "2"}]
    for run, cell in zip(runs, nb.cells[1:], strict=True):
        assert run.data.tags[c.TAG_SOURCE_NAME] == "train.ipynb"
        assert run.data.tags[c.TAG_CELL_ID] == cell.id
        # the number shown beside the cell (the execute_reply's), not IPython's next one
        assert run.data.tags[c.TAG_CELL_EXECUTION_COUNT] == str(cell.execution_count)
        assert run.data.tags[c.TAG_KERNEL_PID] != str(os.getpid())
    # the summary line is HTML in the notebook
    html = nb.cells[1].outputs[-1]["data"]["text/html"]
    assert "jupyter-mlops-summary" in html


@pytest.mark.slow
def test_nbclient_failing_cell_stops_execution_and_run_is_failed(project, tracking_uri):
    path = _notebook(
        project / "fail.ipynb",
        [
            "%load_ext jupyter_mlops",
            "%%track --no-autolog\nx = 1\nraise RuntimeError('bad batch')",
            "after = 1",
        ],
    )
    nb = nbformat.read(path, as_version=4)
    with pytest.raises(CellExecutionError, match="bad batch"):
        NotebookClient(
            nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(project)}}
        ).execute()
    (run,) = _runs(tracking_uri)
    assert run.info.status == "FAILED"
    assert nb.cells[2].get("outputs", []) == [] and nb.cells[2].execution_count is None
    # the traceback is shown once, with the user's frame
    errors = [o for o in nb.cells[1].outputs if o["output_type"] == "error"]
    assert len(errors) == 1 and errors[0]["ename"] == "RuntimeError"
    # and names the cell as its prompt does
    frames = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(errors[0]["traceback"]))
    assert f"Cell In[{nb.cells[1].execution_count}]" in frames
    assert run.data.tags[c.TAG_CELL_EXECUTION_COUNT] == str(nb.cells[1].execution_count)


@pytest.mark.slow
def test_nbconvert_execute_exits_nonzero_on_a_failing_tracked_cell(project, tracking_uri):
    ok = _notebook(
        project / "ok.ipynb",
        [
            "%load_ext jupyter_mlops",
            "%%track --no-autolog\nrate = 0.1\nm = rate * 3",
        ],
    )
    bad = _notebook(
        project / "bad.ipynb",
        [
            "%load_ext jupyter_mlops",
            "%%track --no-autolog\nraise ValueError('nope')",
        ],
    )
    cmd = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute"]
    good = subprocess.run([*cmd, str(ok)], cwd=project, capture_output=True, text=True)
    assert good.returncode == 0, good.stderr
    failed = subprocess.run([*cmd, str(bad)], cwd=project, capture_output=True, text=True)
    assert failed.returncode != 0
    runs = _runs(tracking_uri)
    assert [r.info.status for r in runs] == ["FINISHED", "FAILED"]
    assert runs[0].data.tags[c.TAG_SOURCE_NAME] == "ok.ipynb"


@pytest.mark.slow
def test_track_twin_in_a_plain_script(project, tracking_uri):
    script = project / "train.py"
    script.write_text(
        "from jupyter_mlops import track\n"
        "with track('script-exp', 'scripted', params={'lr': 0.1}, metrics=['acc'],\n"
        "           namespace=globals(), autolog=False) as run:\n"
        "    acc = 0.9\n"
        "    open('out.txt', 'w').write('x')\n"
        "from jupyter_mlops import wait_for_delivery\n"
        "assert wait_for_delivery(120)  # the block returned at once; its run arrives now\n"
        "print('RUN', run.record.run_id)\n"
    )
    out = subprocess.run(
        [sys.executable, str(script)],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "MLFLOW_TRACKING_URI": tracking_uri},
    )
    assert out.returncode == 0, out.stderr
    (run,) = _runs(tracking_uri)
    assert run.info.run_name == "scripted"
    assert run.data.params == {"lr": "0.1"}
    assert run.data.metrics == {"acc": 0.9}
    assert f"RUN {run.info.run_id}" in out.stdout


def test_track_twin_marks_failures(project, tracking_uri):
    from jupyter_mlops import track

    with pytest.raises(RuntimeError), track("twin", autolog=False, quiet=True):
        raise RuntimeError("stop")
    (run,) = _runs(tracking_uri)
    assert run.info.status == "FAILED"


def test_core_never_imports_ipython_widgets_or_tornado():
    code = (
        "import sys, json, jupyter_mlops.core.tracking.cellrun, "
        "jupyter_mlops.core.tracking.capture, jupyter_mlops.core.store, "
        "jupyter_mlops.core.tracking.writer\n"
        "print(json.dumps([m for m in ('IPython', 'ipywidgets', 'tornado') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_tracking_uri_rule(tmp_path, monkeypatch):
    from jupyter_mlops.core import store

    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert store.resolve_tracking_uri(start=repo / "notebooks") == (
        f"sqlite:///{repo.resolve()}/mlflow.db"
    )
    outside = tmp_path / "plain"
    outside.mkdir()
    assert store.resolve_tracking_uri(start=outside) == f"sqlite:///{outside.resolve()}/mlflow.db"
    # the default start is the working directory of each call, never the first one's
    monkeypatch.chdir(repo / "notebooks")
    assert store.project_root() == repo.resolve()
    monkeypatch.chdir(outside)
    assert store.project_root() == outside.resolve()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://team:5000")
    assert store.resolve_tracking_uri(start=outside) == "http://team:5000"
    assert store.resolve_tracking_uri("sqlite:///x.db", start=outside) == "sqlite:///x.db"


def test_config_trait_sets_tracking_uri(shell, tmp_path):
    other = f"sqlite:///{tmp_path / 'explicit.db'}"
    shell.run_line_magic("config", f"MlopsMagics.tracking_uri = '{other}'")
    shell.run_cell("%%track --no-autolog\nvalue = 2 * 1.5")
    (run,) = _runs(other)
    assert run.data.metrics == {"value": 3.0}
