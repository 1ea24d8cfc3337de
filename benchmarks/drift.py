"""Benchmark ``detect_drift`` against a scipy loop (and Evidently 0.7, given its python).

    python benchmarks/drift.py [--sizes 10000 100000 1000000] [--repeat 5]
        [--evidently-python /work/evidently-venv/bin/python]

Frames: reference n rows, current 0.6*n rows (unequal sizes), 20 numeric + 5 categorical columns,
about 2 % NaNs in a third of the columns, known shifts in some columns. Prints the median time
of each engine, the ratios against ours, the memory peak of ``detect_drift`` (tracemalloc) over
the input frames' size, and how often our drift flags agree with the other engines'.
Evidently needs pandas<3 and plotly<6, so it runs in its own venv on the same frames (parquet).
"""

from __future__ import annotations

import argparse
import json
import os
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

from jupyter_mlops.core.monitoring.drift import detect_drift

NUMERIC, CATEGORICAL = 20, 5

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


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one row per size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--evidently-python", default=None)
    parser.add_argument("--evidently-repeat", type=int, default=1)
    args = parser.parse_args(argv)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"cpus: {os.cpu_count()}, load average at start: {load:.1f}")
    header = f"{'rows':>9} {'ours s':>8} {'cpu s':>7} {'scipy s':>8} {'x scipy':>8}"
    header += f" {'mem MiB':>8} {'mem/in':>7}"
    if args.evidently_python:
        header += f" {'evid s':>8} {'x evid':>8} {'agree':>6}"
    print(header)
    agree_total = cells_total = 0
    for size in args.sizes:
        ref, cur = make_frames(size, seed=size)
        detect_drift(ref, cur)  # warm-up: imports and first-call costs
        ours, ours_cpu, report = timed(lambda r=ref, c=cur: detect_drift(r, c), args.repeat)
        base, _, base_flags = timed(lambda r=ref, c=cur: scipy_loop(r, c), 1)
        mem, mem_ratio = memory_ratio(ref, cur)
        line = f"{size:>9} {ours:>8.3f} {ours_cpu:>7.3f} {base:>8.3f} {base / ours:>8.1f}"
        line += f" {mem:>8.1f} {mem_ratio:>7.2f}"
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
    if cells_total:
        print(f"flag agreement with Evidently over all datasets: {agree_total / cells_total:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
