"""Wall time of the quickstart: plain ``jupyter nbconvert --execute`` vs ``jupyter mlops run``.

Both execute the same cells in the same kernel (the notebook with ``demo_dir`` injected after its
``parameters`` cell), each in a fresh scratch project with a fresh MLflow store, in one
invocation; the ratio ``mlops run / nbconvert`` is printed (goal: <= 1.2).

    python benchmarks/pipeline.py [--repeat N] [--notebook notebooks/quickstart.ipynb]
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

import nbformat

from jupyter_mlops.core.pipeline.parameters import inject_parameters

ROOT = Path(__file__).resolve().parents[1]
JUPYTER = str(Path(sys.executable).parent / "jupyter")
GOAL = 1.2


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    env.update({"MLFLOW_DISABLE_TELEMETRY": "true", "DVC_NO_ANALYTICS": "1"})
    return env


def time_nbconvert(notebook: Path, work: Path) -> float:
    """Seconds for ``jupyter nbconvert --execute`` of the notebook with demo_dir injected."""
    nb = inject_parameters(nbformat.read(notebook, as_version=4), {"demo_dir": str(work / "demo")})
    copy = work / notebook.name
    nbformat.write(nb, copy)
    start = time.perf_counter()
    subprocess.run(
        [JUPYTER, "nbconvert", "--to", "notebook", "--execute", "--output", "executed.ipynb",
         str(copy)],
        cwd=work, env=_env(), check=True, capture_output=True, text=True,
    )  # fmt: skip
    return time.perf_counter() - start


def time_mlops_run(notebook: Path, work: Path) -> float:
    """Seconds for ``jupyter mlops run`` (parent run, injection, HTML + notebook artifacts)."""
    copy = work / notebook.name
    copy.write_bytes(notebook.read_bytes())
    demo = work / "demo"
    start = time.perf_counter()
    subprocess.run(
        [JUPYTER, "mlops", "run", str(copy), "-p", f"demo_dir={demo}",
         "--tracking-uri", f"sqlite:///{demo}/mlflow.db", "-o", str(work / "executed.ipynb")],
        cwd=work, env=_env(), check=True, capture_output=True, text=True,
    )  # fmt: skip
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Run both ways ``--repeat`` times (alternating order) and print medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--notebook", type=Path, default=ROOT / "notebooks" / "quickstart.ipynb")
    args = parser.parse_args(argv)
    plain: list[float] = []
    ours: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        os.environ["JUPYTER_MLOPS_SPOOL_DIR"] = os.path.join(tmp, "journal")  # not the user's
        for i in range(args.repeat):
            order = [("nbconvert", plain), ("mlops", ours)]
            if i % 2:
                order.reverse()
            for name, times in order:
                work = Path(tmp) / f"{name}-{i}"
                work.mkdir()
                runner = time_nbconvert if name == "nbconvert" else time_mlops_run
                times.append(runner(args.notebook.resolve(), work))
                print(f"  {name:<10} run {i + 1}: {times[-1]:6.1f} s", flush=True)
    base, mine = statistics.median(plain), statistics.median(ours)
    ratio = mine / base
    print(f"jupyter nbconvert --execute : {base:6.1f} s (median of {len(plain)})")
    print(f"jupyter mlops run           : {mine:6.1f} s (median of {len(ours)})")
    verdict = "within" if ratio <= GOAL else "OVER"
    print(f"ratio mlops run / nbconvert : {ratio:.2f}x ({verdict} the {GOAL}x goal)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
