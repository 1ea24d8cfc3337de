"""Deep fuzzing of every magic's flags (the property of ``tests/track/test_fuzz_magics.py``).

    python benchmarks/fuzz_magics.py [--examples 500] [--seeded]

Runs the same property as the CI test with ``--examples`` inputs per magic, freshly
random unless ``--seeded`` (CI's fixed seed); prints how many inputs each magic got and the
time per input beside the bounded CI run's figure measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST = "tests/track/test_fuzz_magics.py"


def fuzz(examples: int, deep: bool) -> tuple[int, dict[str, int], float]:
    """Run the property; (pytest exit code, inputs per magic, seconds)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "counts.json"
        env = {
            **os.environ,
            "JUPYTER_MLOPS_FUZZ_EXAMPLES": str(examples),
            "JUPYTER_MLOPS_FUZZ_DEEP": "1" if deep else "",
            "JUPYTER_MLOPS_FUZZ_REPORT": str(report),
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DVC_NO_ANALYTICS": "1",
            "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        }
        start = time.perf_counter()
        argv = [sys.executable, "-m", "pytest", "-q", "-x", TEST, "-p", "no:cacheprovider"]
        code = subprocess.call(argv, cwd=ROOT, env=env)
        took = time.perf_counter() - start
        counts = json.loads(report.read_text()) if report.exists() else {}
    return code, counts, took


def main() -> int:
    """Run the CI-sized fuzz, then the deep one; print inputs per magic and seconds per input."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=500, help="inputs per magic")
    parser.add_argument("--seeded", action="store_true", help="CI's fixed seed, not fresh")
    args = parser.parse_args()
    base_code, base, base_s = fuzz(12, deep=False)
    code, counts, took = fuzz(args.examples, deep=not args.seeded)
    print(f"{'magic':<18}{'CI inputs':>10}{'deep inputs':>13}")
    for name in sorted(set(base) | set(counts)):
        print(f"{name:<18}{base.get(name, 0):>10}{counts.get(name, 0):>13}")
    per_ci = base_s / max(1, sum(base.values()))
    per_deep = took / max(1, sum(counts.values()))
    print(f"CI run: {base_s:.0f} s ({per_ci * 1000:.0f} ms/input); deep run: {took:.0f} s "
          f"({per_deep * 1000:.0f} ms/input, ratio {per_deep / per_ci:.2f})")  # fmt: skip
    print("result:", "no failure" if code == 0 and base_code == 0 else "FAILURES (see above)")
    return code or base_code


if __name__ == "__main__":
    sys.exit(main())
