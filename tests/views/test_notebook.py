"""An executed notebook with both widgets: static fallbacks in the bundle, small saved state."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow

XSS = "<img src=x onerror=alert(1)>"
TRAIN = """%%track --no-autolog --log-model model -n "{name}"
from sklearn.linear_model import LogisticRegression
from sklearn.datasets import make_classification
C = {c}
X, y = make_classification(n_samples=120, n_features=5, flip_y=0.2, random_state=0)
model = LogisticRegression(C=C, max_iter=200).fit(X, y)
accuracy = model.score(X, y)
"""
CELLS = [
    "%load_ext jupyter_mlops\n%mlops_experiment nb-views\n"
    "from jupyter_mlops import compare_runs, promote, register, registry\n"
    "from jupyter_mlops.core.active import latest_run_id",
    TRAIN.format(name="baseline", c=0.01),
    "first = latest_run_id()",
    TRAIN.format(name=XSS, c=1.0),
    "register(first, 'nb-model'); register(latest_run_id(), 'nb-model'); promote('nb-model', 2)",
    "w = compare_runs()\nw.select([r.run_id for r in w.page.runs])\nw",
    "registry('nb-model')",
]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def test_executed_notebook_keeps_static_summaries_and_small_widget_state(project, tracking_uri):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(project)}},
        store_widget_state=True,
    )
    client.execute()
    path = project / "executed.ipynb"
    nbformat.write(nb, path)

    compare_out = [o for o in nb.cells[5].outputs if o.get("output_type") == "execute_result"]
    registry_out = [o for o in nb.cells[6].outputs if o.get("output_type") == "execute_result"]
    for out, title in ((compare_out, "Run comparison"), (registry_out, "Model registry")):
        data = out[0]["data"]
        assert WIDGET_VIEW in data and title in data["text/html"] and title in data["text/plain"]
        assert XSS not in data["text/html"] and "&lt;img" in data["text/html"]

    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    widget_bytes = len(json.dumps(state)) + sum(
        len(json.dumps(o)) for c in nb.cells[5:] for o in c.outputs
    )
    plotly_outputs = [
        o
        for s in state.values()
        for o in s["state"].get("outputs", [])
        if "application/vnd.plotly.v1+json" in o.get("data", {})
    ]
    assert len(plotly_outputs) == 2  # parcoords + history saved as figure JSON
    print(f"notebook {path.stat().st_size / 1024:.0f} KiB, widgets {widget_bytes / 1024:.0f} KiB")
    assert widget_bytes < 1_000_000

    html = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "--stdout", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Run comparison" in html and "Model registry" in html
    assert "Error displaying widget" not in html
    # run names appear raw only inside the widget-state JSON script (never parsed as HTML;
    # nbconvert writes "<\/" there); everywhere else they are escaped
    outside_state = re.sub(
        r'<script type="application/vnd.jupyter.widget-state\+json">.*?</script>',
        "",
        html,
        flags=re.S,
    )
    assert XSS not in outside_state and "&lt;img src=x" in outside_state
