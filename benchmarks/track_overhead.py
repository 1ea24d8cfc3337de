"""What automatic capture costs: the same training cell untracked, hand-logged, and %%track.

    python benchmarks/track_overhead.py [--repeat 30] [--cpu] [--remote-cells 50]

(a) the cell untracked; (b) the cell plus hand-written ``mlflow.start_run`` +
``log_params``/``log_metrics``/``log_artifact`` of the same values; (c) the cell under
``%%track``. With autolog on, (b) runs under MLflow's own sklearn autolog (switched on for that
cell only) and (c) under ours (``core/tracking/estimators``: estimator params and training
metrics in the record); the share of the estimator capture (c on - c off) is printed. Runs are
interleaved so machine noise hits all three alike; medians in milliseconds are printed with
the ratio c/b (goal <= 1.15) and the absolute overhead c - a (goal <= 10 ms, autolog off).

Then the same comparison against a real ``mlflow server`` reached through a loopback TCP proxy
(a child process) that delays every request by 200 ms: the overhead of ``%%track`` on the cell
(goal <= 10 ms: the cell never waits on the server) and how long the journal's worker takes to
deliver ``--remote-cells`` runs (goal: 50 within 60 s).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

SETUP = """
import warnings
warnings.filterwarnings("ignore", category=FutureWarning)  # MLflow's log_loss(y_pred=) in (b)
import joblib, mlflow
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True)
"""

BODY = """C = 1.0
max_iter = 200
model = LogisticRegression(C=C, max_iter=max_iter).fit(X, y)
accuracy = model.score(X, y)
saved = joblib.dump(model, "model.pkl")
"""

HAND = """with mlflow.start_run():
    C = 1.0
    max_iter = 200
    model = LogisticRegression(C=C, max_iter=max_iter).fit(X, y)
    accuracy = model.score(X, y)
    saved = joblib.dump(model, "model.pkl")
    mlflow.log_params({"C": C, "max_iter": max_iter})
    mlflow.log_metrics({"accuracy": accuracy})
    mlflow.log_artifact("model.pkl")
