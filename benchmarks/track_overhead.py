"""What automatic capture costs: the same training cell untracked, hand-logged, and %%track.

    python benchmarks/track_overhead.py [--repeat 30] [--cpu]

(a) the cell untracked; (b) the cell plus hand-written ``mlflow.start_run`` +
``log_params``/``log_metrics``/``log_artifact`` of the same values; (c) the cell under
``%%track``. With autolog on, (b) runs under MLflow's own sklearn autolog (switched on for that
cell only) and (c) under ours (``core/tracking/estimators``: estimator params and training
metrics in the record). Runs are interleaved so machine noise hits all alike; medians in
milliseconds are printed with the ratio c/b, the overhead c - a, and for autolog on the share
of the estimator capture (c on - c off).
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--cpu", action="store_true", help="CPU time of the cell's thread")
    args = parser.parse_args()
    global CLOCK
    if args.cpu:
        CLOCK = time.thread_time
    home = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="track-bench-") as tmp:
        project = Path(tmp)
        subprocess.run(["git", "init", "-q"], cwd=project, check=True)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{project / 'mlflow.db'}"
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
            "milliseconds; goal c/b <= 1.15",
            file=sys.stderr,
        )
        os.chdir(home)


if __name__ == "__main__":
    main()
