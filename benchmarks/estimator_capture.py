"""What capturing a scikit-learn fit costs: ours against MLflow's sklearn autolog, same fit.

    python benchmarks/estimator_capture.py [--repeat 40]

For the iris LogisticRegression fit of ``track_overhead.py``, in one process with a sqlite
store: (a) the fit alone; (b) the fit under MLflow's sklearn autolog inside an open run (as
``%%track`` used it: no models, no datasets); (c) the fit noted by ``core/tracking/estimators``
plus turning it into record params, metrics and tags (what ``%%track`` now does; written later
by the writer with the rest of the record). Interleaved; minimum and median in milliseconds
(the minimum is the figure least disturbed by a loaded machine).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
warnings.filterwarnings("ignore")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args()
    import mlflow
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from jupyter_mlops.core.mlflow_internals import autolog_config
    from jupyter_mlops.core.tracking import estimators
    from jupyter_mlops.core.tracking.options import TrackOptions
    from jupyter_mlops.core.tracking.runstate import RunState

    X, y = load_iris(return_X_y=True)
    with tempfile.TemporaryDirectory(prefix="capture-bench-") as tmp:
        mlflow.set_tracking_uri(f"sqlite:///{Path(tmp) / 'mlflow.db'}")
        mlflow.sklearn.autolog(log_models=False, log_datasets=False, silent=True)
        config = autolog_config("sklearn")
        config["disable"] = True

        def plain() -> None:
            LogisticRegression(C=1.0, max_iter=200).fit(X, y)

        def mlflow_autolog() -> None:
            config["disable"] = False
            try:
                with mlflow.start_run():
                    plain()
            finally:
                config["disable"] = True

        def ours() -> None:
            state = RunState("", TrackOptions(), cwd=Path(tmp))
            estimators.begin()
            plain()
            estimators.add_fits_to_record(state, estimators.end())
            assert state.record.metrics

        def run_only() -> None:  # (b) includes opening/closing a run: subtract it
            with mlflow.start_run():
                pass

        cases = {"a": plain, "b": mlflow_autolog, "c": ours, "run": run_only}
        for call in cases.values():
            call()
        times: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.repeat):
            for key, call in cases.items():
                start = time.perf_counter()
                call()
                times[key].append((time.perf_counter() - start) * 1000)
    low = {k: min(v) for k, v in times.items()}
    mid = {k: statistics.median(v) for k, v in times.items()}
    print(f"{'':34} {'min ms':>8} {'median ms':>10}")
    print(f"{'(a) fit alone':34} {low['a']:8.1f} {mid['a']:10.1f}")
    b_low, b_mid = low["b"] - low["run"], mid["b"] - mid["run"]
    print(f"{'(b) MLflow autolog (run excluded)':34} {b_low:8.1f} {b_mid:10.1f}")
    print(f"{'(c) our capture':34} {low['c']:8.1f} {mid['c']:10.1f}")
    print(
        f"capture cost over the fit: MLflow {b_low - low['a']:.1f} ms, ours "
        f"{low['c'] - low['a']:.1f} ms (minimums of {args.repeat})"
    )


if __name__ == "__main__":
    main()
