"""Deep mode of the ``%dvc_checkout`` property test: many random planted records, one command.

    python benchmarks/fuzz_checkout.py [--examples 2000]

Runs ``tests/data/test_checkout_fuzz.py`` with ``JUPYTER_MLOPS_FUZZ_EXAMPLES`` set (random seed
instead of CI's fixed one, that many examples), each planted in a real run of a real sqlite store
and checked out of a real git + DVC repository. Prints how many inputs were tried, how they
ended (restored / refused as untrustworthy / refused otherwise), and inputs per second beside the
bounded CI run's count. Exit status is pytest's: non-zero when any input broke the property.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST = "tests/data/test_checkout_fuzz.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="inputs to try (default 2000)")
    args = parser.parse_args()
    env = {
        **os.environ,
        "JUPYTER_MLOPS_FUZZ_EXAMPLES": str(args.examples),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DVC_NO_ANALYTICS": "1",
    }
    command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "-W", "ignore"]
    start = time.perf_counter()
    done = subprocess.run([*command, TEST], cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    found = re.search(r"fuzz_checkout: (\{.*\})", done.stdout)
    if done.returncode != 0 or not found:
        print(done.stdout[-4000:], done.stderr[-2000:], sep="\n")
        print(f"FAILED after {seconds:.0f} s (pytest exit {done.returncode})")
        return done.returncode or 1
    outcomes = ast.literal_eval(found.group(1))  # the dict the test printed
    inputs = outcomes.get("inputs", 0)
    print(f"inputs tried          {inputs} (CI's bounded run: 60, fixed seed)")
    for kind in ("restored", "untrustworthy", "refused"):
        print(f"  {kind:<20}{outcomes.get(kind, 0)}")
    rate = inputs / seconds
    print(f"wall time             {seconds:.0f} s ({rate:.1f} inputs/s, repo set-up included)")
    print("property held: nothing written outside the tracked output, every refusal one line")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
