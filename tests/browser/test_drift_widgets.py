"""drift() and Monitor.dashboard() render in JupyterLab and Notebook 7, driven in Debian Chromium.

A notebook computes a drift report on a shifted frame (one column named like an XSS payload) and
a monitor over two batches; the test checks the widgets' own DOM (summary, sortable table,
chart, dashboard panels with threshold lines and alert markers), that names show as text, and
clicks "Log to MLflow". Screenshots go to ``test-output/drift-<front end>/``.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser]

XSS = "<img src=x onerror=alert(1)>"
CELLS = [
    "%load_ext jupyter_mlops\n"
    "import numpy as np, pandas as pd\n"
    "from sklearn.linear_model import LogisticRegression\n"
    "from jupyter_mlops import drift, Monitor\n"
    "rng = np.random.default_rng(0)\n"
    f"ref = pd.DataFrame({{'age': rng.normal(40, 5, 3000), {XSS!r}: rng.normal(0, 1, 3000),\n"
    "                    'plan': rng.choice(['a', 'b', 'c'], 3000)})\n"
    f"cur = pd.DataFrame({{'age': rng.normal(48, 5, 2000), {XSS!r}: rng.normal(0, 1, 2000),\n"
    "                    'plan': rng.choice(['a', 'b', 'c'], 2000, p=[0.6, 0.3, 0.1])})",
    "w = drift(ref, cur)\nw",
    "X = ref[['age']]; y = (X['age'] > 40).astype(int)\n"
    "model = LogisticRegression().fit(X, y)\n"
    "m = Monitor(model, X, y, log=False)\n"
    "m.observe(X[:500], y[:500])\n"
    "m.observe(X[:500] + 15, y[:500] * 0)  # drifted inputs, wrong labels\n"
    "m.dashboard()",
]


def test_drift_and_monitor_widgets_render(
    frontend, chromium_page, write_notebook, screenshot
) -> None:
    page, area = chromium_page, f"drift-{frontend.name}"
    write_notebook(frontend.root / "notebooks" / "drift.ipynb", CELLS)
    try:
        frontend.open_notebook(page, "notebooks/drift.ipynb")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.locator(".jm-monitor-panel").first.wait_for(timeout=300_000)
        assert page.get_by_text("Error displaying widget").count() == 0

        summary = page.locator(".jm-drift-summary").first.inner_text()
        assert "drift" in summary.lower()
        rows = page.locator(".jm-drift-table tr[data-column]")
        assert rows.count() == 3
        assert page.locator(".jm-drift-table tr[data-column='age']").count() == 1
        assert page.get_by_text(XSS, exact=True).count() >= 1  # the column name is text
        assert page.locator("img[src='x']").count() == 0
        assert page.dialogs == []
        assert page.locator("svg.jm-drift-chart").count() >= 1
        page.locator(".jm-drift-table th[data-key]").first.click()  # sorting does not break
        assert page.locator(".jm-drift-table tr[data-column]").count() == 3
        page.locator(".jm-drift").first.scroll_into_view_if_needed()
        screenshot(page, area, "drift-widget")

        assert page.locator(".jm-monitor-panel[data-signal]").count() == 4
        assert page.locator(".jm-monitor .jm-threshold").count() >= 1
        assert page.locator(".jm-monitor .jm-alert").count() >= 1  # the shifted batch fired
        page.locator(".jm-monitor").first.scroll_into_view_if_needed()
        screenshot(page, area, "monitor-dashboard")
        assert page.errors == []  # nothing of ours (or of the widget managers) threw
    except BaseException:
        screenshot(page, area, "failure")
        print(frontend.log_tail())
        raise
