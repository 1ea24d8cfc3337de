"""Team mode under faults: ``%%track`` overhead with the tracking server up vs down (spooling).

    python benchmarks/faults.py [--cells 20] [--concurrency]

Starts a real ``mlflow server`` (sqlite backend, proxied artifacts) on a free loopback port,
runs the same cell plain, tracked with the server up, and tracked after the server is killed
(same URL: every run goes to the offline spool), all in one real IPython shell; prints the
medians and the ratios against the plain cell measured in the same run. Then replays the spool
into the server and checks every spooled run arrived. ``--concurrency`` also runs the
8 writers x 50 runs tests (server and fresh sqlite file) and prints sent vs stored.
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

CELL = "learning_rate = 0.01\nscores = [learning_rate * k for k in range(20)]\nbest = max(scores)\n"


def timed_cells(shell: object, source: str, count: int) -> list[float]:
    """Wall-clock seconds of ``count`` executions of ``source`` in ``shell``."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        result = shell.run_cell(source, store_history=False)  # type: ignore[attr-defined]
        times.append(time.perf_counter() - start)
        if not result.success:
            raise SystemExit(f"cell failed: {result.error_in_exec or result.error_before_exec}")
    return times


def make_shell(folder: Path) -> object:
    """A real InteractiveShell with jupyter_mlops loaded, working in a fresh git repo."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    os.chdir(folder)
    cfg = Config()
    cfg.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=cfg)
    shell.run_line_magic("load_ext", "jupyter_mlops")
    shell.run_line_magic("config", "MlopsMagics.quiet = True")
    return shell


def overhead(cells: int) -> None:
    """Print median cell times: plain, tracked (server up), tracked (server down, spooling)."""
    from jupyter_mlops.core.store import get_client
    from jupyter_mlops.core.team.server import TeamServer
    from jupyter_mlops.core.tracking import spool

    work = Path(tempfile.mkdtemp(prefix="jupyter-mlops-faults-"))
    os.environ["JUPYTER_MLOPS_SPOOL_DIR"] = str(work / "spool")
    server = TeamServer(
        f"sqlite:///{work / 'server.db'}", str(work / "artifacts"), log_path=work / "server.log"
    )
    with server:
        shell = make_shell(work / "project")
        shell.run_line_magic("mlops_experiment", "faults-benchmark")  # type: ignore[attr-defined]
        shell.run_line_magic("config", f"MlopsMagics.tracking_uri = {server.url!r}")  # type: ignore[attr-defined]
        timed_cells(shell, CELL, 3)  # warm-up: imports
        plain = timed_cells(shell, CELL, cells)
        timed_cells(shell, "%%track\n" + CELL, 2)  # warm-up: experiment, connections
        up = timed_cells(shell, "%%track\n" + CELL, cells)
        server.kill()  # the same URL, nothing listening: every run is spooled
        timed_cells(shell, "%%track\n" + CELL, 1)
        down = timed_cells(shell, "%%track\n" + CELL, cells)
        spooled = spool.pending_runs()
        server.start()
        start = time.perf_counter()
        result = spool.replay(get_client(server.url))
        replay_s = time.perf_counter() - start

    p, u, d = (statistics.median(x) * 1000 for x in (plain, up, down))
    print(f"cells per setting: {cells} (same shell, same cell)")
    print(f"median plain cell:                 {p:8.1f} ms")
    print(f"median %%track, server up:         {u:8.1f} ms  (overhead {u - p:.1f} ms)")
    print(f"median %%track, server down/spool: {d:8.1f} ms  (overhead {d - p:.1f} ms)")
    print(f"ratio down/up: {d / u:.2f}   ratio up/plain: {u / p:.1f}")
    print(
        f"spooled while down: {spooled} runs; replay: {result.runs_replayed} runs, "
        f"{result.metric_points} metric points in {replay_s:.2f} s; still spooled: "
        f"{result.pending}; skipped: {len(result.skipped)}"
    )
    if result.runs_replayed != cells + 1 or result.pending or result.skipped:
        raise SystemExit("replay did not deliver every spooled run")


def concurrency() -> None:
    """Run the 8 x 50 concurrency tests and show their sent-vs-stored lines."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "JUPYTER_MLOPS_TEST_RUNS_PER_WRITER": "50"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider"]
    out = subprocess.run(
        [*cmd, str(root / "tests/team/test_concurrency.py")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    for line in out.stdout.splitlines():
        if "sent" in line or "passed" in line or "failed" in line:
            print(line.lstrip("."))


def main() -> None:
    """Parse flags and run the measurements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=20, help="cells per setting")
    parser.add_argument("--concurrency", action="store_true", help="also run 8 x 50 writers")
    args = parser.parse_args()
    overhead(args.cells)
    if args.concurrency:
        concurrency()


if __name__ == "__main__":
    main()
