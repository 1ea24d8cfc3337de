"""The HTML rendering of an executed notebook shows our widgets' static summaries, not blanks."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from jupyter_mlops.core.pipeline.outputs import WIDGET_VIEW, render_html


@pytest.mark.slow
def test_rendered_html_shows_widget_summaries(project, tracking_uri):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext jupyter_mlops\n%mlops_experiment html-demo"),
        nbformat.v4.new_code_cell("%%track --no-autolog -n html-run\nscore = 0.5 * 3"),
        nbformat.v4.new_code_cell("from jupyter_mlops import compare_runs\ncompare_runs()"),
    ]
    NotebookClient(
        nb,
        timeout=180,
        kernel_name="python3",
        store_widget_state=True,
        resources={"metadata": {"path": str(project)}},
    ).execute()
    assert WIDGET_VIEW in nb.cells[2].outputs[-1]["data"]  # the live widget is in the notebook
    html = render_html(nb)
    assert "html-run" in html  # the static summary of the comparison names the run
    assert WIDGET_VIEW not in html
    assert WIDGET_VIEW in nb.cells[2].outputs[-1]["data"]  # rendering did not change the notebook
