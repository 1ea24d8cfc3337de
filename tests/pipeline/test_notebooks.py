"""The example notebooks run for real: the quickstart through run_notebook, the others headless."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from mlflow.tracking import MlflowClient

from jupyter_mlops.core.contracts import EXIT_OK, TAG_PARENT_RUN_ID
from jupyter_mlops.core.pipeline.kernel import execute
from jupyter_mlops.core.pipeline.parameters import inject_parameters
from jupyter_mlops.core.pipeline.runner import run_notebook

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
IDENTITY_VARS = ["GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"]


@pytest.fixture
def no_global_git_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Like a fresh root account: no global or system git config, no identity variables."""
    empty = tmp_path / "empty.gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in IDENTITY_VARS:
        monkeypatch.delenv(name, raising=False)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()


def _widget_outputs_are_static(nb: nbformat.NotebookNode) -> None:
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", output
            data = output.get("data", {})
            if "application/vnd.jupyter.widget-view+json" in data:
                assert "text/html" in data and "text/plain" in data, cell.source[:80]
            assert "Error displaying widget" not in str(data)


@pytest.mark.slow
def test_quickstart_runs_the_whole_lifecycle_in_its_own_scratch_project(
    project: Path, tracking_uri: str, tmp_path: Path, no_global_git_identity: None
) -> None:
    head = _git(project, "rev-parse", "HEAD")
    demo = project / "scratch"  # inside a user's repository on purpose: it must stay untouched
    out = tmp_path / "quickstart.out.ipynb"

    result = run_notebook(
        NOTEBOOKS / "quickstart.ipynb", {"demo_dir": str(demo)}, gates=["accuracy>=0.9"], output=out
    )

    assert result.failure is None, result.failure.describe()
    assert result.exit_code == EXIT_OK, [g.line for g in result.gates]
    assert _git(project, "rev-parse", "HEAD") == head
    assert _git(project, "log", "--format=%H") == head  # still the one initial commit
    assert _git(demo, "rev-parse", "--show-toplevel") == str(demo.resolve())
    authors = set(_git(demo, "log", "--format=%an <%ae>").splitlines())
    assert authors == {"jupyter-mlops quickstart <quickstart@example.invalid>"}
    tracked = _git(demo, "ls-files").splitlines()
    assert {"data/train.csv.dvc", "data/test.csv.dvc"} <= set(tracked)
    assert (demo / ".dvc").is_dir()

    client = MlflowClient(tracking_uri)
    children = client.search_runs(
        [result.experiment_id], filter_string=f"tags.`{TAG_PARENT_RUN_ID}` = '{result.run_id}'"
    )
    assert len(children) == 2
    assert all(r.data.metrics["accuracy"] >= 0.9 for r in children)
    train_digest = _dvc_md5(demo / "data" / "train.csv.dvc")
    for child in children:
        digests = {d.dataset.digest for d in child.inputs.dataset_inputs}
        assert train_digest in digests  # the data version the run read is linked to it
    champion = client.get_model_version_by_alias("quickstart-classifier", "champion")
    best = max(children, key=lambda r: r.data.metrics["accuracy"])
    assert champion.run_id == best.info.run_id
    monitoring = client.get_experiment_by_name("monitoring")
    (monitor_run,) = client.search_runs([monitoring.experiment_id])
    history = client.get_metric_history(monitor_run.info.run_id, "monitor.data_drift_share")
    assert sorted(m.step for m in history) == [0, 1]  # the two observed batches
    assert history[0].value < history[1].value  # the shifted batch drifted more
    batches = client.list_artifacts(monitor_run.info.run_id, "monitor")
    assert len(batches) == 2

    executed = nbformat.read(out, as_version=4)
    _widget_outputs_are_static(executed)
    artifacts = {a.path for a in client.list_artifacts(result.run_id, "notebook")}
    assert artifacts == {"notebook/quickstart.ipynb", "notebook/quickstart.html"}


def _dvc_md5(dvcfile: Path) -> str:
    import yaml

    return yaml.safe_load(dvcfile.read_text())["outs"][0]["md5"]


@pytest.mark.slow
def test_tracking_notebook_under_plain_nbconvert_needs_no_setup(
    tmp_path: Path, tracking_uri: str, no_global_git_identity: None, monkeypatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI")  # the notebook's scratch project keeps the store
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(NOTEBOOKS / "tracking.ipynb", work)

    proc = subprocess.run(
        [Path(sys.executable).parent / "jupyter", "nbconvert", "--to", "notebook", "--execute",
         "--output", "executed.ipynb", "tracking.ipynb"],
        cwd=work, capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "JUPYTER_PLATFORM_DIRS": "1"},
    )  # fmt: skip

    assert proc.returncode == 0, proc.stderr[-3000:]
    executed = nbformat.read(work / "executed.ipynb", as_version=4)
    _widget_outputs_are_static(executed)
    demo = work / "demo-project"
    client = MlflowClient(f"sqlite:///{demo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tracking-example")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.params["learning_rate"] == "0.3"
    assert run.data.params["epochs"] == "20"
    assert run.data.metrics["final_loss"] == pytest.approx((3.0 * 0.7**20) ** 2)
    history = client.get_metric_history(run.info.run_id, "losses")
    assert [m.step for m in history] == list(range(20))
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert "weights.txt" in artifacts
    assert run.data.tags["mlflow.source.name"].endswith("tracking.ipynb")


@pytest.mark.slow
def test_drift_notebook_executes_with_static_widget_fallbacks(
    tmp_path: Path, tracking_uri: str, no_global_git_identity: None
) -> None:
    nb = nbformat.read(NOTEBOOKS / "drift_monitoring.ipynb", as_version=4)
    nb = inject_parameters(nb, {"demo_dir": str(tmp_path / "demo")})
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}

    failure = execute(nb, NOTEBOOKS, env)

    assert failure is None, failure.describe()
    _widget_outputs_are_static(nb)
    widget = next(
        o["data"]["text/plain"]
        for c in nb.cells
        for o in c.get("outputs", [])
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    )
    verdicts = dict(line.strip().split(":", 1) for line in widget.splitlines()[1:])
    assert "DRIFT" in verdicts["bmi"] and "DRIFT" in verdicts["bp"]  # the two shifted columns
    assert "ok" in verdicts["s1"]
