"""demote() tells the local servers following the alias at once; they keep serving their version.

A server whose alias no longer resolves keeps the version it serves (what its 2 s poll does);
the notice only makes that happen before ``demote()`` returns, visible in ``/stats``
``unresolved_aliases``. A server that cannot answer is one line in ``Promotion.serving``.
"""

from __future__ import annotations

import os
import signal

import mlflow
import pytest

from jupyter_mlops.core.models.promotion import demote, promote
from jupyter_mlops.core.serving.server import serve
from tests.serving.conftest import post, split

pytestmark = pytest.mark.slow
NEVER_POLL = 3600.0  # polling cannot be what notices the removal in these tests


def test_demote_tells_the_server_at_once_and_it_keeps_serving(registry):
    # Given the champion (v1) served with the challenger (v2) as shadow, polling out of the way
    with serve(
        "models:/clf@champion", shadow="models:/clf@challenger", poll_interval=NEVER_POLL
    ) as server:
        assert server.stats()["unresolved_aliases"] == {}
        # When the champion alias is removed through our API
        entry = demote("clf", "champion", tracking_uri=registry.uri)
        # Then the server has already checked it: the alias is unresolved, nothing to report
        stats = server.stats()
        assert entry.serving == []
        assert list(stats["unresolved_aliases"]) == ["models:/clf@champion"]
        assert "champion" in stats["unresolved_aliases"]["models:/clf@champion"]
        # And it keeps serving v1 (as its poll would), the shadow untouched
        assert (stats["version"], stats["shadow_version"]) == ("1", "2")
        status, data, headers = post(server.url + "/invocations", split(registry.sample))
        assert status == 200 and headers["x-jupyter-mlops-model-version"] == "1"
        assert data["predictions"] == registry.expected["1"]
        # When the alias comes back on v2, the promotion swaps it in and clears the note
        assert promote("clf", 2, "champion", tracking_uri=registry.uri).serving == []
        stats = server.stats()
        assert (stats["version"], stats["unresolved_aliases"]) == ("2", {})


def test_a_server_that_cannot_answer_the_demotion_is_one_line(registry):
    with serve("models:/clf@champion", poll_interval=NEVER_POLL) as server:
        # Given the serving process is frozen (SIGSTOP): it accepts connections, answers none
        os.kill(server.pid, signal.SIGSTOP)
        try:
            # When the champion alias is removed
            entry = demote("clf", "champion", tracking_uri=registry.uri)
        finally:
            os.kill(server.pid, signal.SIGCONT)
        # Then the removal stands and one line names the server and why
        assert (
            "champion" not in mlflow.MlflowClient(registry.uri).get_registered_model("clf").aliases
        )
        assert entry.serving == [
            f"model server {server.url} (pid {server.pid}) was not told that 'champion' was "
            "removed: no answer in time; it follows by polling"
        ]
        # And once thawed it still serves v1
        status, _, headers = post(server.url + "/invocations", split(registry.sample))
        assert status == 200 and headers["x-jupyter-mlops-model-version"] == "1"
