"""Benchmark ``detect_drift`` against a scipy loop (and Evidently 0.7, given its python).

    python benchmarks/drift.py [--sizes 10000 100000 1000000] [--repeat 5]
        [--evidently-python /tmp/evidently-venv/bin/python]
        [--parquet-gb 1 [--parquet-dir /tmp]] [--dask-rows 4000000]

Prints one ``GOAL`` line per goal of issue 15 with our figure, the baseline measured in the same
run, wall and CPU time (``time.process_time``: all threads of this process; on Dask, the
workers' too) and ``os.getloadavg()`` -- on a loaded machine wall time exceeds CPU time / cores,
and the line shows it.
In memory (``--sizes``): the fused numba path (compiled first; the JIT's first-call costs are
printed apart), the numpy reference path, a scipy loop and Evidently on the same frames.
Evidently runs in its own venv (it needs pandas<3 and plotly<6); without one at
``/tmp/evidently-venv`` (or ``--evidently-python``) the benchmark says it skipped the peer and
how to create it.
Out of core (``--parquet-gb``, default 1; ``--parquet-gb 10`` is the issue's 10 GB case, opt-in:
~10 minutes to write): generates a parquet dataset of that size (25 columns, files of ~250 MB),
runs ``detect_drift`` on the two folders in a child process and prints its wall and CPU time,
parquet MB/s beside pyarrow's own read of the same files (the baseline: decoding alone), peak
RSS, and its flags against the exact in-memory result on the first file of each side (a
subsample that fits); a smaller dataset's time is extrapolated to 10 GB and labelled so.
Dask (``--dask-rows``, default 4M; the issue's goal is at 10M): a LocalCluster of 2 worker
processes generates the frames in partitions and keeps them; ``detect_drift`` on the Dask
frames against in memory on the same data.

Frames: reference n rows, current 0.6*n rows (unequal sizes), 20 numeric + 5 categorical columns,
about 2 % NaNs in a third of the columns, known shifts in some columns. Prints the median time
of each engine, the ratios against ours, the memory peak of ``detect_drift`` (tracemalloc) over
the input frames' size, and how often our drift flags agree with the other engines'.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

from jupyter_mlops.core.monitoring import fused
from jupyter_mlops.core.monitoring.drift import detect_drift

NUMERIC, CATEGORICAL = 20, 5
EVIDENTLY_VENV = "/tmp/evidently-venv"
EVIDENTLY_SETUP = (
    f"python3 -m venv {EVIDENTLY_VENV} && {EVIDENTLY_VENV}/bin/pip install "
    "'evidently==0.7.*' 'pandas<3' 'plotly<6' pyarrow"
)


def load() -> str:
    """The 1-minute load average, for the goal lines."""
    return f"load {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "load n/a"


def goal(text: str) -> None:
    """One line per goal of issue 15 (grep GOAL)."""
    print(f"GOAL {text}; {load()}", flush=True)


EVIDENTLY_SCRIPT = r"""
import json, sys, time, statistics, warnings
warnings.simplefilter("ignore")
import pandas as pd
from evidently import Report, Dataset, DataDefinition
from evidently.presets import DataDriftPreset
folder, repeat = sys.argv[1], int(sys.argv[2])
ref = pd.read_parquet(f"{folder}/reference.parquet")
cur = pd.read_parquet(f"{folder}/current.parquet")
cats = [c for c in ref.columns if c.startswith("cat")]
nums = [c for c in ref.columns if c not in cats]
times, values = [], None
for _ in range(repeat):
    definition = DataDefinition(numerical_columns=nums, categorical_columns=cats)
    start = time.perf_counter()
    snap = Report([DataDriftPreset()]).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
    )
    times.append(time.perf_counter() - start)
    values = snap.dict()["metrics"]
flags = {}
for metric in values:
    config = metric["config"]
    if config.get("type") != "evidently:metric_v2:ValueDrift":
        continue
    value, thr, method = metric["value"], config["threshold"], config["method"]
    if "p_value" in method:
        drift = value <= thr if method.startswith("K-S") else value < thr
    else:
        drift = value >= thr
    flags[config["column"]] = {"drift": bool(drift), "score": value, "method": method}
