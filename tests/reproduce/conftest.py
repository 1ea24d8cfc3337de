"""A real kernel driven cell by cell, in any order, with the cell ids JupyterLab would send."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.data.conftest import (  # noqa: F401  (fixtures reused by this area)
    client,
    dvc_repo,
    git,
    git_state,
    remote_dir,
    run_git,
)


class KernelSession:
    """A kernel started in a folder; ``run(code, cell_id)`` is one execution of a cell."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        from jupyter_client.manager import start_new_kernel

        self.km, self.kc = start_new_kernel(kernel_name="python3", cwd=str(cwd), env=env)

    def run(self, code: str, cell_id: str | None = None, timeout: float = 180) -> str:
        """Execute ``code`` as JupyterLab does (cell id in the metadata); its printed text."""
        content = {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        }
        msg = self.kc.session.msg("execute_request", content)
        if cell_id:
            msg["metadata"]["cellId"] = cell_id
        self.kc.shell_channel.send(msg)
        while True:
            reply = self.kc.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
                break
        text = []
        while True:
            out = self.kc.get_iopub_msg(timeout=timeout)
            if out["parent_header"].get("msg_id") != msg["header"]["msg_id"]:
                continue
            kind, data = out["msg_type"], out["content"]
            if kind == "stream":
                text.append(data["text"])
            elif kind == "error":
                text.append(f"{data['ename']}: {data['evalue']}")
            elif kind == "status" and data["execution_state"] == "idle":
                break
        if reply["content"]["status"] != "ok":
            raise AssertionError(f"cell failed: {''.join(text)}")
        if "%%track" in code:
            self.settle(timeout)
        return "".join(text)

    def settle(self, timeout: float = 180) -> None:
        """Wait until the kernel's journal delivered its tracked runs (a silent execution: no
        history, no execution count, no cell hooks — the session stays as the user made it)."""
        code = "import jupyter_mlops as _m\nassert _m.wait_for_delivery(120)\ndel _m"
        msg_id = self.kc.execute(code, silent=True, store_history=False)
        while True:
            reply = self.kc.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        if reply["content"]["status"] != "ok":
            raise AssertionError("tracked runs were not delivered within 120 s")

    def close(self) -> None:
        """Shut the kernel down."""
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


@pytest.fixture
def start_kernel(tracking_uri: str) -> Iterator[Any]:
    """``start_kernel(folder)``: a python3 kernel there, logging to the test store."""
    sessions: list[KernelSession] = []

    def start(folder: Path) -> KernelSession:
        sessions.append(KernelSession(folder, {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}))
        return sessions[-1]

    yield start
    for session in sessions:
        session.close()


@pytest.fixture
def kernel(dvc_repo: Path, start_kernel: Any) -> KernelSession:  # noqa: F811
    """A python3 kernel in the DVC project, logging to the test store."""
    return start_kernel(dvc_repo)


def write_table(path: Path, rows: int, seed: int) -> None:
    """A deterministic two-feature classification table with one missing value."""
    import numpy as np

    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=rows), rng.normal(size=rows)
    y = ((a + 0.5 * b + rng.normal(scale=0.7, size=rows)) > 0).astype(int)
    lines = ["a,b,y"] + [f"{x:.6f},{z:.6f},{t}" for x, z, t in zip(a, b, y, strict=True)]
    path.write_text("\n".join(lines) + "\n")


def run_artifact(store: Any, run_id: str, path: str) -> str:
    """The text of one artifact of a run."""
    return Path(store.download_artifacts(run_id, path)).read_text()


def slice_of(store: Any, run_id: str) -> dict[str, Any]:
    """The run's ``cell/slice.json``."""
    return json.loads(run_artifact(store, run_id, "cell/slice.json"))


def tracked_run(store: Any) -> str:
    """The id of the only run in the store that is not a reproduction."""
    experiments = [e.experiment_id for e in store.search_experiments()]
    runs = store.search_runs(experiments, "tags.`jupyter_mlops.cell.hash` != ''")
    originals = [r for r in runs if "jupyter_mlops.reproduces" not in r.data.tags]
    return originals[0].info.run_id


def tree_fingerprint(root: Path) -> dict[str, Any]:
    """git status, diff, index, HEAD, branch, worktrees and every file's bytes under ``root``."""
    out = {
        name: subprocess.run(["git", *args], cwd=root, capture_output=True, check=True).stdout
        for name, args in {
            "status": ["status", "--porcelain", "--untracked-files=all"],
            "diff": ["diff", "HEAD"],
            "index": ["ls-files", "-s"],
            "head": ["rev-parse", "HEAD"],
            "branch": ["branch", "--show-current"],
            "worktrees": ["worktree", "list", "--porcelain"],
        }.items()
    }
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith((".git/", ".dvc/cache", ".dvc/tmp", "mlruns")):
            if not rel.startswith("mlflow.db"):
                files[rel] = path.read_bytes()
    out["files"] = files
    return out
