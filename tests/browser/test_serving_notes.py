"""The Models tab shows, under the version whose alias moved, the lines of the local model
servers that could not act on it (``serving_notes`` of the promote route), as text.

A real model server (child process, loopback HTTP) follows ``notes-model@champion`` of the
project's store. Promoting a version whose loading raises (its message holds HTML) leaves the
server on v1: one line under v2. Freezing the server (SIGSTOP) and removing the alias: one line
under v2 again. The sidebar is this checkout's build (``branch_labextension``); screenshots go
to ``test-output/serving-notes/``.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser]

MODEL = "notes-model"
HOSTILE = "<img src=x onerror=alert(1)>"
BROKEN = f'''
import mlflow.pyfunc
from mlflow.models import set_model


class Broken(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        raise RuntimeError("{HOSTILE} weights missing")

    def predict(self, context, model_input, params=None):
        return model_input


set_model(Broken())
'''
NEVER_POLL = 3600.0  # only the promotion's own notice can reach the server
NOTES = "#jupyter-mlops-sidebar .jp-mlops-version[data-version='2'] .jp-mlops-serving-notes li"


@pytest.fixture
def store(project: Path, empty_store_template: Path, tmp_path: Path, monkeypatch) -> str:
    """``notes-model`` v1 (sklearn, champion) and v2 (raises when loaded) in the project store."""
    import mlflow
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from jupyter_mlops.core.models.promotion import promote
    from jupyter_mlops.core.store import default_tracking_uri

    monkeypatch.setenv("JUPYTER_MLOPS_SERVING_DIR", str(tmp_path / "serving"))
    uri = default_tracking_uri(project)  # the Jupyter server's store: the same key
    shutil.copyfile(empty_store_template, project / "mlflow.db")
    client = mlflow.MlflowClient(uri)
    exp = client.create_experiment("notes", artifact_location=(tmp_path / "art").as_uri())
    client.create_registered_model(MODEL)
    x = np.random.default_rng(0).random((40, 2))
    code = tmp_path / "broken.py"
    code.write_text(BROKEN)
    mlflow.set_tracking_uri(uri)
    try:
        for log in (
            lambda: mlflow.sklearn.log_model(
                LogisticRegression().fit(x, x[:, 0] > 0.5), name="model", pip_requirements=[]
            ),
            lambda: mlflow.pyfunc.log_model(
                name="model", python_model=str(code), pip_requirements=[]
            ),
        ):
            with mlflow.start_run(experiment_id=exp):
                info = log()
            client.create_model_version(MODEL, info.model_uri, model_id=info.model_id)
    finally:
        mlflow.set_tracking_uri(None)
    promote(MODEL, 1, "champion", tracking_uri=uri)
    return uri


def test_models_tab_shows_servers_that_could_not_act(
    store, branch_labextension, jupyterlab, chromium_page, screenshot
) -> None:
    from jupyter_mlops.core.serving.server import serve

    page = chromium_page
    with serve(f"models:/{MODEL}@champion", tracking_uri=store, poll_interval=NEVER_POLL) as srv:
        try:
            _scenario(jupyterlab, page, srv, store, lambda n: screenshot(page, "serving-notes", n))
        except BaseException:
            screenshot(page, "serving-notes", "failure")
            print(jupyterlab.log_tail())
            raise
        finally:
            os.kill(srv.pid, signal.SIGCONT)
    assert page.dialogs == [] and page.errors == [], (page.dialogs, page.errors)


def _scenario(lab, page, srv, uri: str, shot) -> None:
    import mlflow

    # Given the Models tab open on the model whose champion (v1) a local server follows
    lab.open_model(page, MODEL)
    version2 = page.locator("#jupyter-mlops-sidebar .jp-mlops-version[data-version='2']")
    version2.wait_for(timeout=60_000)
    assert page.locator("#jupyter-mlops-sidebar .jp-mlops-serving-notes").count() == 0
    # When v2, whose loading raises, is promoted to champion from the sidebar
    version2.get_by_role("button", name="Promote…").click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator(".jp-mlops-compare").wait_for()
    dialog.get_by_role("button", name="Promote").click()
    # Then the server's line shows under v2, its HTML as text, and the promotion stands
    page.locator(NOTES).first.wait_for(timeout=60_000)
    lines = page.locator(NOTES).all_inner_texts()
    assert lines == [
        f"model server {srv.url} (pid {srv.pid}) did not swap to v2: cannot load version 2: "
        f"{HOSTILE} weights missing; it follows by polling"
    ], lines
    assert page.locator("#jupyter-mlops-sidebar img").count() == 0
    client = mlflow.MlflowClient(uri)
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "2"
    assert srv.stats()["version"] == "1"
    shot("1-promoted-not-swapped")

    # When the server is frozen (SIGSTOP) and the champion alias is removed from the sidebar
    os.kill(srv.pid, signal.SIGSTOP)
    version2.locator(".jp-mlops-alias-remove").click()
    page.locator(".jp-Dialog").get_by_role("button", name="Remove alias").click()
    # Then one line under v2 says the server was not told; the alias is gone
    page.wait_for_function(
        f"() => [...document.querySelectorAll({NOTES!r})]"
        ".some(li => li.textContent.includes('was not told'))",
        timeout=60_000,
    )
    assert page.locator(NOTES).all_inner_texts() == [
        f"model server {srv.url} (pid {srv.pid}) was not told that 'champion' was removed: "
        "no answer in time; it follows by polling"
    ]
    os.kill(srv.pid, signal.SIGCONT)
    assert client.get_registered_model(MODEL).aliases == {}
    shot("2-demoted-not-told")
