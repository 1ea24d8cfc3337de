"""Bad input gets one-line 4xx JSON; unloadable models and busy ports fail serve() in one line."""

from __future__ import annotations

import os
import socket

import pytest

from jupyter_mlops.core.errors import UsageProblem
from jupyter_mlops.core.serving.runtime import running_servers
from jupyter_mlops.core.serving.server import ServingError, serve
from tests.serving.conftest import post, split

pytestmark = pytest.mark.slow


def _children() -> set[int]:
    """Pids of this process's live child processes."""
    out = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == os.getpid() and fields[0] != "Z":
                out.add(int(entry))
    return out


def test_bad_requests_get_one_line_json_errors_and_serving_goes_on(registry):
    bad = {
        "malformed JSON": (b"{not json", "application/json"),
        "missing column": ({"dataframe_split": {"columns": ["x0", "x1"], "data": [[1, 2]]}}, None),
        "wrong type": (
            {"dataframe_split": {"columns": ["x0", "x1", "x2"], "data": [["a", 1, 2]]}},
            None,
        ),
        "unknown key": ({"rows": [[1, 2, 3]]}, None),
        "wrong content type": (b"x0,x1,x2", "text/html"),
    }
    with serve("models:/clf@champion") as server:
        for case, (body, ctype) in bad.items():
            status, data, _ = post(server.url + "/invocations", body, ctype or "application/json")
            assert 400 <= status < 500, (case, status, data)
            assert set(data) == {"error", "status"} and data["status"] == status, case
            assert "\n" not in data["error"] and 0 < len(data["error"]) <= 300, case
            print(case, "->", data["error"])
        # the messages name the problem
        assert "x2" in post(server.url + "/invocations", bad["missing column"][0])[1]["error"]
        # and the server keeps serving
        status, data, _ = post(server.url + "/invocations", split(registry.sample))
        assert status == 200 and data["predictions"] == registry.expected["1"]
        stats = server.stats()
        assert stats["requests"] == len(bad) + 2 and stats["errors"] == len(bad) + 1


def test_model_that_fails_to_load_is_one_line_and_leaves_no_process(registry):
    before = _children()
    with pytest.raises(ServingError) as info:
        serve("models:/clf/4")
    message = str(info.value)
    assert "\n" not in message and "weights file is missing" in message, message
    assert _children() == before
    assert running_servers() == []


def test_unknown_alias_and_bad_uri_are_one_line(registry):
    with pytest.raises(ServingError, match="cannot load models:/clf@nobody"):
        serve("models:/clf@nobody")
    with pytest.raises(UsageProblem, match="use models:/NAME@champion"):
        serve("models:/clf")


def test_port_in_use_is_one_line(registry):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        before = _children()
        with pytest.raises(ServingError, match=f"port {port} on 127.0.0.1 is already in use"):
            serve("models:/clf@champion", port=port)
        assert _children() == before
