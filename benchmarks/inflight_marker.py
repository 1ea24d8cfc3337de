"""What the in-flight marker costs a tracked cell whose run is created at delivery.

    python benchmarks/inflight_marker.py [--repeat 2000]

In one process, on a RunState of a typical 12-line cell (journal in a temp folder): (a) the
baseline, the cell-source masking the cell's end does anyway (a fresh source each time, so no
cache hit); (b) ``inflight.begin`` + ``inflight.end`` with a fresh source (it masks the source
first; the cell's end then finds it cached, so (a) moves rather than adds); (c) the same with
the masking cached: the marker's own cost (json + one small write, no fsync, + unlink).
Medians in ms; goal: (c) well under 0.5 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

CELL = "".join(
    [
        "import numpy as np\n",
        "learning_rate = 0.001\n",
        "epochs = 10\n",
        "batch_size = 64\n",
        "optimizer = 'adam'\n",
        "rows = np.arange(1000) * learning_rate\n",
        "loss = [float(r) for r in rows[:epochs]]\n",
        "accuracy = 1.0 - loss[-1]\n",
        "with open('weights.txt', 'w') as fh:\n",
        "    fh.write(str(accuracy))\n",
        "print('done', accuracy)\n",
        "score = accuracy * 0.5\n",
    ]
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["JUPYTER_MLOPS_SPOOL_DIR"] = os.path.join(tmp, "journal")
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        from jupyter_mlops.core.tracking import inflight, secrets
        from jupyter_mlops.core.tracking.options import TrackOptions
        from jupyter_mlops.core.tracking.runstate import RunState
        from jupyter_mlops.core.tracking.start import start_tags

        run = RunState(CELL, TrackOptions(experiment="bench", cell_id="cell-1"))
        run.record.tags.update(start_tags(run))
        times: dict[str, list[float]] = {"a": [], "b": [], "c": []}
        for i in range(args.repeat):
            run.source = f"{CELL}# {i}\n"
            start = time.perf_counter()
            secrets.mask_text(f"{CELL}# {i} baseline\n")
            times["a"].append((time.perf_counter() - start) * 1000)
            for key in "bc":  # b: fresh source, c: the same source again (mask cached)
                start = time.perf_counter()
                inflight.begin(run)
                inflight.end(run)
                times[key].append((time.perf_counter() - start) * 1000)
        assert not inflight.markers(), "markers left behind"
        a, b, c = (statistics.median(times[k]) for k in "abc")
        print(f"{'(a) baseline: mask the cell source':<48} {a:8.3f} ms")
        print(f"{'(b) marker begin + end, fresh source':<48} {b:8.3f} ms   b - a {b - a:+.3f} ms")
        print(f"{'(c) marker begin + end, masking cached':<48} {c:8.3f} ms")
        print(f"{'    p95 of (c)':<48} {sorted(times['c'])[int(0.95 * args.repeat)]:8.3f} ms")


if __name__ == "__main__":
    main()
