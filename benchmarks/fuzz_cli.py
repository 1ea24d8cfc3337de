"""Deep fuzzing of ``jupyter mlops``: many more argument lists than CI's bounded test, any seed.

Same inputs and the same check as ``tests/pipeline/test_cli_fuzz.py`` (exit code from the
contracts; bad input is exit 64 with one line on stderr; never a traceback), run through
``main()`` in this process, the ``server`` options through its parser and check only.

    python benchmarks/fuzz_cli.py [--examples 5000] [--seed N] [--processes 20]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "pipeline"))

from cli_fuzzing import Outcome, Workspace, call_main, check, check_server  # noqa: E402
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

from jupyter_mlops.core.team.server import free_port  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Fuzz, then print how many inputs each target got and what they answered."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=5000, help="inputs per target")
    parser.add_argument("--seed", type=int, default=None, help="default: a random seed")
    parser.add_argument("--processes", type=int, default=20, help="real `jupyter mlops` runs")
    options = parser.parse_args(argv)
    chosen = options.seed if options.seed is not None else random.randrange(2**32)
    deep = settings(
        max_examples=options.examples,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    counts: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="fuzz-cli-") as tmp:
        root = Path(tmp)
        os.chdir(root)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
        os.environ["JUPYTER_MLOPS_SPOOL_DIR"] = str(root / "spool")
        ws = Workspace.make(root, f"http://127.0.0.1:{free_port()}")
        started = time.perf_counter()

        @seed(chosen)
        @deep
        @given(args=ws.argv())
        def through_main(args: list[str]) -> None:
            outcome = call_main(args)
            check(args, outcome)
            counts[f"main exit {outcome.code}"] += 1

        @seed(chosen)
        @deep
        @given(args=ws.argv(["server"]).map(lambda a: a[1:] if a[:1] == ["server"] else a))
        def server_options(args: list[str]) -> None:
            counts[f"server {check_server(args)}"] += 1

        @seed(chosen)
        @settings(deep, max_examples=max(options.processes, 1))
        @given(args=ws.argv())
        def in_processes(args: list[str]) -> None:
            if any("\x00" in a for a in args):
                return
            proc = subprocess.run(
                [sys.executable, "-m", "jupyter_mlops.cli", *args],
                cwd=root, capture_output=True, text=True, errors="replace", timeout=120,
            )  # fmt: skip
            check(args, Outcome(proc.returncode, proc.stdout, proc.stderr))
            counts[f"process exit {proc.returncode}"] += 1

        through_main()
        server_options()
        if options.processes:
            in_processes()
        elapsed = time.perf_counter() - started
    total = sum(counts.values())
    print(f"seed {chosen}: {total} inputs in {elapsed:.1f} s, no failure")
    for name, count in sorted(counts.items()):
        print(f"  {name:22s} {count}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
