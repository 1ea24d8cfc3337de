"""The sidebar marks stale runs and offers "Reproduce" (real JupyterLab, Debian Chromium).

JupyterLab loads this branch's build of the extension: a ``JUPYTER_PATH`` folder whose
``labextensions/jupyter-mlops`` links to ``jupyter_mlops/labextension`` of this checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jupyter_mlops.core.contracts import TAG_CELL_HASH, TAG_SOURCE_NAME
from jupyter_mlops.core.reproduce.history import SessionHistory
from jupyter_mlops.core.reproduce.slicing import compute_slice

pytestmark = [pytest.mark.slow, pytest.mark.browser]

BUILD = Path(__file__).resolve().parents[2] / "jupyter_mlops" / "labextension"


@pytest.fixture
def jupyterlab_extra_args(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Serve this checkout's labextension build ahead of the installed one."""
    if not (BUILD / "package.json").is_file():
        pytest.skip("labextension not built in this checkout (cd labextension && jlpm build)")
    folder = tmp_path / "jupyter-path" / "labextensions"
    folder.mkdir(parents=True)
    os.symlink(BUILD, folder / "jupyter-mlops")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter-path"))
    return []


def stale_run(root: Path) -> str:
    """A run whose slice holds an older version of the notebook's only cell."""
    from jupyter_mlops.core.store import get_client

    client = get_client(f"sqlite:///{root / 'mlflow.db'}")  # file-locked like the server's
    exp_id = client.create_experiment("repro-exp", artifact_location=(root / "mlruns").as_uri())
    session = SessionHistory()
    session.record(1, "%%track\nx = 0", cell_id="cell-0")
    tags = {TAG_CELL_HASH: "h", TAG_SOURCE_NAME: "notebooks/train.ipynb"}
    run = client.create_run(exp_id, tags=tags, run_name="old-run")
    for path, text in compute_slice(session).texts().items():
        client.log_text(run.info.run_id, text, path)
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def test_stale_badge_and_reproduce_button(
    project, jupyterlab, chromium_page, write_notebook, screenshot
) -> None:
    write_notebook(jupyterlab.root / "notebooks" / "train.ipynb", ["%%track\nx = 1"])
    run_id = stale_run(jupyterlab.root)
    page = chromium_page
    try:
        jupyterlab.open_notebook(page, "notebooks/train.ipynb")
        # Given the sidebar lists the run whose slice cell was edited since
        page.click("li[data-id='jupyter-mlops-sidebar']")
        badge = page.locator("#jupyter-mlops-sidebar .jp-mlops-run .jp-mlops-stale")
        badge.wait_for(timeout=60_000)
        # Then it carries a "stale" badge naming the changed cell
        assert badge.inner_text() == "stale"
        assert badge.get_attribute("title") == "cell cell-0 changed"
        screenshot(page, "reproduce", "1-stale-badge")
        # When the run is opened, Then the panel says why, and "Reproduce" inserts the magic
        page.locator("#jupyter-mlops-sidebar .jp-mlops-run", has_text="old-run").click()
        panel = page.locator(".jp-mlops-runpanel")
        page.wait_for_function(
            "() => document.querySelector('.jp-mlops-stale-note')?.textContent"
            " === 'Stale: cell cell-0 changed'"
        )
        panel.get_by_role("button", name="Reproduce").click()
        page.wait_for_function(
            "(code) => window.jupyterapp.shell.currentWidget.content?.widgets?.some("
            "c => c.model.sharedModel.getSource() === code)",
            arg=f"%mlops_reproduce {run_id}",
        )
        screenshot(page, "reproduce", "2-run-panel")
    except BaseException:
        screenshot(page, "reproduce", "failure")
        print(jupyterlab.log_tail())
        raise
