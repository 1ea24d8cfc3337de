"""The MLOps sidebar in a real JupyterLab, driven in Debian Chromium through playwright.

A notebook runs real ``%%track`` cells in a real kernel; the sidebar must show the new runs,
open one, insert code into the notebook, and promote a model from the Models tab.
Screenshots go to ``test-output/sidebar/`` (light and dark theme). JupyterLab and Chromium come
from ``tests/browser/conftest.py`` (``jupyterlab``, ``chromium_page``).
"""

from __future__ import annotations

import ast

import pytest

# this checkout's sidebar build when there is one (else the installed one)
pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.usefixtures("branch_labextension")]

XSS = "<script>alert(1)</script>"
HOSTILE_MODEL = "a'); import os #"

SETUP = "%load_ext jupyter_mlops\n%mlops_experiment sidebar-demo"
TRAIN = """%%track --log-model model --register "{model}" -n {name}
from sklearn.linear_model import LogisticRegression
from sklearn.datasets import make_classification
C = {c}
note = "{note}"
X, y = make_classification(n_samples=200, n_features=6, random_state=0)
model = LogisticRegression(C=C, max_iter=200).fit(X, y)
accuracy = model.score(X, y)
loss = [1.0 / (step + 1 + C) for step in range(6)]
"""


def _sources() -> list[str]:
    """The notebook's cells: setup, then two tracked trainings registering one model."""
    return [
        SETUP,
        TRAIN.format(model=HOSTILE_MODEL, name="baseline", c=0.01, note="plain"),
        TRAIN.format(model=HOSTILE_MODEL, name=XSS, c=1.0, note=XSS),
    ]


def _cell_sources(page) -> list[str]:
    return page.evaluate(
        """() => {
          const nb = window.jupyterapp.shell.currentWidget.content;
          return nb.widgets.map(c => c.model.sharedModel.getSource());
        }"""
    )


def test_sidebar_follows_runs_opens_one_and_promotes(
    jupyterlab, chromium_page, write_notebook, screenshot
) -> None:
    write_notebook(jupyterlab.root / "notebooks" / "train.ipynb", _sources())
    page = chromium_page
    try:
        jupyterlab.open_notebook(page, "notebooks/train.ipynb")
        _scenario(jupyterlab, page, lambda name: screenshot(page, "sidebar", name))
    except BaseException:
        screenshot(page, "sidebar", "failure")
        print(jupyterlab.log_tail())
        raise


