"""What the code slice adds to a tracked cell after a long session (goal: <= 5 ms at 300 cells).

    python benchmarks/slice.py [--cells 300] [--repeat 50]

A synthetic session of N executions (imports, data loads, in-place changes, helpers, cells run
again after edits, magics, shell lines) is recorded; then, per tracked cell: (a) ours — the new
execution parsed once and indexed, the backward slice, the two artifact texts and the file
hazard check (git answer cached); (b) the baseline measured in the same run — the same slice
rebuilt from scratch, every execution of the session parsed again. Medians in milliseconds.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jupyter_mlops.core.reproduce.hazards import add_file_hazards
from jupyter_mlops.core.reproduce.history import SessionHistory
from jupyter_mlops.core.reproduce.slicing import compute_slice

TEMPLATES = [
    "import pandas as pd\nimport numpy as np",
    "df{i} = pd.read_csv('data/part{j}.csv')",
    "df{j}.dropna(inplace=True)\ndf{j}['x'] = df{j}['x'] * {i}",
    "def helper{i}(frame):\n    total = 0\n    for v in frame['x']:\n        total += v * scale\n"
    "    return total",
    "scale = {i}",
    "summary{i} = df{j}.describe()\nprint(summary{i})",
    "items{j} = []\nfor k in range({i}):\n    items{j}.append(k ** 2)",
    "!wc -l data/part{j}.csv",
    "%env STEP={i}",
    "class Model{i}:\n    def __init__(self, c):\n        self.c = c\n    def fit(self, x):\n"
    "        self.w = helper{j}(x) * self.c\n        return self",
    "m{i} = Model{j}({i}).fit(df{j})\nscore{i} = m{i}.w / (1 + len(items{j}))",
    "np.random.seed({i})\nnoise = np.random.rand(10)",
]
TRACKED = "%%track\nresult = helper{j}(df{j}) + score{k} + noise.sum()"


def session_sources(cells: int) -> list[str]:
    """N executions cycling through the templates, names reused so slices stay non-trivial."""
    out = []
    for i in range(cells):
        template = TEMPLATES[i % len(TEMPLATES)]
        j = max(0, i - (i % len(TEMPLATES)) - len(TEMPLATES) * (i % 3)) // 1
        out.append(template.format(i=i, j=j % max(i, 1)))
    return out


def make_project(folder: Path) -> None:
    """A git repo with the data files the session reads (so the hazard check does real work)."""
    subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
    (folder / "data").mkdir()
    for j in range(0, 300, 1):
        (folder / "data" / f"part{j}.csv").write_text("x\n1\n")
    subprocess.run(["git", "add", "data"], cwd=folder, check=True)


def ours(history: SessionHistory, count: int, source: str, cwd: Path) -> tuple[float, int]:
    start = time.perf_counter()
    history.record(count, source)
    code_slice = compute_slice(history, cwd=".")
    add_file_hazards(code_slice, cwd)
    code_slice.texts()
    elapsed = (time.perf_counter() - start) * 1000
    history.executions.pop()  # the next repetition records the tracked cell afresh
    for events in history.events.values():
        while events and events[-1][0] >= len(history.executions):
            events.pop()
    return elapsed, len(code_slice.entries)


def baseline(sources: list[str], source: str, cwd: Path) -> float:
    start = time.perf_counter()
    history = SessionHistory()
    for count, text in enumerate([*sources, source], start=1):
        history.record(count, text)
    code_slice = compute_slice(history, cwd=".")
    add_file_hazards(code_slice, cwd)
    code_slice.texts()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    """Print medians of ours and the baseline, and whether the goal is met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["JUPYTER_MLOPS_SPOOL_DIR"] = os.path.join(tmp, "journal")  # not the user's
        make_project(folder)
        os.chdir(folder)
        sources = session_sources(args.cells)
        history = SessionHistory()
        for count, text in enumerate(sources, start=1):
            history.record(count, text)
        ours_ms, base_ms, size = [], [], 0
        for r in range(args.repeat):
            k = (args.cells - 2) - (r % 12) * 1
            tracked = TRACKED.format(j=0, k=k - k % len(TEMPLATES) + 10)
            elapsed, size = ours(history, args.cells + 1, tracked, folder)
            ours_ms.append(elapsed)
            if r % 5 == 0:
                base_ms.append(baseline(sources, tracked, folder))
        a, b = statistics.median(ours_ms), statistics.median(base_ms)
        print(f"session: {args.cells} executions; slice of the tracked cell: {size} entries")
        print(f"ours (incremental, parsed once):  median {a:7.3f} ms  (goal <= 5 ms)")
        print(f"baseline (re-parse the session):  median {b:7.3f} ms")
        print(f"ratio ours/baseline: {a / b:.3f}; goal {'met' if a <= 5 else 'NOT met'}")


if __name__ == "__main__":
    main()
