"""The sidebar's Models tab on an auth-enabled tracking server, in Chromium: a user without
MANAGE sees the model, its versions and the reason, and the Promote button is disabled.

The labextension served is this checkout's build (``jupyter_mlops/labextension``), put first on
``JUPYTER_PATH`` so the shared installed copy is neither used nor touched.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_mlops.core.store import get_client
from tests.team.auth_helpers import AuthServer, start_auth_server

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.team]


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    """``jupyter mlops server --auth`` on sqlite stores."""
    server = start_auth_server(tmp_path_factory.mktemp("browser-auth"))
    yield server
    server.stop()


@pytest.fixture
def denied_model(auth_server: AuthServer, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """A model its owner made (2 versions); the viewer who will run Jupyter holds only READ."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    owner, viewer = auth_server.add_user("owner"), auth_server.add_user("viewer")
    model = f"churn-{uuid.uuid4().hex[:6]}"
    with auth_server.as_user(owner):
        client = get_client(auth_server.url)
        exp = client.create_experiment(f"exp-{model}")
        run_id = client.create_run(exp).info.run_id
        client.create_registered_model(model)
        for _ in range(2):
            client.create_model_version(model, f"runs:/{run_id}/model", run_id=run_id)
    return viewer, model


@pytest.fixture
def jupyterlab_extra_args(
    auth_server: AuthServer,
    denied_model: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    branch_labextension: Path | None,
) -> list[str]:
    """Jupyter runs as the viewer (MLflow's env credentials) with this checkout's build."""
    viewer, _ = denied_model
    if branch_labextension is None:
        pytest.skip("labextension not built in this checkout (cd labextension && jlpm build)")
    for key, value in auth_server.env_of(viewer).items():
        if key.startswith("MLFLOW_TRACKING_"):
            monkeypatch.setenv(key, value)
    return [f"--JupyterMlops.tracking_uri={auth_server.url}"]


def test_promote_disabled_with_reason_for_a_user_without_manage(
    jupyterlab, chromium_page, denied_model, screenshot
) -> None:
    viewer, model = denied_model
    line = f"permission denied: {viewer} lacks MANAGE on model '{model}'"
    page = chromium_page
    try:
        # Given JupyterLab running as a user with READ on the model
        # When they open the model in the sidebar's Models tab
        jupyterlab.open_model(page, model)
        versions = page.locator("#jupyter-mlops-sidebar .jp-mlops-version")
        versions.first.wait_for(timeout=120_000)
        # Then both versions are listed, each Promote button disabled with the reason as title
        assert versions.count() == 2
        promote = page.locator("#jupyter-mlops-sidebar .jp-mlops-promote")
        assert promote.count() == 2
        for i in range(2):
            assert promote.nth(i).is_disabled()
            assert promote.nth(i).get_attribute("title") == line
        # And the reason is one line above the versions, and loading code still works
        note = page.locator("#jupyter-mlops-sidebar .jp-mlops-access-denied")
        assert note.inner_text() == line
        assert versions.first.get_by_role("button", name="Insert load code").is_enabled()
        screenshot(page, "permissions", "promote-disabled")
        assert not page.dialogs and not page.errors, (page.dialogs, page.errors)
    except BaseException:
        screenshot(page, "permissions", "failure")
        print(jupyterlab.log_tail())
        raise
