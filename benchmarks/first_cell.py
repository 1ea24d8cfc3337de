"""The first cell after ``%load_ext jupyter_mlops`` in a fresh kernel: tracked vs untracked.

    python benchmarks/first_cell.py [--repeat 3] [--fresh-store] [--gap SECONDS]

Each sample starts a new kernel (jupyter_client), sends ``%load_ext jupyter_mlops`` and at once
the cell ``C = 1.0; acc = C * 0.9`` — (a) untracked, (b) under ``%%track`` with the background
warm-up of ``%load_ext`` (MLflow imported and the store opened off the cell's path), (c) under
``%%track`` with ``JUPYTER_MLOPS_NO_WARMUP=1`` (with an existing store the orphan-reconcile
thread of ``%load_ext`` still imports MLflow in the background, as it always did). The time is
from sending the cell to its reply. The store exists beforehand unless ``--fresh-store``
(a new project: the first tracked cell creates the sqlite schema); ``--gap`` waits that long
between ``%load_ext`` and the cell (a person reading the notebook). Medians in seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

CELL = "C = 1.0\nacc = C * 0.9"
MODES = {
    "a": ("(a) untracked", CELL, {}),
    "b": ("(b) %%track, warm-up", "%%track --quiet\n" + CELL, {}),
    "c": ("(c) %%track, no warm-up", "%%track --quiet\n" + CELL, {"JUPYTER_MLOPS_NO_WARMUP": "1"}),
}


def _execute(client, code: str) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    reply = client.execute_interactive(code, timeout=300, output_hook=lambda msg: None)
    elapsed = time.perf_counter() - start
    if reply["content"]["status"] != "ok":
        raise SystemExit(f"benchmark cell failed: {reply['content'].get('evalue')}")
    return elapsed


def sample(project: Path, code: str, env: dict[str, str], gap: float = 0.0) -> float:
    """Seconds of ``code`` sent right after ``%load_ext`` in a new kernel."""
    from jupyter_client.manager import start_new_kernel

    kernel_env = {**os.environ, **env}
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(project), env=kernel_env)
    try:
        if gap:
            _execute(client, "%load_ext jupyter_mlops")
            time.sleep(gap)
        else:
            client.execute("%load_ext jupyter_mlops")  # not awaited: the cell follows at once
        return _execute(client, code)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def _project(root: Path, fresh: bool) -> Path:
    project = Path(tempfile.mkdtemp(prefix="first-cell-", dir=root))
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    if not fresh:
        from mlflow.tracking import MlflowClient

        MlflowClient(f"sqlite:///{project / 'mlflow.db'}").search_experiments(max_results=1)
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fresh-store", action="store_true", help="no mlflow.db beforehand")
    parser.add_argument("--gap", type=float, default=0.0, help="seconds between load and cell")
    args = parser.parse_args()
    os.environ.pop("MLFLOW_TRACKING_URI", None)  # each project's own sqlite store
    times: dict[str, list[float]] = {k: [] for k in MODES}
    with tempfile.TemporaryDirectory(prefix="first-cell-bench-") as tmp:
        # its own journal: the kernels stop right after the cell, their runs stay journaled
        os.environ["JUPYTER_MLOPS_SPOOL_DIR"] = str(Path(tmp) / "journal")
        for _ in range(args.repeat):
            for key, (_, code, env) in MODES.items():  # interleaved: noise hits all alike
                project = _project(Path(tmp), args.fresh_store)
                times[key].append(sample(project, code, env, args.gap))
    medians = {k: statistics.median(v) for k, v in times.items()}
    for key, (label, _, _) in MODES.items():
        extra = "" if key == "a" else f"   {medians[key] - medians['a']:+.2f} s over (a)"
        print(f"{label:<26} {medians[key]:6.2f} s{extra}")
    store = "a fresh project (no store yet)" if args.fresh_store else "an existing store"
    store += f", {args.gap:g} s between %load_ext and the cell" if args.gap else ", cell at once"
    print(f"medians of {args.repeat} fresh kernels each, {store}; goal b - a <= 0.3 s",
          file=sys.stderr)  # fmt: skip


if __name__ == "__main__":
    main()
