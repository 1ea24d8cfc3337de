"""The sidebar's journal indicator in a real JupyterLab (Chromium): how many tracked runs wait
for delivery and why delivery fails, shown as text.

It needs the labextension built from this checkout (``cd labextension && jlpm build`` writes
``jupyter_mlops/labextension``); the test serves that build through ``JUPYTER_PATH``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import jupyter_mlops
from jupyter_mlops.core.store import default_tracking_uri
from jupyter_mlops.core.tracking import journal, spool
from jupyter_mlops.core.tracking.record import RunRecord

pytestmark = [pytest.mark.slow, pytest.mark.browser]

BUILD = Path(jupyter_mlops.__file__).parent / "labextension"
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(autouse=True)
def _this_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Serve this checkout's labextension build ahead of the installed one."""
    if not (BUILD / "package.json").exists():
        pytest.skip("labextension not built in this checkout (cd labextension && jlpm build)")
    path = tmp_path / "jupyter-path"
    (path / "labextensions").mkdir(parents=True)
    (path / "labextensions" / "jupyter-mlops").symlink_to(BUILD)
    monkeypatch.setenv("JUPYTER_PATH", str(path))


def test_sidebar_shows_pending_deliveries_and_why_they_fail(
    jupyterlab, chromium_page, screenshot, project
) -> None:
    # Given two runs waiting in the journal for the sidebar's store, which refused them, and
    # one for another store (not counted here)
    folder = Path(os.environ["JUPYTER_MLOPS_SPOOL_DIR"])
    for uri in (default_tracking_uri(project), default_tracking_uri(project), "http://other"):
        spool.spool_run(RunRecord("Default", status="FINISHED"), folder, tracking_uri=uri)
    journal.record_failure(folder, f"http://x: {HOSTILE}")
    page = chromium_page
    # When the MLOps sidebar is open
    page.goto(jupyterlab.url())
    page.click("li[data-id='jupyter-mlops-sidebar']", timeout=120_000)
    indicator = page.locator("#jupyter-mlops-sidebar .jp-mlops-delivery")
    page.wait_for_function(
        "() => (document.querySelector('#jupyter-mlops-sidebar .jp-mlops-delivery') || {})"
        ".textContent?.includes('waiting')",
        timeout=60_000,
    )
    # Then it says how many wait and why, as text (the reason is never markup)
    assert indicator.inner_text().startswith("2 waiting · delivery failing: http://x: <img")
    assert page.locator("#jupyter-mlops-sidebar img").count() == 0
    assert "jp-mlops-delivery-failing" in (indicator.get_attribute("class") or "")
    screenshot(page, "sidebar", "delivery-failing")
    # And once the journal is empty the indicator clears on its next poll
    for entry in spool.entry_dirs(folder):
        import shutil

        shutil.rmtree(entry)
    deadline = time.monotonic() + 30
    while indicator.inner_text().strip() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert indicator.inner_text().strip() == ""
