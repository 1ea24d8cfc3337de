"""What auto-track mode costs a cell it leaves untracked.

    python benchmarks/autotrack.py [--repeat 2000]

In one InteractiveShell: (a) a small untracked cell with auto-track off, (b) the same cell with
auto-track on (its choice cached: the cell was seen before), interleaved; then the choice alone
for cells never seen before (first sight: parse + analysis) and seen before (cache hit), on a
small cell and on a 300-line cell that has to be parsed. Medians in ms; goal b - a <= 1 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

SMALL = "rows = [r * 2 for r in range(10)]\ntotal = sum(rows)\n"
# mentions "score", so the choice has to parse it (the worst case for a cell it leaves alone)
LARGE = "".join(
    f"value_{i} = {{'k': [{i}, {i} + 1]}}\nprint('score', value_{i})\n" for i in range(150)
)


def _median_ms(call, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    from jupyter_mlops.magics.autotrack import autotrack_transform, chooses, set_autotrack

    cfg = Config()
    cfg.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=cfg)
    shell.run_line_magic("load_ext", "jupyter_mlops")
    times: dict[str, list[float]] = {"a": [], "b": []}
    for _ in range(args.repeat):
        for key, on in (("a", False), ("b", True)):
            set_autotrack(shell, on)
            start = time.perf_counter()
            shell.run_cell(SMALL)
            times[key].append((time.perf_counter() - start) * 1000)
    set_autotrack(shell, True)
    a, b = (statistics.median(times[k]) for k in "ab")
    print(f"{'(a) untracked cell, auto-track off':<44} {a:8.3f} ms")
    print(f"{'(b) untracked cell, auto-track on':<44} {b:8.3f} ms   b - a {b - a:+.3f} ms")
    for name, source in (("small", SMALL), (f"{LARGE.count(chr(10))}-line", LARGE)):
        lines = source.splitlines(keepends=True)
        counter = iter(range(10**9))

        def first_sight(src: str = source, numbers=counter) -> None:  # type: ignore[no-untyped-def]
            chooses(f"{src}# {next(numbers)}\n")

        hit = _median_ms(lambda lines=lines: autotrack_transform(lines), args.repeat)
        fresh = _median_ms(first_sight, max(args.repeat // 10, 20))
        print(f"choice, {name} cell: first sight {fresh:7.3f} ms, seen before {hit:7.4f} ms")
    print(f"medians of {args.repeat} runs; goal b - a <= 1 ms")


if __name__ == "__main__":
    main()
