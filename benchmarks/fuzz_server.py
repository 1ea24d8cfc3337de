"""Deep fuzzing of the sidebar API: the CI properties of ``tests/server/test_fuzz.py``, random.

    python benchmarks/fuzz_server.py [--examples 2000] [--seed N]

Runs every route against a real jupyter-server and sqlite store with ``--examples`` random
inputs each (text, bytes, numbers, JSON in path ids, query arguments and POST bodies; CI runs
40 per route with a fixed seed) and prints, per route, how many inputs it got and the statuses
it answered. Exit status is pytest's: non-zero when any input got a 5xx or a leaking body.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    """Run the fuzz tests deep, then print inputs and statuses per route."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="inputs per route")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (random)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fuzz-server-") as tmp:
        report = Path(tmp) / "report.jsonl"
        env = {
            **os.environ,
            "FUZZ_DEEP": "1",
            "FUZZ_EXAMPLES": str(args.examples),
            "FUZZ_REPORT": str(report),
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x"]
        command += ["tests/server/test_fuzz.py", "-o", "timeout=0"]
        if args.seed is not None:
            command.append(f"--hypothesis-seed={args.seed}")
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        lines = report.read_text().splitlines() if report.exists() else []
    total = 0
    print(f"{'route':16} {'inputs':>7}  statuses")
    for line in lines:
        row = json.loads(line)
        statuses = Counter({int(k): v for k, v in row["statuses"].items()})
        total += row["inputs"]
        shown = ", ".join(f"{code}: {n}" for code, n in sorted(statuses.items()))
        print(f"{row['route']:16} {row['inputs']:>7}  {shown}")
    print(f"{total} inputs in {elapsed:.0f} s; pytest exit {done.returncode}")
    if done.returncode:
        print(done.stdout[-4000:])
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
