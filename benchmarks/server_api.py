"""Benchmark: the sidebar's first page of runs through the REST API vs ``MlflowClient.search_runs``.

    python benchmarks/server_api.py [--runs 10000] [--repeat 7]
    python benchmarks/server_api.py --backend postgresql [--runs 100000] [--indexes] [--drop]

``--backend postgresql``: see ``postgres_bench.py`` (a cached 100,000-run PostgreSQL store; the
sidebar's and compare_runs' first pages, ours beside MLflow's search, warm and cold).

Builds one experiment of N runs (10 params, 10 metrics each) in a fresh MLflow sqlite store with
``benchmarks/compare_runs.py``'s builder, starts a real ``jupyter server`` with our extension on
loopback, and times the first 50 runs ordered by a metric:
  * cold: the first API request of a freshly started server (its own process, nothing cached),
    sent the moment the server answers (its background warm-up still running) and, on a second
    fresh server, once its status says the warm-up (imports, store opened) is done,
  * warm: the median of the following requests,
  * MLflow: ``MlflowClient.search_runs(order_by=[metric], max_results=50)`` in this process.
It checks the API's page equals MLflow's, then adds a run with the best metric through MLflow
and checks the very next API page starts with it (nothing stale is served).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

HERE = Path(__file__).resolve().parent
TOKEN = "bench-token"
ORDER = "metrics.m0 DESC"
DEFAULT_PG = "postgresql+psycopg2://mlops:mlops-test@127.0.0.1:5432/mlops_test"


def _builder():
    spec = importlib.util.spec_from_file_location("compare_runs_bench", HERE / "compare_runs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_store


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=120) as response:
        return json.loads(response.read())


def start_server(root: Path, uri: str) -> tuple[subprocess.Popen, str]:
    """A jupyter server with our extension reading ``uri``; returns once it answers."""
    port = _free_port()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(root / "cfg"),
        "JUPYTER_RUNTIME_DIR": str(root / "rt"),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--ServerApp.root_dir={root}",
            f"--IdentityProvider.token={TOKEN}",
            "--ServerApp.jpserver_extensions={'jupyter_mlops': True}",
            f"--JupyterMlops.tracking_uri={uri}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            _get(f"{base}/api/status?token={TOKEN}")
            return proc, base
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                raise RuntimeError("jupyter server did not start") from None
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, help="10,000 (sqlite), 100,000 (postgresql)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--pg-uri",
        default=os.environ.get("JUPYTER_MLOPS_TEST_POSTGRES_URI", DEFAULT_PG),
        help="a PostgreSQL database whose role may CREATE DATABASE (the store is made beside it)",
    )
    parser.add_argument("--drop", action="store_true", help="drop the cached PostgreSQL store")
    parser.add_argument(
        "--indexes", action="store_true", help="postgresql: add our optional read indexes first"
    )
    args = parser.parse_args()
    if args.runs is None:
        args.runs = 100_000 if args.backend == "postgresql" else 10_000
    if args.backend == "postgresql":
        sys.path.insert(0, str(HERE))
        from postgres_bench import run as run_postgres

        run_postgres(args, start_server, _get, TOKEN)
        return

    from mlflow.tracking import MlflowClient

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        uri, exp = _builder()(root, args.runs)
        print(f"store: {args.runs} runs built in {time.perf_counter() - t0:.1f}s")
        query = f"runs?limit=50&order_by={urllib.request.quote(ORDER)}&token={TOKEN}"
        proc, base = start_server(root, uri)
        try:
            url = f"{base}/jupyter-mlops/api/experiments/{exp}/{query}"
            t0 = time.perf_counter()
            _get(url)
            cold_now = time.perf_counter() - t0
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        proc, base = start_server(root, uri)
        try:
            status = f"{base}/jupyter-mlops/api/status?token={TOKEN}"
            deadline = time.time() + 120
            while not _get(status)["ready"] and time.time() < deadline:
                time.sleep(0.2)
            url = f"{base}/jupyter-mlops/api/experiments/{exp}/{query}"
            t0 = time.perf_counter()
            page = _get(url)
            cold = time.perf_counter() - t0
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                page = _get(url)
                times.append(time.perf_counter() - t0)
            warm = statistics.median(times)

            client = MlflowClient(uri)
            t0 = time.perf_counter()
            mlflow_page = client.search_runs([exp], order_by=[ORDER], max_results=50)
            theirs = time.perf_counter() - t0
            assert [r["run_id"] for r in page["runs"]] == [r.info.run_id for r in mlflow_page]
            assert page["total"] == args.runs

            run = client.create_run(exp, run_name="newcomer")
            client.log_metric(run.info.run_id, "m0", 2.0)
            t0 = time.perf_counter()
            fresh = _get(url)
            after_add = time.perf_counter() - t0
            assert fresh["runs"][0]["run_id"] == run.info.run_id, "API served a stale page"
            assert fresh["total"] == args.runs + 1
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    print(f"first 50 of {args.runs} runs ordered by {ORDER}:")
    print(f"  MLflow search_runs          {theirs * 1000:8.1f} ms")
    print(
        f"  REST API cold, sent as the server starts {cold_now * 1000:8.1f} ms   "
        f"ratio {theirs / cold_now:6.1f}x"
    )
    print(f"  REST API cold, after warm-up {cold * 1000:8.1f} ms   ratio {theirs / cold:6.1f}x")
    print(
        f"  REST API warm (median of {args.repeat}) {warm * 1000:6.1f} ms   "
        f"ratio {theirs / warm:6.1f}x"
    )
    print(f"  REST API right after a new run was logged {after_add * 1000:.1f} ms (page correct)")

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    print(
        f"goals: warm <= 300 ms {verdict(warm <= 0.3)}; cold <= 1 s {verdict(cold <= 1.0)} "
        f"after warm-up, {verdict(cold_now <= 1.0)} for a request sent during start-up"
    )


if __name__ == "__main__":
    main()
