"""The sidebar's REST API over a team server whose artifacts live in the S3 store."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# pytest-jupyter's server fixtures (jp_fetch...), as tests/server/conftest.py imports them
from pytest_jupyter.jupyter_server import *  # noqa: F403

from jupyter_mlops.core.store import get_client
from jupyter_mlops.core.team.server import TeamServer

pytestmark = [pytest.mark.team, pytest.mark.slow]

API = "jupyter-mlops/api"


@pytest.fixture
def jp_server_config(s3_server: TeamServer, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Our extension, pointed at the S3-backed team server (the Jupyter host has no keys)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}},
        "JupyterMlops": {"tracking_uri": s3_server.url},
    }


def test_sidebar_lists_and_serves_s3_artifacts_byte_for_byte(
    jp_fetch, jp_asyncio_loop, s3_server: TeamServer, tmp_path: Path
) -> None:
    # (a plain test driving pytest-jupyter's loop: its async-test hooks only work from a
    # conftest, and its autouse fixtures would then reach every team test)
    # Given a run whose artifacts went through the team server into the bucket
    client = get_client(s3_server.url)
    run = client.create_run(client.create_experiment(f"sidebar-{os.urandom(4).hex()}"))
    payload = os.urandom(200_000)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(payload)
    (tmp_path / "model" / "card.txt").write_text("model card\n")
    client.log_artifacts(run.info.run_id, str(tmp_path / "model"), "model")

    # When the sidebar asks for the run and for each file
    def get(*parts: str, **params: str):
        return jp_asyncio_loop.run_until_complete(jp_fetch(API, *parts, params=params or None))

    detail = json.loads(get("runs", run.info.run_id).body)
    weights = get("runs", run.info.run_id, "artifact", path="model/weights.bin")
    card = get("runs", run.info.run_id, "artifact", path="model/card.txt")

    # Then the listing has them with their sizes and the bytes are the ones logged
    files = {a["path"]: a for a in detail["artifacts"]}
    assert files["model"]["is_dir"] and not files["model/weights.bin"]["is_dir"]
    assert weights.body == payload
    assert weights.headers["Content-Type"] == "application/octet-stream"
    assert card.body == b"model card\n"