print(json.dumps({"median": statistics.median(times), "flags": flags}))
"""


def make_frames(rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference (rows) and current (0.6*rows) frames with known shifts and NaNs."""
    rng = np.random.default_rng(seed)
    cur_rows = int(rows * 0.6)
    ref, cur = {}, {}
    for i in range(NUMERIC):
        shift = [0.0, 0.0, 0.02, 0.05, 0.08, 0.15, 0.3, 1.0][i % 8]
        family = i % 4
        for side, n, s in ((ref, rows, 0.0), (cur, cur_rows, shift)):
            if family == 0:
                x = rng.normal(s, 1.0, n)
            elif family == 1:
                x = rng.lognormal(s, 0.7, n)
            elif family == 2:
                x = rng.uniform(s, 1.0 + s, n)
            else:
                x = np.round(rng.exponential(1.0 + s, n) * 10)
            if i % 3 == 0:
                x[rng.random(n) < 0.02] = np.nan
            side[f"num{i:02d}"] = x
    for i in range(CATEGORICAL):
        k = 3 + 2 * i
        labels = np.array([f"c{j}" for j in range(k)])
        p_ref = np.linspace(1, 2, k)
        p_ref /= p_ref.sum()
        tilt = [0.0, 0.02, 0.3, 0.6, 0.0][i]
        p_cur = p_ref * (1 + tilt * np.linspace(-1, 1, k))
        p_cur /= p_cur.sum()
        for side, n, p in ((ref, rows, p_ref), (cur, cur_rows, p_cur)):
            values = pd.Categorical(labels[rng.choice(k, n, p=p)], categories=labels)
            if i % 2 == 0:
                values[rng.random(n) < 0.02] = np.nan
            side[f"cat{i}"] = values
    return pd.DataFrame(ref), pd.DataFrame(cur)


def scipy_loop(ref: pd.DataFrame, cur: pd.DataFrame) -> dict[str, bool]:
    """The baseline: Evidently's default tests, one scipy call per column."""
    flags = {}
    for name in ref.columns:
        r, c = ref[name].dropna(), cur[name].dropna()
        if name.startswith("cat") or r.nunique() <= 5:
            keys = sorted(set(r.unique()) | set(c.unique()))
            p = r.value_counts().reindex(keys, fill_value=0).to_numpy() / len(r)
            q = c.value_counts().reindex(keys, fill_value=0).to_numpy() / len(c)
            flags[name] = bool(distance.jensenshannon(p, q) >= 0.1)
        else:
            w = stats.wasserstein_distance(r, c) / max(float(np.std(r)), 0.001)
            flags[name] = bool(w >= 0.1)
    return flags


def timed(func, repeat: int) -> tuple[float, float, object]:
    """Median wall time and median CPU time (all threads) of ``repeat`` calls; last result."""
    times, cpu, result = [], [], None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = func()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(times), statistics.median(cpu), result


def memory_ratio(ref: pd.DataFrame, cur: pd.DataFrame) -> tuple[float, float]:
    """Peak traced allocation of one ``detect_drift`` call, and its ratio to the inputs' size."""
    inputs = ref.memory_usage(deep=True).sum() + cur.memory_usage(deep=True).sum()
    tracemalloc.start()
    detect_drift(ref, cur)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20, peak / inputs


