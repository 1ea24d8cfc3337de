"""The code slice of a tracked cell: the executions of the session that fed it, in run order.

A backward def-use walk over ``SessionHistory``: each name the tracked cell reads is resolved to
the latest execution before it that bound the name, plus every execution in between that
changed it (attribute/subscript store, ``+=``, a method call that is not a known reader). Free
names of functions and classes resolve where they are called. Where it cannot be sure the slice
includes rather than drops, and says so in its hazards.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from jupyter_mlops.core.contracts import ART_CELL_SLICE, ART_CELL_SLICE_JSON
from jupyter_mlops.core.reproduce.analysis import SESSION_NAMES
from jupyter_mlops.core.reproduce.facts import READ_ONLY_METHODS, STATE_SETTING_METHODS
from jupyter_mlops.core.reproduce.history import (
    CALL,
    IMPORT,
    KILL,
    MUTATE,
    Execution,
    SessionHistory,
)

SLICE_FORMAT = 1
MARKER = "# %% [execution {count}]"


@dataclass(frozen=True)
class Hazard:
    """Something that may make a re-run differ: kind, what, and the execution it is in."""

    # unresolved | dynamic | untracked_file | unseeded_randomness | overwrites_versioned_data
    kind: str
    detail: str
    execution_count: int | None = None

    def text(self) -> str:
        """One line for people."""
        where = f" (execution {self.execution_count})" if self.execution_count else ""
        return f"{self.kind.replace('_', ' ')}: {self.detail}{where}"


@dataclass
class CodeSlice:
    """The executions a tracked cell depends on (the tracked cell last) and the hazards."""

    entries: list[Execution]
    hazards: list[Hazard] = field(default_factory=list)
    session_executions: int = 0
    files_read: list[str] = field(default_factory=list)
    cwd: str | None = None  # the kernel's folder relative to the project root
    root: str | None = None  # the project root (absolute) when the slice was recorded

    @property
    def counts(self) -> list[int]:
        """Execution counts of the entries, in run order."""
        return [e.count for e in self.entries]

    def script(self) -> str:
        """``cell/slice.py``: the entries as percent-format cells (jupytext/VS Code open it)."""
        return self._script_and_lines()[0]

    def _script_and_lines(self) -> tuple[str, list[int]]:
        lines = [
            f"# Code slice recorded by jupyter-mlops: {len(self.entries)} of "
            f"{self.session_executions} executions of the kernel session, in the order they",
            "# ran (edited or deleted cells as they were then); the last one is the tracked cell.",
        ]
        starts = []
        for entry in self.entries:
            marker = MARKER.format(count=entry.count)
            lines.append(marker + (f" cell {entry.cell_id}" if entry.cell_id else ""))
            starts.append(len(lines) + 1)
            lines.extend(entry.source.splitlines() or [""])
        return "\n".join(lines) + "\n", starts

    def to_json(self) -> dict[str, Any]:
        """``cell/slice.json``: per entry count, cell id, hash, names defined and read."""
        _, starts = self._script_and_lines()
        entries = []
        last = len(self.entries) - 1
        for index, (entry, start) in enumerate(zip(self.entries, starts, strict=True)):
            facts = entry.facts
            entries.append(
                {
                    "execution_count": entry.count,
                    "cell_id": entry.cell_id,
                    "source_hash": entry.source_hash,
                    "defines": sorted(facts.defines()),
                    "reads": sorted(facts.uses | facts.deferred),
                    "files_read": sorted(facts.files_read),
                    "line": start,
                    "lines": len(entry.source.splitlines() or [""]),
                    "tracked": index == last,
                }
            )
        return {
            "format": SLICE_FORMAT,
            "cwd": self.cwd,
            "root": self.root,
            "session_executions": self.session_executions,
            "entries": entries,
            "files_read": self.files_read,
            "hazards": [asdict(h) for h in self.hazards],
        }

    def texts(self) -> dict[str, str]:
        """The two artifact texts of a run record."""
        return {
            ART_CELL_SLICE: self.script(),
            ART_CELL_SLICE_JSON: json.dumps(self.to_json(), indent=1),
        }


class _Walk:
    """One backward def-use walk from the tracked execution."""

    def __init__(
        self, history: SessionHistory, target: int, versioned: Callable[[str], bool]
    ) -> None:
        self.history = history
        self.versioned = versioned
        self.executions = history.executions
        self.included: set[int] = set()
        self.seen: set[tuple[str, int]] = set()
        self.work: deque[tuple[str, int]] = deque()
        self.unresolved: dict[str, int] = {}
        self.include(target, target)
        for position in history.settings:
            if position < target:
                self.include(position, target)

    def include(self, position: int, consumer: int) -> None:
        facts = self.executions[position].facts
        if position not in self.included:
            self.included.add(position)
            self.work.extend((name, position) for name in facts.uses)
            self.work.extend(("\0" + path, position) for path in facts.files_read)
        # a function's free names are looked up when it is called: at the consumer
        self.work.extend((name, consumer) for name in facts.deferred)

    def run(self) -> None:
        while self.work:
            demand = self.work.popleft()
            if demand in self.seen:
                continue
            self.seen.add(demand)
            name, before = demand
            if name.startswith("\0"):
                if self.versioned(name[1:]):
                    continue  # a data version is restored for it: its writers are not re-run
                for position in self.history.file_writers.get(name[1:], []):
                    if position < before:
                        self.include(position, before)
            else:
                self.resolve(name, before)

    def resolve(self, name: str, before: int) -> None:
        events = self.history.events.get(name, [])
        end = bisect_left(events, (before,))
        pending: list[tuple[int, frozenset[str]]] = []
        killer: tuple[int, str] | None = None
        for position, kind, methods in reversed(events[:end]):
            if kind in (KILL, IMPORT):
                killer = (position, kind)
                break
            if kind == MUTATE:
                self.include(position, before)
            elif kind == CALL:
                pending.append((position, methods))
        module = killer is not None and killer[1] == IMPORT
        for position, methods in pending:
            changed = methods & STATE_SETTING_METHODS if module else methods - READ_ONLY_METHODS
            if changed:
                self.include(position, before)
        lower = killer[0] if killer is not None else -1
        if killer is not None:
            self.include(killer[0], before)
        definers = [p for p in self.history.any_definers if lower < p < before]
        for position in definers:
            self.include(position, before)
        if killer is None and not definers and name not in SESSION_NAMES:
            self.unresolved.setdefault(name, self.executions[before].count)


def compute_slice(
    history: SessionHistory,
    target: int | None = None,
    cwd: str | None = None,
    versioned: Callable[[str], bool] | None = None,
) -> CodeSlice:
    """The slice of the execution at position ``target`` (default: the latest).

    ``versioned(path)`` tells which files read are DVC-versioned: their data version is
    restored on a re-run, so the cells that wrote them are not part of the slice.
    """
    executions = history.executions
    if not executions:
        return CodeSlice([], session_executions=0, cwd=cwd)
    target = len(executions) - 1 if target is None else target
    walk = _Walk(history, target, versioned or (lambda _path: False))
    walk.run()
    entries = [executions[p] for p in sorted(walk.included)]
    hazards = [Hazard("unresolved", name, count) for name, count in walk.unresolved.items()]
    for entry in entries:
        if entry.facts.dynamic:
            detail = ", ".join(dict.fromkeys(entry.facts.dynamic))
            hazards.append(Hazard("dynamic", detail, entry.count))
    if not any(e.facts.seeds for e in entries):
        for entry in entries:
            if entry.facts.random_calls:
                detail = "no visible seed for " + ", ".join(entry.facts.random_calls)
                hazards.append(Hazard("unseeded_randomness", detail, entry.count))
    versioned = versioned or (lambda _path: False)
    for entry in entries[:-1]:
        for path in sorted(p for p in entry.facts.files_written if versioned(p)):
            detail = f"re-running it rewrites {path}, whose DVC version the re-run restores"
            hazards.append(Hazard("overwrites_versioned_data", detail, entry.count))
    read = sorted({path for e in entries for path in e.facts.files_read})
    return CodeSlice(entries, hazards, target + 1, read, cwd)
