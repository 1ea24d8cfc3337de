"""Strategies and checks for fuzzing the sidebar API: every route and query argument gets
arbitrary text, bytes, numbers and JSON; every answer must be < 500 and, when an error, our
JSON line that leaks nothing. Shared by ``test_fuzz.py`` (CI) and ``benchmarks/fuzz_server.py``.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from urllib.parse import quote, quote_from_bytes

from hypothesis import strategies as st

# how many requests each route got in this process (the deep run prints it)
INPUTS: Counter[str] = Counter()
STATUSES: defaultdict[str, Counter[int]] = defaultdict(Counter)

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)
_NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["0", "-1", "1e23", "9" * 20, "9" * 400, "0x10", "١٢", "²", " 5", "5 "]),
)
_HOSTILE = st.sampled_from(
    [
        "<script>alert(1)</script>",
        "x'); __import__('os').system('touch PWNED') #",
        "attributes.start_time > 100000000000000000000000",
        "metrics.accuracy > 0.5 and params.x = '1'",
        "../../secret.txt",
        "/etc/passwd",
        "a\x00b",
        "champion",
        "latest",
        "v1",
        "metrics.accuracy DESC",
        "attributes.run_id IN ('a', 'b')",
        "tags.`x` LIKE '%'",
        "datasets.digest = 'x'",
    ]
)


def raw(text: str) -> bytes:
    """Text as the UTF-8 bytes a URL carries."""
    return text.encode("utf-8", "surrogatepass")


# a query value as raw bytes: valid UTF-8 text of any kind, numbers, JSON, or invalid bytes
VALUES = st.one_of(
    st.text(max_size=60).map(raw),
    st.binary(max_size=30),
    _NUMBERS.map(raw),
    _JSON.map(lambda v: raw(json.dumps(v))),
    _HOSTILE.map(raw),
)


@dataclass(frozen=True)
class Route:
    """One route: its path (``{id}`` filled by the fuzzer), query names, verb."""

    name: str
    path: str
    params: tuple[str, ...] = ()
    method: str = "GET"
    valid: tuple[tuple[str, str], ...] = ()  # a query that works; fuzzed pairs are added to it


ROUTES = [
    Route("experiments", "experiments"),
    Route(
        "runs",
        "experiments/{exp}/runs",
        ("offset", "limit", "order_by", "filter"),
        valid=(("limit", "5"), ("order_by", "metrics.accuracy DESC")),
    ),
    Route("keys", "experiments/{exp}/keys"),
    Route("run", "runs/{run}"),
    Route("metric-history", "runs/{run}/metric-history", ("key",), valid=(("key", "loss"),)),
    Route("artifact", "runs/{run}/artifact", ("path",), valid=(("path", "cell/source.py"),)),
    Route("status", "status"),
    Route("models", "models"),
    Route("model", "model", ("name",), valid=(("name", "sentiment-model"),)),
    Route(
        "compare",
        "model/compare",
        ("name", "version", "alias"),
        valid=(("name", "sentiment-model"), ("version", "2")),
    ),
    Route("promote", "model/promote", method="POST"),
]


def ids(real: list[str]) -> st.SearchStrategy[bytes]:
    """A path id: mostly a real one (to reach the store), else anything."""
    return st.one_of(st.sampled_from(real).map(raw), VALUES.filter(bool))


def query(route: Route, real_values: dict[str, list[str]]) -> st.SearchStrategy[list]:
    """(name, raw value) pairs: the route's own names (repeated at will) and stray ones."""
    names = [*route.params, "x", "order_by"]
    value = st.one_of(
        VALUES, st.sampled_from([v for vs in real_values.values() for v in vs]).map(raw)
    )
    fuzzed = st.lists(st.tuples(st.sampled_from(names), value), max_size=6)
    if not route.valid:
        return fuzzed
    base = [(name, raw(text)) for name, text in route.valid]
    return st.one_of(fuzzed, fuzzed.map(lambda extra: base + extra[:2]))


def promote_body(models: list[str]) -> st.SearchStrategy[bytes]:
    """A POST body: arbitrary bytes, arbitrary JSON, a promote-shaped object of anything, or a
    near-valid promotion (real name and version, any alias)."""
    field = st.one_of(_JSON, st.sampled_from([*models, "1", "2", "champion", "x y"]))
    shaped = st.fixed_dictionaries(
        {},
        optional={"name": field, "version": field, "alias": field, "remove": _JSON},
    )
    near = st.fixed_dictionaries(
        {"name": st.sampled_from(models), "version": st.sampled_from(["1", "2", 2])},
        optional={"alias": st.one_of(st.sampled_from(["champion", "challenger"]), _JSON)},
    )
    as_json = lambda value: raw(json.dumps(value))  # noqa: E731
    return st.one_of(
        st.binary(max_size=40), _JSON.map(as_json), shaped.map(as_json), near.map(as_json)
    )


def url(base: str, path: str, pairs: list[tuple[str, bytes]]) -> str:
    """The request URL with every byte percent-encoded exactly."""
    encoded = "&".join(f"{quote(n)}={quote_from_bytes(v, safe='')}" for n, v in pairs)
    return f"{base}{path}?{encoded}" if encoded else base + path


def fill(path: str, exp: bytes, run: bytes) -> str:
    """A route path with ids percent-encoded as one segment each."""
    return path.replace("{exp}", quote_from_bytes(exp, safe="")).replace(
        "{run}", quote_from_bytes(run, safe="")
    )


_LEAKS = re.compile(r"Traceback|\bSELECT\b|\[SQL:|site-packages|File \"")


def check(status: int, body: bytes, secrets: list[str]) -> None:
    """Status < 500; an error is our JSON ``{"error", "status"}`` leaking nothing."""
    assert status < 500, (status, body[:300])
    if status < 400:
        return
    text = body.decode("utf-8")
    payload = json.loads(text)
    assert isinstance(payload.get("error"), str) and payload["error"], text[:300]
    assert payload.get("status") == status, text[:300]
    assert "\n" not in payload["error"]
    assert not _LEAKS.search(text), text[:300]
    home = os.path.expanduser("~")
    for secret in [*secrets, *([home] if len(home) > 5 else [])]:
        assert secret not in text, (secret, text[:300])