def run_evidently(python: str, ref: pd.DataFrame, cur: pd.DataFrame, repeat: int) -> dict:
    """Evidently's DataDriftPreset in its own interpreter on the same frames."""
    with tempfile.TemporaryDirectory() as folder:
        ref.to_parquet(f"{folder}/reference.parquet")
        cur.to_parquet(f"{folder}/current.parquet")
        script = Path(folder) / "evidently_run.py"
        script.write_text(EVIDENTLY_SCRIPT)
        out = subprocess.run(
            [python, str(script), folder, str(repeat)], capture_output=True, text=True, check=False
        )
    if out.returncode != 0:
        raise SystemExit(f"Evidently run failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def numpy_path(ref: pd.DataFrame, cur: pd.DataFrame) -> object:
    """``detect_drift`` on the numpy reference path (kernels switched off)."""
    os.environ[fused.DISABLE_ENV] = "1"
    try:
        return detect_drift(ref, cur)
    finally:
        del os.environ[fused.DISABLE_ENV]


def child(args: list[str], env: dict[str, str] | None = None) -> dict:
    """Run this script in a fresh interpreter (``--child ...``); its last line is JSON."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if out.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def child_main(args: list[str]) -> dict:
    """What a child measures: 'compile', 'first' (1M rows) or 'parquet REF CUR'."""
    if args[0] == "compile":
        start = time.perf_counter()
        fused.warm_up(wait=True)
        return {"seconds": time.perf_counter() - start}
    if args[0] == "first":
        ref, cur = make_frames(1_000_000, seed=1)
        start = time.perf_counter()
        detect_drift(ref, cur)
        first = time.perf_counter() - start
        fused.warm_up(wait=True)
        second, _, _ = timed(lambda: detect_drift(ref, cur), 3)
        return {"first": first, "after_warm_up": second}
    if args[0] == "read":
        return read_only(args[1:])
    fused.warm_up(wait=True)
    start, start_cpu = time.perf_counter(), time.process_time()
    report = detect_drift(args[1], args[2])
    return {
        "seconds": time.perf_counter() - start,
        "cpu": time.process_time() - start_cpu,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "flags": {n: c.drift for n, c in report.columns.items()},
        "notes": {n: c.note for n, c in report.columns.items()},
    }


def read_only(folders: list[str]) -> dict:
    """The baseline: pyarrow decoding every column of the folders, row group by row group."""
    import pyarrow.dataset as ds

    start, start_cpu = time.perf_counter(), time.process_time()
    for folder in folders:
        for fragment in ds.dataset(folder, format="parquet").get_fragments():
            for part in fragment.split_by_row_group():
                part.to_table()
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - start_cpu}


def jit_costs() -> None:
    """First-call figures: compile from scratch, load from numba's cache, a user's first call."""
    with tempfile.TemporaryDirectory() as cache:
        cold = child(["compile"], {"NUMBA_CACHE_DIR": cache})["seconds"]
        cached = child(["compile"], {"NUMBA_CACHE_DIR": cache})["seconds"]
        first = child(["first"], {"NUMBA_CACHE_DIR": cache})
        numpy_only = child(["first"], {fused.DISABLE_ENV: "1"})
    print(f"numba kernels: compile {cold:.2f} s cold, {cached:.2f} s from cache (in a background")
    print(
        f"thread); first 1M-row call {first['first']:.3f} s with numba installed vs "
        f"{numpy_only['first']:.3f} s numpy only; after warm-up {first['after_warm_up']:.3f} s"
    )


def write_dataset(folder: Path, gigabytes: float) -> tuple[Path, Path, int]:
    """Parquet folders reference/ and current/ of about ``gigabytes`` in total."""
    rows = int(min(1_500_000, max(20_000, gigabytes * 1e9 / 165 / 1.6 / 4)))
    paths = (folder / "reference", folder / "current")
    for path in paths:
        path.mkdir(parents=True)
    total, part = 0, 0
    while total < gigabytes * 1e9:
        for path, frame in zip(paths, make_frames(rows, seed=10_000 + part), strict=True):
            target = path / f"part-{part:04d}.parquet"
            frame.to_parquet(target, row_group_size=250_000)
            total += target.stat().st_size
        part += 1
    return paths[0], paths[1], total


def parquet_benchmark(gigabytes: float, parent: str) -> None:
    """Out-of-core figures on a generated dataset, deleted afterwards."""
    with tempfile.TemporaryDirectory(dir=parent) as folder:
        start = time.perf_counter()
        ref_dir, cur_dir, size = write_dataset(Path(folder), gigabytes)
        made = time.perf_counter() - start
        base = child(["read", str(ref_dir), str(cur_dir)])
        out = child(["parquet", str(ref_dir), str(cur_dir)])
        first = sorted(ref_dir.iterdir())[0], sorted(cur_dir.iterdir())[0]
        sub_ref, sub_cur = pd.read_parquet(first[0]), pd.read_parquet(first[1])
        exact = detect_drift(sub_ref, sub_cur)
        sub_streamed = detect_drift(*first)
    exact_flags = {n: c.drift for n, c in exact.columns.items()}
    same_sub = sum(sub_streamed.columns[n].drift == f for n, f in exact_flags.items())
    same_full = sum(out["flags"][n] == f for n, f in exact_flags.items())
    fallbacks = sum("exact:" in note for note in out["notes"].values())
    rate, base_rate = size / 1e6 / out["seconds"], size / 1e6 / base["seconds"]
    cpu_rate = size / 1e6 / out["cpu"]
    print(
        f"parquet {size / 1e9:.2f} GB ({made:.0f} s to write): columns read whole: {fallbacks}; "
        f"flags vs exact in memory on the first file of each side ({len(sub_ref)} + "
        f"{len(sub_cur)} rows): streamed subsample {same_sub}/{len(exact_flags)} equal, "
        f"streamed full dataset {same_full}/{len(exact_flags)} equal"
    )
    goal(
        f"parquet {size / 1e9:.2f} GB (goal >= 200 MB/s, peak RSS <= 2 GB at 10 GB): "
        f"{rate:.0f} MB/s ({out['seconds']:.1f} s wall, {out['cpu']:.1f} s CPU = "
        f"{cpu_rate:.0f} MB per CPU-second), peak RSS {out['maxrss_mb']:.0f} MB; baseline "
        f"pyarrow read alone {base_rate:.0f} MB/s ({base['seconds']:.1f} s wall, "
        f"{base['cpu']:.1f} s CPU)"
    )
    if gigabytes < 10:
        goal(
            f"parquet 10 GB EXTRAPOLATED from {size / 1e9:.2f} GB (not measured; run "
            f"--parquet-gb 10): {10e9 / size * out['seconds']:.0f} s at {rate:.0f} MB/s"
        )


def _cpu_now() -> float:
    return time.process_time()


def dask_benchmark(rows: int, repeat: int) -> None:
    """2 local worker processes holding the frames vs the same frames in memory."""
    import dask
    import dask.dataframe as dd
    from dask.distributed import Client, LocalCluster, wait

    parts = max(2, rows // 1_000_000)
    seeds = list(range(parts))
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        dref = dd.from_map(lambda s: make_frames(rows // parts, s)[0], seeds).persist()
        dcur = dd.from_map(lambda s: make_frames(rows // parts, s)[1], seeds).persist()
        wait([dref, dcur])
        client.run(fused.warm_up, True)
        detect_drift(dref, dcur)
        before = sum(client.run(_cpu_now).values())
        on_dask, on_dask_cpu, report = timed(lambda: detect_drift(dref, dcur), repeat)
        workers_cpu = (sum(client.run(_cpu_now).values()) - before) / repeat
        ref, cur = dask.compute(dref, dcur)
    fused.warm_up(wait=True)
    detect_drift(ref, cur)
    memory, memory_cpu, exact = timed(lambda: detect_drift(ref, cur), repeat)
    same = sum(report.columns[n].drift == c.drift for n, c in exact.columns.items())
    goal(
        f"dask {len(ref)} + {len(cur)} rows, {parts} partitions a side, 2 worker processes "
        f"(goal <= 1.5x in memory at 10M rows): {on_dask:.2f} s wall (client CPU "
        f"{on_dask_cpu:.2f} s, workers CPU {workers_cpu:.2f} s) vs baseline in memory "
        f"{memory:.2f} s wall ({memory_cpu:.2f} s CPU) = {on_dask / memory:.2f}x; flags equal "
        f"{same}/{len(exact.columns)}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one row per size."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        print(json.dumps(child_main(argv[1:])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--evidently-python", default=None, help=f"default: {EVIDENTLY_VENV}")
    parser.add_argument("--evidently-repeat", type=int, default=1)
    parser.add_argument("--parquet-gb", type=float, default=1.0, help="0 skips; 10 = the goal")
    parser.add_argument("--parquet-dir", default=tempfile.gettempdir())
    parser.add_argument("--dask-rows", type=int, default=4_000_000, help="0 skips")
    parser.add_argument("--no-jit-costs", action="store_true")
    args = parser.parse_args(argv)

    print(f"cpus: {os.cpu_count()}, at start: {load()}")
    if args.evidently_python is None and Path(EVIDENTLY_VENV, "bin", "python").exists():
        args.evidently_python = str(Path(EVIDENTLY_VENV, "bin", "python"))
    if args.evidently_python is None:
        print(f"Evidently skipped (no venv at {EVIDENTLY_VENV}); create it with: {EVIDENTLY_SETUP}")
    if not args.no_jit_costs:
        jit_costs()
    fused.warm_up(wait=True)
    header = f"{'rows':>9} {'ours s':>8} {'cpu s':>7} {'numpy s':>8} {'scipy s':>8} {'x scipy':>8}"
    header += f" {'mem MiB':>8} {'mem/in':>7}"
    if args.evidently_python:
        header += f" {'evid s':>8} {'x evid':>8} {'agree':>6}"
    if args.sizes:
        print(header)
    agree_total = cells_total = 0
    for size in args.sizes:
        ref, cur = make_frames(size, seed=size)
        detect_drift(ref, cur)  # warm-up: imports and first-call costs
        ours, ours_cpu, report = timed(lambda r=ref, c=cur: detect_drift(r, c), args.repeat)
        reference, _, _ = timed(lambda r=ref, c=cur: numpy_path(r, c), args.repeat)
        base, _, base_flags = timed(lambda r=ref, c=cur: scipy_loop(r, c), 1)
        mem, mem_ratio = memory_ratio(ref, cur)
        line = f"{size:>9} {ours:>8.3f} {ours_cpu:>7.3f} {reference:>8.3f} {base:>8.3f}"
        line += f" {base / ours:>8.1f} {mem:>8.1f} {mem_ratio:>7.2f}"
        ours_flags = {name: col.drift for name, col in report.columns.items()}
        mismatch = [n for n in ours_flags if ours_flags[n] != base_flags[n]]
        if args.evidently_python:
            ev = run_evidently(args.evidently_python, ref, cur, args.evidently_repeat)
            ev_flags = {n: v["drift"] for n, v in ev["flags"].items()}
            agree = sum(ours_flags[n] == ev_flags.get(n) for n in ours_flags)
            agree_total += agree
            cells_total += len(ours_flags)
            share = agree / len(ours_flags)
            line += f" {ev['median']:>8.2f} {ev['median'] / ours:>8.1f} {share:>6.0%}"
            mismatch += [f"{n} (evidently)" for n in ours_flags if ours_flags[n] != ev_flags.get(n)]
        print(line + (f"   differing flags: {', '.join(mismatch)}" if mismatch else ""))
        if size == 1_000_000:
            peer = (
                f"Evidently {ev['median']:.1f} s = {ev['median'] / ours:.0f}x ours (goal >= 150x)"
                if args.evidently_python
                else "Evidently skipped"
            )
            goal(
                f"in memory 1M x 25 (goal <= 0.3 s): {ours:.3f} s wall, {ours_cpu:.3f} s CPU; "
                f"baseline scipy loop {base:.2f} s = {base / ours:.0f}x ours, {peer}; "
                f"memory peak {mem_ratio:.2f}x the input frames (goal <= 1x)"
            )
    if cells_total:
        print(f"flag agreement with Evidently over all datasets: {agree_total / cells_total:.1%}")
    if args.parquet_gb:
        parquet_benchmark(args.parquet_gb, args.parquet_dir)
    if args.dask_rows:
        dask_benchmark(args.dask_rows, max(1, args.repeat // 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
