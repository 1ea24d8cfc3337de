"""One progress line for a long upload, rewritten in place (``\\r``) rather than a wall of lines.

A terminal and Jupyter's stream output both redraw a line that starts with a carriage return,
so a 1 GB artifact shows one line going from 0 % to 100 %, then a final line with the rate.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

MB = 1024 * 1024


class ProgressLine:
    """``update(done)`` redraws ``<label>: 42% (420/1000 MB, 85 MB/s)``, at most every 0.5 s."""

    def __init__(
        self, label: str, total: int, stream: TextIO | None = None, every: float = 0.5
    ) -> None:
        self.label = label
        self.total = max(total, 1)
        self.stream = stream
        self.every = every
        self.started = time.monotonic()
        self._last = 0.0
        self.done = 0

    def _text(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.done / MB / elapsed
        percent = 100 * self.done // self.total
        return (
            f"{self.label}: {percent}% ({self.done / MB:.0f}/{self.total / MB:.0f} MB, "
            f"{rate:.0f} MB/s)"
        )

    def _write(self, text: str) -> None:
        stream = self.stream or sys.stderr
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):  # a closed stream never breaks an upload
            pass

    def update(self, done: int) -> None:
        """Record ``done`` bytes sent; redraw when ``every`` seconds passed since the last draw."""
        self.done = done
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self._write("\r" + self._text())

    def close(self, ok: bool = True) -> None:
        """Final state on the same line, then a newline."""
        self._write("\r" + self._text() + ("" if ok else " - interrupted") + "\n")

    @property
    def rate_mb_s(self) -> float:
        """Average MB/s so far."""
        return self.done / MB / max(time.monotonic() - self.started, 1e-6)
