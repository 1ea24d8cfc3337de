"""The sidebar's REST API on an auth-enabled tracking server: the model detail says whether the
Jupyter server's user may promote, and a forced promotion is a 403 JSON line, never a page."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow.utils.credentials
import mlflow.utils.rest_utils  # noqa: F401
import pytest
from tornado.httpclient import HTTPClientError

from ..auth_helpers import AuthServer
from ..test_permissions import _model_of

pytestmark = [pytest.mark.team, pytest.mark.slow]
API = "jupyter-mlops/api"


@pytest.fixture(autouse=True)
def _patient_http(monkeypatch: pytest.MonkeyPatch) -> None:
    """A loaded CI box answers slowly: a 3 s timeout would retry a create that succeeded."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")


@pytest.fixture
def jp_server_config(auth_server: AuthServer) -> dict:
    """Our extension pointed at the auth-enabled server."""
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}},
        "JupyterMlops": {"tracking_uri": auth_server.url},
    }


async def test_model_access_and_forced_promote_is_403_json(
    jp_fetch, auth_server: AuthServer, tmp_path: Path
) -> None:
    owner, viewer = auth_server.add_user("owner"), auth_server.add_user("viewer")
    model, (v1, _) = _model_of(auth_server, owner, tmp_path)
    line = f"permission denied: {viewer} lacks MANAGE on model {model!r}"
    body = json.dumps({"name": model, "version": v1, "alias": "champion"})
    # Given the Jupyter server runs as the viewer (READ only on the owner's model)
    with auth_server.as_user(viewer):
        # When the sidebar opens the model, Then it learns Promote is not for this user, and why
        detail = json.loads(
            (await jp_fetch(API, "model", params={"name": model}, request_timeout=180)).body
        )
        assert [v["version"] for v in detail["versions"]] == ["2", "1"]
        assert detail["access"] == {
            "user": viewer, "permission": "READ", "can_promote": False, "reason": line,
        }  # fmt: skip
        # When it promotes anyway, Then a 403 with our one line (JSON), and nothing moved
        with pytest.raises(HTTPClientError) as info:
            await jp_fetch(API, "model/promote", method="POST", body=body, request_timeout=180)
        assert info.value.code == 403
        assert json.loads(info.value.response.body) == {"error": line, "status": 403}
    with auth_server.as_user(owner):
        detail = json.loads(
            (await jp_fetch(API, "model", params={"name": model}, request_timeout=180)).body
        )
        assert detail["aliases"] == {}
        assert detail["access"]["can_promote"] and detail["access"]["reason"] is None
        response = await jp_fetch(
            API, "model/promote", method="POST", body=body, request_timeout=180
        )
        assert json.loads(response.body)["aliases"] == {"champion": v1}
    # And with wrong credentials the API answers one 403 line too, with no secret in it
    auth_server.passwords[viewer], real = "wrong-password-1", auth_server.passwords[viewer]
    try:
        with auth_server.as_user(viewer):
            with pytest.raises(HTTPClientError) as info:
                await jp_fetch(API, "model/promote", method="POST", body=body, request_timeout=180)
    finally:
        auth_server.passwords[viewer] = real
    payload = json.loads(info.value.response.body)
    assert info.value.code == 403 and payload["error"].startswith("not authenticated:")
    assert "wrong-password-1" not in info.value.response.body.decode()
