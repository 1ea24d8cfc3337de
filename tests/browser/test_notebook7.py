"""Our widgets and magics in Notebook 7 (``jupyter notebook``), driven in Debian Chromium.

Notebook 7 is built from JupyterLab's components but is its own application with its own
shell, so the live widgets (ipywidgets for the comparison and registry views, anywidget for
the drift views) are checked there too: a notebook tracks two runs, registers and promotes a
model and shows ``compare_runs()``, ``registry()``, ``drift()`` and a monitor dashboard; the
test selects runs (plotly charts must render), promotes version 2 and checks MLflow's client.
Screenshots go to ``test-output/notebook7/``.
"""

from __future__ import annotations

import time

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser]

XSS = "<img src=x onerror=alert(1)>"
MODEL = "nb7-model"
TRAIN = """%%track --log-model model -n "{name}"
from sklearn.linear_model import LogisticRegression
from sklearn.datasets import make_classification
C = {c}
X, y = make_classification(n_samples=200, n_features=6, flip_y=0.2, random_state=0)
model = LogisticRegression(C=C, max_iter=200).fit(X, y)
accuracy = model.score(X, y)
"""
CELLS = [
    "%load_ext jupyter_mlops\n%mlops_experiment nb7-demo\n"
    "import numpy as np, pandas as pd\n"
    "from jupyter_mlops import Monitor, compare_runs, drift, promote, register, registry\n"
    "from jupyter_mlops.core.tracking import latest_run_id",
    TRAIN.format(name="baseline", c=0.001),
    "first = latest_run_id()",
    TRAIN.format(name=XSS, c=1.0),
    f"second = latest_run_id()\nregister(first, {MODEL!r})\nregister(second, {MODEL!r})\n"
    f"promote({MODEL!r}, 1)",
    "compare_runs()",
    f"registry({MODEL!r}, sample=X[:3])",
    "rng = np.random.default_rng(0)\n"
    f"ref = pd.DataFrame({{'age': rng.normal(40, 5, 3000), {XSS!r}: rng.normal(0, 1, 3000)}})\n"
    f"cur = pd.DataFrame({{'age': rng.normal(48, 5, 2000), {XSS!r}: rng.normal(0, 1, 2000)}})\n"
    "drift(ref, cur)",
    "m = Monitor(model, X, y, log=False)\n"
    "m.observe(X[:100], y[:100])\n"
    "m.observe(X[:100] + 3, 1 - y[:100])\n"
    "m.dashboard()",
]


def test_widgets_live_in_notebook7(
    notebook7, chromium_page, write_notebook, open_in_notebook7, screenshot
) -> None:
    page = chromium_page
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(_origin(exc)))  # type: ignore[attr-defined]
    write_notebook(notebook7.root / "notebooks" / "nb7.ipynb", CELLS)
    try:
        open_in_notebook7(page, "notebooks/nb7.ipynb")
        _scenario(notebook7, page, screenshot)
    except BaseException:
        screenshot(page, "notebook7", "failure")
        print(notebook7.log_tail())
        raise
    # Notebook 7.6 itself throws one TypeError from its shortcuts plugin on every page load
    # (also with all extensions disabled); any error raised elsewhere is ours or a widget's
    assert [e for e in errors if "/static/notebook/notebook_core." not in e] == []


def _origin(exc: object) -> str:
    """An uncaught page error and the frame that threw it."""
    frames = [ln.strip() for ln in (getattr(exc, "stack", "") or "").splitlines()]
    return f"{exc} {next((f for f in frames if f.startswith('at ')), '')}"


def _scenario(server, page, screenshot) -> None:
    from mlflow.tracking import MlflowClient

    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.locator(".jm-monitor-panel").first.wait_for(timeout=300_000)
    assert page.get_by_text("Error displaying widget").count() == 0
    assert page.locator("img[src='x']").count() == 0
    assert page.get_by_text(XSS, exact=True).count() >= 2  # a run name and a column name
    screenshot(page, "notebook7", "executed")

    # comparison: selecting two runs draws the parallel coordinates and metric histories
    page.locator(".widget-select-multiple select").first.select_option(index=[0, 1])
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    assert page.locator(".js-plotly-plot").count() == 2
    page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
    screenshot(page, "notebook7", "compare")
    changed = page.locator("td", has_text="C = 0.001").first  # the cell-code diff
    assert "rgb(255, 244, 206)" in changed.evaluate("e => getComputedStyle(e).backgroundColor")
    changed.scroll_into_view_if_needed()
    screenshot(page, "notebook7", "code-diff")

    # drift (anywidget): table rows and a chart; monitor dashboard: four panels
    assert page.locator(".jm-drift-table tr[data-column]").count() == 2
    assert page.locator("svg.jm-drift-chart").count() >= 1
    assert page.locator(".jm-monitor-panel[data-signal]").count() == 4

    # registry: promote version 2 through the confirmation step
    page.locator(".widget-dropdown", has_text="Version").locator("select").select_option("2")
    page.locator("button", has_text="Promote to champion").click()
    page.get_by_text("Point 'champion' at version 2 (now version 1)?").wait_for(timeout=30_000)
    page.locator("button", has_text="Confirm").click()
    client = MlflowClient(f"sqlite:///{server.root / 'mlflow.db'}")
    deadline = time.time() + 30
    while str(client.get_model_version_by_alias(MODEL, "champion").version) != "2":
        assert time.time() < deadline, "the alias never moved to version 2"
        time.sleep(0.5)
    page.get_by_text("champion → version 2").wait_for(timeout=30_000)
    screenshot(page, "notebook7", "promoted")
    assert page.dialogs == []  # type: ignore[attr-defined]
