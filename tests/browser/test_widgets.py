"""compare_runs() and registry() live in JupyterLab and in Notebook 7, driven in Debian Chromium.

A notebook runs real ``%%track`` cells in a real kernel, registers two versions and promotes
the first; the test then selects runs (plotly charts and the highlighted code diff must
render), picks version 2 in the registry widget, clicks Promote → Confirm, and checks MLflow's
own client for the alias. Screenshots go to ``test-output/views-<front end>/``.
"""

from __future__ import annotations

import re
import time

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser]

XSS = "<img src=x onerror=alert(1)>"
MODEL = "views-model"
TRAIN = """%%track --log-model model -n "{name}"
from sklearn.linear_model import LogisticRegression
from sklearn.datasets import make_classification
C = {c}
X, y = make_classification(n_samples=200, n_features=6, flip_y=0.2, random_state=0)
model = LogisticRegression(C=C, max_iter=200).fit(X, y)
accuracy = model.score(X, y)
"""
CELLS = [
    "%load_ext jupyter_mlops\n%mlops_experiment views-demo\n"
    "from jupyter_mlops import compare_runs, promote, register, registry\n"
    "from jupyter_mlops.core.active import latest_run_id",
    TRAIN.format(name="baseline", c=0.001),
    "first = latest_run_id()",
    TRAIN.format(name=XSS, c=1.0),
    f"second = latest_run_id()\nregister(first, {MODEL!r})\nregister(second, {MODEL!r})\n"
    f"promote({MODEL!r}, 1)",
    "compare_runs()",
    f"registry({MODEL!r}, sample=X[:3])",
]


def test_compare_and_promote_from_the_widgets(
    frontend, chromium_page, write_notebook, screenshot
) -> None:
    page = chromium_page
    area = f"views-{frontend.name}"
    write_notebook(frontend.root / "notebooks" / "views.ipynb", CELLS)
    try:
        frontend.open_notebook(page, "notebooks/views.ipynb")
        _scenario(frontend, page, lambda name: screenshot(page, area, name))
    except BaseException:
        screenshot(page, area, "failure")
        print(frontend.log_tail())
        raise


def _scenario(lab, page, shot) -> None:
    from mlflow.tracking import MlflowClient

    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    promote = page.locator("button", has_text="Promote to champion")
    promote.wait_for(timeout=300_000)
    assert page.get_by_text("Error displaying widget").count() == 0

    # the comparison widget: escaped names, charts for selected runs
    table = page.locator(".widget-html", has_text="Run comparison").first
    assert table.is_visible()
    assert page.get_by_text(XSS, exact=True).count() >= 1  # shown as text
    assert page.locator("img[src='x']").count() == 0
    page.locator(".widget-select-multiple select").first.select_option(index=[0, 1])
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    assert page.locator(".js-plotly-plot").count() == 2  # parcoords + metric history
    page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
    shot("compare-charts")
    assert "param: C" in page.locator(".widget-html", has_text="fields differ").first.inner_text()
    changed = page.locator("td", has_text="C = 0.001").first  # the cell-code diff, highlighted
    assert "rgb(255, 244, 206)" in changed.evaluate("e => getComputedStyle(e).backgroundColor")
    changed.scroll_into_view_if_needed()
    shot("code-diff")

    # the registry widget: pick version 2, promote, confirm
    page.locator(".widget-dropdown", has_text="Version").locator("select").select_option("2")
    promote.click()
    question = page.get_by_text("Point 'champion' at version 2 (now version 1)?")
    question.wait_for(timeout=30_000)
    comparison = page.locator(".jp-mlops-info", has_text=re.compile(r"^accuracy [\d.]+ vs "))
    assert re.search(r"accuracy [\d.]+ vs [\d.]+ \([+-][\d.e-]+\)", comparison.inner_text())
    shot("registry-confirm")
    page.locator("button", has_text="Confirm").click()
    client = MlflowClient(f"sqlite:///{lab.root / 'mlflow.db'}")
    deadline = time.time() + 30
    while str(client.get_model_version_by_alias(MODEL, "champion").version) != "2":
        assert time.time() < deadline, "the alias never moved to version 2"
        time.sleep(0.5)
    page.get_by_text("champion → version 2").wait_for(timeout=30_000)
    shot("registry-promoted")
    assert page.dialogs == []  # type: ignore[attr-defined]
    assert page.errors == []  # type: ignore[attr-defined]
