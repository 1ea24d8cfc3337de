"""An executed notebook with a drift widget and a monitor dashboard stays small (real kernel)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

CELLS = [
    "%load_ext jupyter_mlops",
    "import numpy as np, pandas as pd\n"
    "from sklearn.linear_model import LogisticRegression\n"
    "from jupyter_mlops import drift, Monitor\n"
    "rng = np.random.default_rng(0)\n"
    "ref = pd.DataFrame({f'x{i}': rng.normal(size=200_000) for i in range(10)})\n"
    "cur = pd.DataFrame({f'x{i}': rng.normal(i / 20, 1, 80_000) for i in range(10)})\n"
    "ref['<b>city</b>'] = rng.choice(['a', 'b', 'c'], len(ref))\n"
    "cur['<b>city</b>'] = rng.choice(['a', 'b', 'd'], len(cur))",
    "drift(ref, cur)",
    "%mlops_drift ref cur --columns x1,x9",
    "X = ref[['x0', 'x1']].head(5000); y = (X.x0 > 0).astype(int)\n"
    "monitor = Monitor(LogisticRegression().fit(X, y), X, y, log=False)\n"
    "for shift in (0, 0, 2):\n"
    "    monitor.observe(X.head(2000) + shift, y.head(2000))\n"
    "monitor.dashboard()",
]


@pytest.mark.slow
def test_executed_notebook_widget_share_is_small(tmp_path: Path, tracking_uri: str) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in CELLS])
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) == 3
    html = "".join(o["data"]["text/html"] for o in views)
    assert "&lt;b&gt;city&lt;/b&gt;" in html and "<b>city</b>" not in html
    assert "Drift: 11 of 11" not in html and "ALERT" in json.dumps(views[-1]["data"])
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    size = len(json.dumps(state))
    assert 0 < size < 150_000, size  # 2.2M rows in: the saved widget state is tens of KB