def _scenario(lab, page, _shot) -> None:
    from mlflow.tracking import MlflowClient

    # Given the MLOps sidebar is open before anything is tracked
    page.click("li[data-id='jupyter-mlops-sidebar']")
    page.wait_for_selector("#jupyter-mlops-sidebar .jp-mlops-runsview")
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel",
        timeout=90_000,
    )
    # When the notebook runs its %%track cells in its kernel
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    # Then both runs appear in the sidebar without a manual refresh
    page.wait_for_function(
        "() => document.querySelectorAll('#jupyter-mlops-sidebar .jp-mlops-run').length >= 2",
        timeout=90_000,
    )
    names = page.locator("#jupyter-mlops-sidebar .jp-mlops-run-name").all_inner_texts()
    assert sorted(names) == sorted(["baseline", XSS])
    # and the run named like a script renders as text: no script element, no alert
    assert page.locator("#jupyter-mlops-sidebar script").count() == 0
    assert (
        "accuracy" in page.locator("#jupyter-mlops-sidebar .jp-mlops-run-metric").first.inner_text()
    )
    _shot("1-sidebar-runs")

    # The server and the kernel (in notebooks/) share the project-root store
    uri = f"sqlite:///{lab.root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    [exp] = [e for e in client.search_experiments() if e.name == "sidebar-demo"]
    runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
    xss_run = runs[XSS]

    # When the user opens the script-named run
    page.locator("#jupyter-mlops-sidebar .jp-mlops-run", has_text="alert").click()
    panel = page.locator(".jp-mlops-runpanel")
    panel.locator(".jp-mlops-cell-source").wait_for()
    page.wait_for_function(
        "() => document.querySelector('.jp-mlops-runpanel .jp-mlops-cell-source')"
        ".textContent.includes('LogisticRegression')"
    )
    # Then its details show as text, with the cell's code and a metric chart
    assert panel.locator("h2.jp-mlops-run-title").inner_text().startswith(XSS)
    assert XSS in panel.locator(".jp-mlops-table").nth(1).inner_text()  # params: note
    assert panel.locator("script").count() == 0
    panel.locator(".jp-mlops-chart[data-metric='loss'] path").wait_for()
    # and a text artifact opens as text
    panel.locator(".jp-mlops-artifact-list a[data-path='cell/source.py']").click()
    page.wait_for_function(
        "() => document.querySelector('.jp-mlops-artifact-view').textContent.includes('C = 1.0')"
    )
    _shot("2-run-panel")

    # "Compare with…" picks another run and inserts compare_runs(...) with its import
    panel.get_by_role("button", name="Compare with…").click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator(f"input[value='{runs['baseline'].info.run_id}']").check()
    dialog.get_by_role("button", name="Insert comparison").click()
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.content?.widgets?.some("
        "c => c.model.sharedModel.getSource().includes('compare_runs('))"
    )
    [compare_cell] = [s for s in _cell_sources(page) if "compare_runs(" in s]
    tree = ast.parse(compare_cell)
    assert tree.body[0].module == "jupyter_mlops"
    assert ast.literal_eval(tree.body[1].value.keywords[0].value) == [
        xss_run.info.run_id,
        runs["baseline"].info.run_id,
    ]
    page.click(".lm-DockPanel-tabBar .lm-TabBar-tab:has-text('Run ')")
    # When the user asks for the magic restoring this run's data, it lands in the notebook
    panel.get_by_role("button", name="Check out its data").click()
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.content !== undefined"
        " && window.jupyterapp.shell.currentWidget.content.widgets !== undefined"
    )
    sources = _cell_sources(page)
    assert f"%dvc_checkout {xss_run.info.run_id}" in sources

    # The Models tab: promote version 2 after a comparison with the champion
    page.click("#jupyter-mlops-sidebar .lm-TabBar-tab:has-text('Models')")
    model_item = page.locator("#jupyter-mlops-sidebar .jp-mlops-model").first
    model_item.wait_for()
    # (the magic may keep the shell quotes in the name; either way it holds ' and #)
    [model_name] = [m.name for m in client.search_registered_models()]
    assert HOSTILE_MODEL in model_name
    assert model_item.locator(".jp-mlops-model-name").inner_text() == model_name
    model_item.click()
    version2 = page.locator("#jupyter-mlops-sidebar .jp-mlops-version[data-version='2']")
    version2.wait_for()
    version2.get_by_role("button", name="Insert load code").click()
    page.wait_for_timeout(500)
    inserted = [s for s in _cell_sources(page) if "load_model" in s]
    assert inserted, _cell_sources(page)

    call = ast.parse(inserted[-1]).body[-1].value
    assert ast.literal_eval(call.args[0]) == f"models:/{model_name}/2"

    version2.get_by_role("button", name="Promote…").click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator(".jp-mlops-compare tr[data-metric='accuracy']").wait_for()
    _shot("3-promote-dialog")
    dialog.get_by_role("button", name="Promote").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll("
        "'#jupyter-mlops-sidebar .jp-mlops-version[data-version=\"2\"] .jp-mlops-alias')]"
        ".some(e => e.firstChild.textContent === 'champion')",
        timeout=30_000,
    )
    holder = client.get_model_version_by_alias(model_name, "champion")
    assert str(holder.version) == "2"
    _shot("4-promoted")

    # Dark theme: the same views stay readable (theme variables only)
    page.evaluate(
        "window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})"
    )
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
    page.wait_for_timeout(800)
    _shot("5-dark-theme")
    bg = page.evaluate(
        "getComputedStyle(document.querySelector('#jupyter-mlops-sidebar')).backgroundColor"
    )
    assert bg != "rgb(255, 255, 255)"

    # Removing the alias asks first, then goes through core's demote
    version2.locator(".jp-mlops-alias-remove").click()
    page.locator(".jp-Dialog").get_by_role("button", name="Remove alias").click()
    page.wait_for_function(
        "() => !document.querySelector("
        "'#jupyter-mlops-sidebar .jp-mlops-version[data-version=\"2\"] .jp-mlops-alias')",
        timeout=30_000,
    )
    assert client.get_registered_model(model_name).aliases == {}
    assert page.dialogs == []
