"""A promotion's side of an immediate swap: tell the local servers following the alias.

``promote()`` wraps its registry write in ``swap_during``: every serving process of this host
that follows ``models:/NAME@alias`` of the same store (found through the runtime files) first
loads the new version, then holds new requests, the alias moves, and the servers swap and let
the requests go, all before ``promote()`` returns. Each step has a bounded wait; a server that
cannot keep up gets one line in the result and still follows by polling.

``demote()`` calls ``tell_removed`` after the alias is gone: the same servers run their alias
poll at once (``check``), which keeps the version they serve, as a poll finding no holder does.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from jupyter_mlops.core.serving.control import CONTROL_PATH
from jupyter_mlops.core.serving.runtime import followers

__all__ = ["PREPARE_TIMEOUT_S", "swap_during", "tell_removed"]

log = logging.getLogger(__name__)
PREPARE_TIMEOUT_S = 30.0  # loading a model: seconds on a loaded machine
STEP_TIMEOUT_S = 3.0  # holding and committing: milliseconds normally


def _call(info: dict[str, Any], payload: dict[str, Any], timeout: float) -> dict[str, Any]:
    """One control request; ``{"error": ...}`` instead of raising."""
    request = urllib.request.Request(
        str(info["url"]) + CONTROL_PATH,
        json.dumps(payload).encode(),
        {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {info['control_token']}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            return {"error": str(json.loads(exc.read()).get("error") or exc.reason)}
        except ValueError:
            return {"error": f"HTTP {exc.code}"}
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return {"error": "no answer in time" if "timed out" in str(reason) else str(reason)}


def _each(
    targets: list[dict[str, Any]], payload: dict[str, Any], timeout: float
) -> list[dict[str, Any]]:
    """The same control request to every target at once."""
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(targets))) as pool:
        return list(pool.map(lambda info: _call(info, payload, timeout), targets))


def _line(info: dict[str, Any], what: str, why: str) -> str:
    """One note: which server did not do ``what``, and why."""
    return (
        f"model server {info.get('url')} (pid {info.get('pid')}) {what}: {why}; "
        "it follows by polling"
    )


def _targets(model: str, alias: str, tracking_uri: str) -> list[dict[str, Any]]:
    """The local servers following ``models:/model@alias`` (none when they cannot be listed)."""
    try:
        return followers(model, alias, tracking_uri)
    except OSError as exc:
        log.warning("cannot list model servers: %s", exc)
        return []


@contextmanager
def swap_during(
    model: str,
    alias: str,
    version: str,
    tracking_uri: str,
    notes: list[str],
    *,
    prepare_timeout: float = PREPARE_TIMEOUT_S,
) -> Iterator[Callable[[], None]]:
    """Around the registry write moving ``alias`` to ``version``: local servers swap with it.

    Servers load the version and hold new requests on entry; the caller calls the yielded
    ``commit()`` right after the write (else leaving the block commits; an exception releases
    the held requests without a swap). Appends one line to ``notes`` per server that could not
    swap in time; never raises for a server's sake (the promotion itself stands).
    """
    request = {"model": model, "alias": alias, "version": version}
    targets = _targets(model, alias, tracking_uri)
    swapped = f"did not swap to v{version}"
    ready = []
    prepared = _each(targets, {**request, "action": "prepare"}, prepare_timeout)
    for info, answer in zip(targets, prepared, strict=True):
        why = answer.get("error") or "; ".join(answer.get("errors") or [])
        if why:
            notes.append(_line(info, swapped, why))
        else:
            ready.append(info)
    held = []
    holds = _each(ready, {**request, "action": "hold"}, STEP_TIMEOUT_S)
    for info, answer in zip(ready, holds, strict=True):
        if answer.get("error"):
            notes.append(_line(info, swapped, answer["error"]))
        else:
            held.append(info)
    state = {"committed": False}

    def commit(moved: bool = True) -> None:
        if state["committed"]:
            return
        state["committed"] = True
        payload = {**request, "action": "commit", "swap": moved}
        for info, answer in zip(held, _each(held, payload, STEP_TIMEOUT_S), strict=True):
            served = answer.get("versions")
            if moved and (answer.get("error") or not served or any(v != version for v in served)):
                notes.append(_line(info, swapped, answer.get("error") or f"it serves {served}"))

    try:
        yield commit
    except BaseException:
        commit(moved=False)
        raise
    commit()
    for note in notes:
        log.warning("%s", note)


def tell_removed(
    model: str, alias: str, tracking_uri: str, notes: list[str], *, timeout: float = STEP_TIMEOUT_S
) -> None:
    """After ``alias`` was removed from ``model``: its local followers run their poll now.

    A server keeps the version it serves and reports the alias as unresolved (``/stats``
    ``unresolved_aliases``). Appends one line to ``notes`` per server that did not answer;
    never raises for a server's sake (the removal itself stands).
    """
    targets = _targets(model, alias, tracking_uri)
    request = {"model": model, "alias": alias, "version": "", "action": "check"}
    for info, answer in zip(targets, _each(targets, request, timeout), strict=True):
        if answer.get("error"):
            notes.append(_line(info, f"was not told that {alias!r} was removed", answer["error"]))
            log.warning("%s", notes[-1])
