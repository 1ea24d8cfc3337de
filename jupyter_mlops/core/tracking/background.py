"""Short jobs a tracked cell runs beside its code (the git state, ``git check-ignore`` of the
files it names), on threads kept between cells.

Starting a thread waits until the new thread takes the GIL: milliseconds of the cell's time in
a kernel whose other threads are busy (the journal's worker, a warm-up import). Kept threads
take a job without that wait. A forked child starts its own threads.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

WORKERS = 2  # a cell runs at most two jobs at once (git state, check-ignore)

_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def submit(job: Callable[..., Any], *args: Any) -> Future:
    """Run ``job(*args)`` on a kept thread; its future."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="jupyter-mlops-cell")
        return _pool.submit(job, *args)


def _forget_threads_in_child() -> None:
    global _pool, _lock
    _pool, _lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_threads_in_child)
