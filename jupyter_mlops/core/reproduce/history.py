"""The record of a kernel session's executions, as executed, each analysed once.

The IPython adapter hands over the kernel's raw input history (``In``: index = execution
count) and the cell ids the front end sent; only executions not seen before are parsed, and an
index name -> executions is kept up to date so a slice never rescans the whole session.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from jupyter_mlops.core.reproduce.analysis import Facts, analyse

KILL, IMPORT, MUTATE, CALL = "kill", "import", "mutate", "call"


def source_hash(source: str) -> str:
    """The hash a slice entry stores: 16 hex digits of sha256, as the ``cell.hash`` tag."""
    return hashlib.sha256(source.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Execution:
    """One execution: its count, the cell it came from (when known) and its text."""

    count: int
    source: str
    cell_id: str | None
    source_hash: str
    facts: Facts


@dataclass
class SessionHistory:
    """Executions in the order they ran, with an index of the names each binds or changes."""

    executions: list[Execution] = field(default_factory=list)
    cell_ids: dict[int, str] = field(default_factory=dict)  # execution count -> cell id
    # name -> [(position, kind, methods called)] in execution order
    events: dict[str, list[tuple[int, str, frozenset[str]]]] = field(default_factory=dict)
    any_definers: list[int] = field(default_factory=list)  # positions of exec()/%run/import *
    settings: list[int] = field(default_factory=list)  # positions of %cd/%env/%config ...
    file_writers: dict[str, list[int]] = field(default_factory=dict)
    _last_count: int = 0

    def note_cell_id(self, count: int | None, cell_id: str | None) -> None:
        """Remember which cell execution ``count`` came from (sent by the front end)."""
        if count is not None and cell_id:
            self.cell_ids[count] = cell_id

    def record(self, count: int, source: str, cell_id: str | None = None) -> Execution:
        """Append one execution (parsed here, once) and index what it defines."""
        execution = Execution(
            count, source, cell_id or self.cell_ids.get(count), source_hash(source), analyse(source)
        )
        position = len(self.executions)
        self.executions.append(execution)
        self._last_count = count
        facts = execution.facts
        for name in facts.kills:
            kind = IMPORT if name in facts.imports else KILL
            self.events.setdefault(name, []).append((position, kind, frozenset()))
        for name in facts.mutations - facts.kills:
            self.events.setdefault(name, []).append((position, MUTATE, frozenset()))
        for name, methods in facts.calls.items():
            if name not in facts.kills and name not in facts.mutations:
                self.events.setdefault(name, []).append((position, CALL, frozenset(methods)))
        if facts.defines_any:
            self.any_definers.append(position)
        if facts.setting:
            self.settings.append(position)
        for path in facts.files_written:
            self.file_writers.setdefault(path, []).append(position)
        return execution

    def sync(self, inputs: Sequence[str], cell_ids: Mapping[int, str] | None = None) -> None:
        """Catch up with the kernel's input history (``In``; index = execution count)."""
        for count, cell_id in (cell_ids or {}).items():
            self.note_cell_id(count, cell_id)
        tail = self.executions[-1] if self.executions else None
        if self._last_count >= len(inputs) or (
            tail is not None and inputs[tail.count] != tail.source
        ):  # history was reset (%reset, a new session): start again
            self.clear()
        last = self._last_count
        for count in range(last + 1, len(inputs)):
            text = inputs[count]
            if isinstance(text, str) and text.strip():
                self.record(count, text)
            else:
                self._last_count = count

    def clear(self) -> None:
        """Forget every execution (cell ids are kept: they follow the front end)."""
        self.executions.clear()
        self.events.clear()
        self.any_definers.clear()
        self.settings.clear()
        self.file_writers.clear()
        self._last_count = 0

    def position_of(self, count: int) -> int | None:
        """Position in ``executions`` of execution ``count`` (the latest with that count)."""
        for position in range(len(self.executions) - 1, -1, -1):
            if self.executions[position].count == count:
                return position
        return None


SESSION = SessionHistory()  # the kernel's own history (one per process)
