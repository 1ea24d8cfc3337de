"""The serving live view updates in JupyterLab and in Notebook 7, and the sidebar's Models tab
shows what is served where in both.

A notebook registers two sklearn versions in the project's store, serves the champion and
displays the server, then sends traffic and promotes v2 from later cells (the server already
serves v2 when ``promote()`` returns): the test watches the displayed widget's own numbers and
header change (no re-display), then opens the sidebar's Models tab (in Notebook 7 the sidebar
lives in the notebook page's left panel, opened the same way through the shell). The
labextension is this branch's build when one exists (``jupyter_mlops/labextension``, put first
on ``JUPYTER_PATH``), else the installed one. Screenshots go to ``test-output/serving-<front
end>/``.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CELLS = [
    "import mlflow, numpy as np, pandas as pd\n"
    "from sklearn.linear_model import LogisticRegression\n"
    "from jupyter_mlops import promote, serve\n"
    "from jupyter_mlops.core.store import get_client, resolve_tracking_uri\n"
    "get_client()  # creates the fresh store under our file lock (the sidebar polls it too)\n"
    "mlflow.set_tracking_uri(resolve_tracking_uri())\n"
    "X = pd.DataFrame(np.random.default_rng(0).random((120, 2)), columns=['a', 'b'])\n"
    "for flip in (0, 1):\n"
    "    m = LogisticRegression().fit(X, (X['a'] > 0.5).astype(int) ^ flip)\n"
    "    with mlflow.start_run():\n"
    "        mlflow.sklearn.log_model(m, name='model', registered_model_name='live-model',\n"
    "                                 pip_requirements=[])\n"
    "promote('live-model', 1, 'champion')",
    "server = serve('models:/live-model@champion', poll_interval=0.5)\nserver",
    "summary = server.replay(X, rps=30, concurrency=2, progress=False)",
    "entry = promote('live-model', 2, 'champion')\n"
    "assert server.stats()['version'] == '2', entry.serving  # swapped before promote returned\n"
    "server.replay(X.head(30), concurrency=2, progress=False)['versions']",
]

RUN_FIRST_TWO = """async () => {
  const app = window.jupyterapp;
  app.shell.currentWidget.content.activeCellIndex = 0;
  await app.commands.execute('notebook:run-cell-and-select-next');
  await app.commands.execute('notebook:run-cell-and-select-next');
}"""


@pytest.fixture(autouse=True)
def _branch_build(branch_labextension, tmp_path, monkeypatch):
    """Serve this branch's labextension build (if built); model servers announce in tmp."""
    monkeypatch.setenv("JUPYTER_MLOPS_SERVING_DIR", str(tmp_path / "serving"))


def _number(page, name: str) -> str:
    cell = page.locator(f".jm-serving [data-number='{name}'] .jm-value").first
    return cell.inner_text()


def test_live_view_updates_and_models_tab_shows_the_served_version(
    frontend, chromium_page, write_notebook, screenshot
):
    page = chromium_page
    area = f"serving-{frontend.name}"
    write_notebook(frontend.root / "serving.ipynb", CELLS)
    try:
        frontend.open_notebook(page, "serving.ipynb")
        # the first two cells register the versions and display the server (v1)...
        page.evaluate(RUN_FIRST_TWO)
        page.locator(".jm-serving .jm-serving-head").first.wait_for(timeout=300_000)
        head = page.locator(".jm-serving .jm-serving-head").first
        assert "models:/live-model@champion · v1 · serving at http://127.0.0.1:" in (
            head.inner_text()
        )
        # ...the rest send traffic and promote v2 (the promotion swaps at once, so it waits)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-below')")
        # the same widget's numbers move while the later cell sends traffic
        page.wait_for_function(
            "() => { const v = document.querySelector(\".jm-serving [data-number='requests']"
            ' .jm-value"); return v && Number(v.textContent) > 10; }',
            timeout=120_000,
        )
        assert page.locator(".jm-serving-chart[data-chart='latency'] .jm-line").count() == 3
        screenshot(page, area, "1-live-traffic")
        # the promotion shows as a swap to v2 in the header and the version timeline
        page.wait_for_function(
            "() => { const h = document.querySelector('.jm-serving .jm-serving-head');"
            " return h && h.textContent.includes('· v2 ·'); }",
            timeout=120_000,
        )
        page.wait_for_function(
            "() => { const v = document.querySelector(\".jm-serving [data-number='requests']"
            ' .jm-value"); return v && Number(v.textContent) >= 150; }',
            timeout=60_000,
        )
        versions = page.locator(".jm-serving .jm-serving-versions").first.inner_text()
        assert versions == "versions served: v1 → v2"
        assert _number(page, "errors") == "0"
        screenshot(page, area, "2-after-promotion")
        # the sidebar (JupyterLab's left area, Notebook 7's left panel) shows v2 being served
        page.evaluate("() => window.jupyterapp.shell.activateById('jupyter-mlops-sidebar')")
        page.locator("#jupyter-mlops-sidebar").wait_for(state="visible", timeout=30_000)
        page.click("#jupyter-mlops-sidebar .lm-TabBar-tab:has-text('Models')")
        item = page.locator("#jupyter-mlops-sidebar .jp-mlops-model[data-model='live-model']")
        item.locator(".jp-mlops-served-badge").wait_for(timeout=30_000)
        assert item.locator(".jp-mlops-served-badge").inner_text() == "served v2"
        item.click()
        served = page.locator("#jupyter-mlops-sidebar .jp-mlops-serving .jp-mlops-served")
        served.first.wait_for(timeout=30_000)
        assert served.first.get_attribute("data-version") == "2"
        assert "models:/live-model@champion" in served.first.inner_text()
        screenshot(page, area, "3-models-tab")
        assert page.dialogs == [] and page.errors == []
    except Exception:
        screenshot(page, area, "failure")
        print(frontend.log_tail())
        raise
