"""``%load_ext`` warms MLflow and the store in the background (fresh interpreters: the test
process has long imported MLflow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = r"""
import json, sys, time
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config
cfg = Config()
cfg.HistoryManager.enabled = False
shell = InteractiveShell.instance(config=cfg)
start = time.perf_counter()
shell.run_line_magic("load_ext", "jupyter_mlops")
load_s = time.perf_counter() - start
from jupyter_mlops.core.tracking import warmup, estimators
thread = warmup._thread
if thread is not None:
    thread.join(120)
result = shell.run_cell(sys.argv[1])
print(json.dumps({
    "load_s": load_s,
    "thread": thread is not None,
    "mlflow": "mlflow" in sys.modules,
    "ok": result.success,
    "value": shell.user_ns.get("acc"),
}))
"""


def _probe(project: Path, cell: str, **env: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, cell],
        cwd=project,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_load_ext_warms_mlflow_in_the_background_without_creating_a_store(project, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    # Given a project without a store, When the extension loads and an untracked cell runs
    found = _probe(project, "acc = 0.5 * 2")
    # Then MLflow was imported by the warm-up thread, and no store was created for it
    assert found["thread"] and found["mlflow"] and found["ok"] and found["value"] == 1.0
    assert not (project / "mlflow.db").exists()


@pytest.mark.slow
def test_a_tracked_cell_right_after_load_ext_logs_its_run(project, tracking_uri):
    found = _probe(project, "%%track --quiet\nC = 1.0\nacc = C * 0.9")
    assert found["ok"] and found["value"] == pytest.approx(0.9)
    from mlflow.tracking import MlflowClient

    (run,) = MlflowClient(tracking_uri).search_runs(["0"])
    assert run.data.params == {"C": "1.0"} and run.data.metrics == {"acc": pytest.approx(0.9)}


@pytest.mark.slow
def test_no_warmup_switch_leaves_mlflow_unimported(project, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    found = _probe(project, "x = 1", JUPYTER_MLOPS_NO_WARMUP="1")
    assert not found["thread"] and not found["mlflow"] and found["ok"]


AT_ONCE = r"""
import json, sys
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config
cfg = Config()
cfg.HistoryManager.enabled = False
shell = InteractiveShell.instance(config=cfg)
shell.run_line_magic("load_ext", "jupyter_mlops")
from jupyter_mlops.core.tracking import journal, warmup
result = shell.run_cell(sys.argv[1])
pending = warmup.imports_pending()
print(json.dumps({"ok": result.success, "pending_at_end": pending,
                  "delivered": journal.wait_for_delivery(120)}))
"""


def _at_once(project: Path, cell: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", AT_ONCE, cell],
        cwd=project, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_plain_tracked_cell_sent_at_once_does_not_wait_for_mlflow(project, tracking_uri):
    # Given a fresh kernel that loads the extension and at once runs a plain tracked cell
    found = _at_once(project, "%%track --quiet\nC = 2.0\nacc = C * 0.4")
    # Then the cell ended while the warm-up was still importing MLflow (it needs none of it)
    assert found["ok"] and found["pending_at_end"] and found["delivered"]
    from mlflow.tracking import MlflowClient

    (run,) = MlflowClient(tracking_uri).search_runs(["0"])
    assert run.data.params == {"C": "2.0"} and run.data.metrics == {"acc": pytest.approx(0.8)}


def test_which_cells_wait_for_the_warm_up_imports():
    from jupyter_mlops.magics import _may_import_mlflow

    # A %%track cell whose run is made at delivery needs nothing of MLflow on the kernel's thread
    assert not _may_import_mlflow("%%track --quiet -e demo\nC = 2.0\nacc = C * 0.4\n")
    assert not _may_import_mlflow("x = 1\n")
    # ... but its body may (MLflow, our magics or API), and so do flags that open the run live
    assert _may_import_mlflow("%%track\nimport mlflow\nacc = 0.5\n")
    assert _may_import_mlflow("%%track\n%dvc_snapshot data.csv\n")
    assert _may_import_mlflow("%%track\nreport = drift(a, b)\n")
    for flag in ("--continue", "--nested", "--log-model m", "--log-model m --register r"):
        assert _may_import_mlflow(f"%%track {flag}\nC = 1\n"), flag
    # ... as does any other magic of ours, or a cell naming MLflow
    assert _may_import_mlflow("%mlops_compare\n") and _may_import_mlflow("import mlflow\n")
