"""Property-based fuzzing of every route against a real jupyter-server and a real sqlite store.

Each route gets arbitrary text, bytes, numbers and JSON in its path ids, its query arguments
(its own names, repeated, and stray ones) and, for POST, its body. Every answer must be < 500,
and every error our one-line JSON that carries no traceback, SQL or server path.

Bounded for CI (fixed seed, ``FUZZ_EXAMPLES`` = 40 examples per route); ``FUZZ_DEEP=1`` draws
at random instead, and ``benchmarks/fuzz_server.py`` runs it deep and prints inputs per route.
"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_mlops.server.routes import API_PREFIX
from tests.server.conftest import QUOTED_MODEL, FilledStore
from tests.server.fuzzing import (
    INPUTS,
    ROUTES,
    STATUSES,
    Route,
    check,
    fill,
    ids,
    promote_body,
    query,
    url,
)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
DEEP = os.environ.get("FUZZ_DEEP") == "1"
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=not DEEP,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
def test_route_never_answers_5xx(
    route: Route,
    filled_store: FilledStore,
    jp_serverapp,
    http_server_client,
    jp_base_url,
    jp_asyncio_loop,
) -> None:
    token = jp_serverapp.identity_provider.token
    base = f"{jp_base_url}{API_PREFIX}/"
    secrets = [str(filled_store.artifacts), filled_store.uri.removeprefix("sqlite:///")]
    real = {
        "exp": [filled_store.experiment_id],
        "run": [*filled_store.run_ids, filled_store.tracked_run_id],
        "name": [filled_store.model, QUOTED_MODEL],
        "other": ["metrics.accuracy DESC", "cell/source.py", "figures/0.png", "loss", "1"],
    }
    bodies = promote_body(real["name"]) if route.method == "POST" else st.just(b"")

    @FUZZ
    @given(exp=ids(real["exp"]), run=ids(real["run"]), pairs=query(route, real), body=bodies)
    def one_request(exp: bytes, run: bytes, pairs: list, body: bytes) -> None:
        target = url(base, fill(route.path, exp, run), pairs)
        response = jp_asyncio_loop.run_until_complete(
            http_server_client.fetch(
                target,
                method=route.method,
                body=body if route.method == "POST" else None,
                headers={"Authorization": f"token {token}"},
                raise_error=False,
                request_timeout=60,
            )
        )
        INPUTS[route.name] += 1
        STATUSES[route.name][response.code] += 1
        check(response.code, response.body or b"", secrets)

    one_request()
    report = os.environ.get("FUZZ_REPORT")
    if report:  # benchmarks/fuzz_server.py tabulates these lines
        line = {"route": route.name, "inputs": INPUTS[route.name], "statuses": STATUSES[route.name]}
        with open(report, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")
    assert INPUTS[route.name] >= min(EXAMPLES, 10)
    # the strategies mix real ids and names in, so some requests get past the argument checks
    assert set(STATUSES[route.name]) - {400}, STATUSES[route.name]
