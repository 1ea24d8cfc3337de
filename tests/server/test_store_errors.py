"""A broken tracking store answers 5xx JSON with one line, and the server logs the cause."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

API = "jupyter-mlops/api"


@pytest.fixture
def jp_server_config(tmp_path: Path) -> dict:
    """Our extension pointed at a file that is not a database."""
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not an sqlite database" * 100)
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}},
        "JupyterMlops": {"tracking_uri": f"sqlite:///{broken}"},
    }


@pytest.mark.parametrize("parts", [("experiments",), ("models",), ("runs", "a" * 32)])
async def test_store_failure_is_a_json_5xx_and_logged(
    jp_fetch, caplog: pytest.LogCaptureFixture, parts: tuple[str, ...]
) -> None:
    caplog.set_level(logging.ERROR)
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch(API, *parts)
    assert 500 <= info.value.code < 600
    body = json.loads(info.value.response.body)
    assert body["status"] == info.value.code
    assert "\n" not in body["error"] and "Traceback" not in body["error"]
    assert any("jupyter-mlops" in r.getMessage() for r in caplog.records)