"""


def _shell(project: Path):  # type: ignore[no-untyped-def]
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    os.chdir(project)
    cfg = Config()
    cfg.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=cfg)
    shell.run_line_magic("load_ext", "jupyter_mlops")
    assert shell.run_cell(SETUP).success
    return shell


CLOCK = time.perf_counter  # --cpu: time.thread_time (the cell's own CPU, for a loaded machine)


def _time(shell, code: str) -> float:  # type: ignore[no-untyped-def]
    start = CLOCK()
    result = shell.run_cell(code)
    elapsed = (CLOCK() - start) * 1000
    if not result.success:
        raise SystemExit(
            f"benchmark cell failed: {result.error_in_exec or result.error_before_exec}"
        )
    return elapsed


# MLflow's sklearn autolog for cell (b) only: patched once, then its switch is flipped
_CONFIG = "from jupyter_mlops.core.mlflow_internals import autolog_config as _autolog_config\n"
MLFLOW_AUTOLOG_ON = _CONFIG + "_autolog_config('sklearn')['disable'] = False\n"
MLFLOW_AUTOLOG_OFF = "\n" + _CONFIG + "_autolog_config('sklearn')['disable'] = True\n"


def measure(shell, repeat: int, autolog: bool) -> dict[str, float]:  # type: ignore[no-untyped-def]
    import mlflow

    track = "%%track --quiet" + ("" if autolog else " --no-autolog") + "\n"
    cells = {"a": BODY, "b": HAND, "c": track + BODY}
    if autolog:
        mlflow.sklearn.autolog(log_models=False, log_datasets=False, silent=True)
        cells["b"] = MLFLOW_AUTOLOG_ON + HAND + MLFLOW_AUTOLOG_OFF
        assert shell.run_cell(MLFLOW_AUTOLOG_OFF).success
    for code in cells.values():  # warm-up: imports, experiment, first-open of the store
        _time(shell, code)
    times: dict[str, list[float]] = {k: [] for k in cells}
    for _ in range(repeat):
        for key, code in cells.items():
            times[key].append(_time(shell, code))
    return {k: statistics.median(v) for k, v in times.items()}


DELAY_S = 0.2
REMOTE_BODY = """C = 1.0
max_iter = 200
accuracy = C * 0.9
"""


def delay_proxy(listen_port: int, target_port: int) -> None:
    """Forward loopback TCP to ``target_port``; each request waits ``DELAY_S`` first."""

    async def pump(reader, writer, delay: bool) -> None:  # type: ignore[no-untyped-def]
        last = 0.0
        try:
            while data := await reader.read(65536):
                if delay and time.monotonic() - last > 0.05:  # a new request, not its tail
                    await asyncio.sleep(DELAY_S)
                writer.write(data)
                await writer.drain()
                last = time.monotonic()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def handle(client_r, client_w) -> None:  # type: ignore[no-untyped-def]
        server_r, server_w = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(pump(client_r, server_w, True), pump(server_r, client_w, False))

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


def measure_remote(shell, project: Path, cells: int) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
    """Median untracked and %%track ms per cell against the delayed server; delivery seconds."""
    from jupyter_mlops.core.team.server import TeamServer, free_port
    from jupyter_mlops.core.tracking.journal import wait_for_delivery

    server = TeamServer(
        backend_store_uri=f"sqlite:///{project / 'remote.db'}",
        artifacts_destination=str(project / "remote-artifacts"),
    ).start()
    port = free_port()
    proxy = subprocess.Popen(
        [sys.executable, __file__, "--proxy", str(port), str(server.port)],
        stdout=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.0)
        shell.run_line_magic("config", f"MlopsMagics.tracking_uri = 'http://127.0.0.1:{port}'")
        track = "%%track --quiet --no-autolog\n"
        _time(shell, track + REMOTE_BODY)  # warm-up (its delivery creates the experiment)
        if not wait_for_delivery(120):
            raise SystemExit("warm-up run not delivered within 120 s")
        a: list[float] = []
        c: list[float] = []
        started = time.perf_counter()
        for _ in range(cells):
            a.append(_time(shell, REMOTE_BODY))
            c.append(_time(shell, track + REMOTE_BODY))
        delivered = wait_for_delivery(300)
        seconds = time.perf_counter() - started
        if not delivered:
            raise SystemExit(f"{cells} runs not delivered within 300 s")
        shell.run_line_magic("config", "MlopsMagics.tracking_uri = ''")
        return statistics.median(a), statistics.median(c), seconds
    finally:
        proxy.terminate()
        proxy.wait()
        server.stop()


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--proxy":
        delay_proxy(int(sys.argv[2]), int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--cpu", action="store_true", help="CPU time of the cell's thread")
    parser.add_argument("--remote-cells", type=int, default=50)
    args = parser.parse_args()
    global CLOCK
    if args.cpu:
        CLOCK = time.thread_time
    home = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="track-bench-") as tmp:
        project = Path(tmp)
        subprocess.run(["git", "init", "-q"], cwd=project, check=True)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{project / 'mlflow.db'}"
        os.environ["JUPYTER_MLOPS_SPOOL_DIR"] = str(project / "journal")  # not the user's
        shell = _shell(project)
        print(
            f"{'autolog':<8} {'(a) untracked':>14} {'(b) by hand':>12} {'(c) %%track':>12} "
            f"{'c/b':>6} {'c-a ms':>8} {'capture ms':>11}"
        )
        c_off = 0.0
        for autolog in (False, True):
            m = measure(shell, args.repeat, autolog)
            capture = f"{m['c'] - c_off:>11.1f}" if autolog else f"{'':>11}"
            c_off = m["c"]
            print(
                f"{'on' if autolog else 'off':<8} {m['a']:>14.1f} {m['b']:>12.1f} "
                f"{m['c']:>12.1f} {m['c'] / m['b']:>6.2f} {m['c'] - m['a']:>8.1f} {capture}"
            )
        print(
            f"medians of {args.repeat} interleaved runs, {'CPU ' if args.cpu else ''}"
            "milliseconds; goal c/b <= 1.15, c-a <= 10 ms (autolog off)",
            file=sys.stderr,
        )
        if args.remote_cells:
            a, c, seconds = measure_remote(shell, project, args.remote_cells)
            print(
                f"server +{DELAY_S * 1000:.0f} ms/request: untracked {a:.1f} ms, %%track {c:.1f} "
                f"ms (c-a {c - a:.1f} ms, goal <= 10); {args.remote_cells} cells delivered "
                f"{seconds:.1f} s after the first started (goal <= 60 s)"
            )
        print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}", file=sys.stderr)
        from jupyter_mlops.core.tracking.journal import wait_for_delivery

        wait_for_delivery(300)  # before the folder goes
        os.chdir(home)


if __name__ == "__main__":
    main()
