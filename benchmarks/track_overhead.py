"""What automatic capture costs: the same training cell untracked, hand-logged, and %%track.

    python benchmarks/track_overhead.py [--repeat 30]

(a) the cell untracked; (b) the cell plus hand-written ``mlflow.start_run`` +
``log_params``/``log_metrics``/``log_artifact`` of the same values; (c) the cell under
``%%track``. (b) and (c) share the autolog setting; both settings are measured. Runs are
interleaved so machine noise hits all three alike; medians in milliseconds are printed with
the ratio c/b (goal <= 1.15) and the absolute overhead c - a.
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

SETUP = """
import joblib, mlflow
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True)
"""

BODY = """C = 1.0
max_iter = 200
model = LogisticRegression(C=C, max_iter=max_iter).fit(X, y)
accuracy = model.score(X, y)
joblib.dump(model, "model.pkl")
"""

HAND = """with mlflow.start_run():
    C = 1.0
    max_iter = 200
    model = LogisticRegression(C=C, max_iter=max_iter).fit(X, y)
    accuracy = model.score(X, y)
    joblib.dump(model, "model.pkl")
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


def _time(shell, code: str) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = shell.run_cell(code)
    elapsed = (time.perf_counter() - start) * 1000
    if not result.success:
        raise SystemExit(
            f"benchmark cell failed: {result.error_in_exec or result.error_before_exec}"
        )
    return elapsed


def measure(shell, repeat: int, autolog: bool) -> dict[str, float]:  # type: ignore[no-untyped-def]
    import mlflow

    if autolog:
        mlflow.sklearn.autolog(log_models=False, log_datasets=False, silent=True)
    track = "%%track --quiet" + ("" if autolog else " --no-autolog") + "\n"
    cells = {"a": BODY, "b": HAND, "c": track + BODY}
    for code in cells.values():  # warm-up: imports, experiment, first-open of the store
        _time(shell, code)
    if autolog:  # %%track switches autolog off after its cell: (b) needs it on again
        cells["b"] = (
            "mlflow.sklearn.autolog(log_models=False, log_datasets=False, silent=True)\n" + HAND
        )
    times: dict[str, list[float]] = {k: [] for k in cells}
    for _ in range(repeat):
        for key, code in cells.items():
            times[key].append(_time(shell, code))
    if autolog:
        mlflow.sklearn.autolog(disable=True)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    home = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="track-bench-") as tmp:
        project = Path(tmp)
        subprocess.run(["git", "init", "-q"], cwd=project, check=True)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{project / 'mlflow.db'}"
        shell = _shell(project)
        print(
            f"{'autolog':<8} {'(a) untracked':>14} {'(b) by hand':>12} {'(c) %%track':>12} "
            f"{'c/b':>6} {'c-a ms':>8}"
        )
        for autolog in (False, True):
            m = measure(shell, args.repeat, autolog)
            print(
                f"{'on' if autolog else 'off':<8} {m['a']:>14.1f} {m['b']:>12.1f} "
                f"{m['c']:>12.1f} {m['c'] / m['b']:>6.2f} {m['c'] - m['a']:>8.1f}"
            )
        print(
            f"medians of {args.repeat} interleaved runs, milliseconds; goal c/b <= 1.15",
            file=sys.stderr,
        )
        os.chdir(home)


if __name__ == "__main__":
    main()
