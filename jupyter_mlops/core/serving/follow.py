"""Loaded model versions and the alias follower that swaps them without failing a request.

A ``Slot`` is one loaded version: the pyfunc model and MLflow's own scoring app built over it.
``ModelHandle`` holds the slot currently served; a request reads it once when it starts, so a
swap (one reference assignment) never changes the version under a running request.
``AliasFollower`` polls the registry and, when the alias moved, loads the new version beside
the old one and swaps it in.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jupyter_mlops.core.errors import UsageProblem, message_line

__all__ = ["AliasFollower", "ModelHandle", "ModelRef", "Slot", "load_slot", "parse_model_uri"]

log = logging.getLogger(__name__)
_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>[^/]+))?$")
POLL_S = 2.0


@dataclass(frozen=True)
class ModelRef:
    """What the user asked to serve: a registry name with alias or version, or any MLflow URI."""

    uri: str
    name: str
    alias: str | None = None
    version: str | None = None


def parse_model_uri(uri: str) -> ModelRef:
    """Split ``models:/NAME@alias`` / ``models:/NAME/N``; other URIs are served as they are."""
    if not isinstance(uri, str) or not uri.strip():
        raise UsageProblem("give a model URI such as models:/NAME@champion")
    uri = uri.strip()
    match = _MODELS_URI.match(uri)
    if match is None:
        if uri.startswith("models:"):
            raise UsageProblem(f"cannot read {uri!r}: use models:/NAME@alias or models:/NAME/N")
        name = uri.rstrip("/").rsplit("/", 1)[-1] or "model"
        return ModelRef(uri, name)
    if not match["alias"] and not match["version"]:
        raise UsageProblem(f"{uri!r} names no alias or version: use models:/NAME@champion")
    return ModelRef(uri, match["name"], match["alias"], match["version"])


@dataclass(frozen=True)
class Slot:
    """One loaded model version, with MLflow's scoring app over it."""

    ref: ModelRef
    version: str
    model: Any  # mlflow.pyfunc.PyFuncModel
    app: Any  # MLflow's FastAPI scoring app for ``model``

    @property
    def input_schema(self) -> Any:
        """The model signature's input schema (None without a signature)."""
        return self.model.metadata.get_input_schema()


def resolve_version(client: Any, ref: ModelRef) -> str:
    """The version the reference points at now (the alias holder for an alias)."""
    if ref.alias:
        return str(client.get_model_version_by_alias(ref.name, ref.alias).version)
    return ref.version or ""


def load_slot(ref: ModelRef, version: str) -> Slot:
    """Load ``version`` of the referenced model and build MLflow's scoring app over it."""
    import mlflow.pyfunc

    from jupyter_mlops.core.mlflow_internals import scoring_app

    uri = f"models:/{ref.name}/{version}" if version and (ref.alias or ref.version) else ref.uri
    model = mlflow.pyfunc.load_model(uri)
    return Slot(ref, version or _local_version(model), model, scoring_app(model))


def _local_version(model: Any) -> str:
    """A label for a model served from a path or run: its run id prefix, else ``local``."""
    run_id = getattr(model.metadata, "run_id", None)
    return run_id[:8] if run_id else "local"


class ModelHandle:
    """The slot being served; ``current`` is read once per request."""

    def __init__(
        self, slot: Slot, on_swap: Callable[[Slot, float | None], None] | None = None
    ) -> None:
        self.current = slot
        self._on_swap = on_swap
        if on_swap is not None:
            on_swap(slot, None)

    def swap(self, slot: Slot, held_from: float | None = None) -> None:
        """Serve ``slot`` from the next request on (requests already running keep theirs).

        ``held_from``: when new requests began waiting for this swap (a promotion's hold).
        """
        self.current = slot
        if self._on_swap is not None:
            self._on_swap(slot, held_from)


class AliasFollower(threading.Thread):
    """Polls the registry every ``interval`` seconds and swaps in the alias's new holders.

    ``prepare`` loads a version beside the served one (under one lock, so the poller and a
    promotion's control call never load the same version twice); ``check`` is the poll.
    """

    def __init__(self, client: Any, handles: list[ModelHandle], interval: float = POLL_S) -> None:
        super().__init__(name="jupyter-mlops-alias-follower", daemon=True)
        self.client = client
        self.handles = [h for h in handles if h.current.ref.alias]
        self.interval = interval
        self.stopped = threading.Event()
        self.failed: dict[str, str] = {}  # version -> why it could not be loaded
        self.unresolved: dict[str, str] = {}  # model URI -> why its alias did not resolve
        self._loading = threading.Lock()  # held while a version loads (seconds)
        self._lock = threading.Lock()  # held for dictionary updates and swaps (never long)
        self._prepared: dict[tuple[int, str], Slot] = {}  # (handle id, version) -> loaded slot
        self._swaps = 0  # a poll that read the registry before a swap must not undo it

    def run(self) -> None:
        """Poll until stopped; a registry hiccup or a broken version is logged, never fatal."""
        while not self.stopped.wait(self.interval):
            for handle in self.handles:
                self.check(handle)

    def following(self, model: str, alias: str) -> list[ModelHandle]:
        """The handles that serve ``models:/model@alias``."""
        wanted = (model, alias)
        return [h for h in self.handles if (h.current.ref.name, h.current.ref.alias) == wanted]

    def prepare(self, handle: ModelHandle, version: str) -> Slot:
        """``version`` loaded for ``handle`` (the served slot, a prepared one, or a new load)."""
        key = (id(handle), version)
        with self._loading:
            with self._lock:
                if handle.current.version == version:
                    return handle.current
                if key in self._prepared:
                    return self._prepared[key]
            try:
                slot = load_slot(handle.current.ref, version)
            except Exception as exc:
                self.failed[version] = message_line(exc)
                raise
            with self._lock:
                self._prepared[key] = slot
            return slot

    def swap(
        self,
        handle: ModelHandle,
        version: str,
        held_from: float | None = None,
        unless_swapped_since: int | None = None,
    ) -> bool:
        """Serve the prepared ``version`` on ``handle``; False when it was not prepared (or
        another swap happened since the poll counted ``unless_swapped_since``)."""
        with self._lock:
            if handle.current.version == version:
                self.unresolved.pop(handle.current.ref.uri, None)
                return True
            if unless_swapped_since is not None and unless_swapped_since != self._swaps:
                return False
            slot = self._prepared.pop((id(handle), version), None)
            if slot is None:
                return False
            self._swaps += 1
            self._prepared = {k: s for k, s in self._prepared.items() if k[0] != id(handle)}
            handle.swap(slot, held_from)
            self.unresolved.pop(slot.ref.uri, None)  # the alias names this version now
            log.info("%s now serves version %s", slot.ref.uri, version)
            return True

    def check(self, handle: ModelHandle) -> bool:
        """Swap ``handle`` to the alias's holder if it moved; True when a swap happened."""
        ref = handle.current.ref
        swaps = self._swaps
        try:
            version = resolve_version(self.client, ref)
        except Exception as exc:  # registry unreachable or alias removed: keep serving
            self.unresolved[ref.uri] = message_line(exc)
            log.warning("cannot resolve %s: %s", ref.uri, self.unresolved[ref.uri])
            return False
        self.unresolved.pop(ref.uri, None)
        if version == handle.current.version or version in self.failed:
            return False
        try:
            self.prepare(handle, version)
        except Exception:
            log.warning("cannot load %s version %s: %s", ref.name, version, self.failed[version])
            return False
        return self.swap(handle, version, unless_swapped_since=swaps)

    def stop(self) -> None:
        """Stop polling."""
        self.stopped.set()
