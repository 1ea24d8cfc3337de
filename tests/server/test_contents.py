"""The file browser keeps working while kernels write the sqlite store beside the notebooks."""

from __future__ import annotations

import json
import threading
from pathlib import Path


async def _listing(jp_fetch) -> list[str]:
    response = await jp_fetch("api", "contents", params={"content": "1"})
    return [entry["name"] for entry in json.loads(response.body)["content"]]


async def test_sqlite_side_files_are_not_listed(jp_fetch, jp_root_dir: Path) -> None:
    # Given the project root holds the store's journal and WAL files next to a notebook
    for name in ("mlflow.db-journal", "mlflow.db-wal", "mlflow.db-shm", "notes.txt"):
        (jp_root_dir / name).write_text("x")
    # When the file browser lists the root
    names = await _listing(jp_fetch)
    # Then the notebook's file is there and sqlite's transient files are not
    assert "notes.txt" in names
    assert not [n for n in names if n.startswith("mlflow.db-")]


async def test_listing_survives_a_journal_that_comes_and_goes(jp_fetch, jp_root_dir: Path) -> None:
    # Given sqlite creating and deleting its journal as fast as a busy kernel does
    journal = jp_root_dir / "mlflow.db-journal"
    (jp_root_dir / "notes.txt").write_text("x")
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            journal.write_bytes(b"j")
            journal.unlink(missing_ok=True)

    worker = threading.Thread(target=churn, daemon=True)
    worker.start()
    try:
        # When the file browser lists the root again and again, every listing succeeds
        for _ in range(150):
            assert "notes.txt" in await _listing(jp_fetch)
    finally:
        stop.set()
        worker.join()
