"""Child servers in their own process group (the team MLflow server, the object store): the
one way to signal them and to show the end of their log."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


def signal_group(proc: subprocess.Popen[bytes] | None, sig: int, timeout: float) -> None:
    """Send ``sig`` to ``proc``'s process group, wait ``timeout``, then SIGKILL; finally SIGKILL
    the group again so no worker that outlived the parent keeps a port."""
    if proc is None:
        return
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def log_tail(path: Path | None, lines: int = 3) -> str:
    """The last ``lines`` lines of a child's log, on one line."""
    if path is None or not path.exists():
        return "(no log)"
    text = path.read_text(errors="replace").strip().splitlines()
    return " | ".join(text[-lines:]) or "(empty log)"
