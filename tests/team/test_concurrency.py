"""Many writers at once: 8 processes x N runs against one server and one fresh sqlite file.

N is 6 here to keep the suite fast on 2 cores; ``JUPYTER_MLOPS_TEST_RUNS_PER_WRITER=50`` runs
the issue's full 8 x 50 (``benchmarks/faults.py`` reports those figures too).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_mlops.core.store import get_client
from jupyter_mlops.core.team.server import TeamServer

from .test_spool import runs_of

pytestmark = [pytest.mark.team, pytest.mark.slow]

PROCESSES, POINTS = 8, 5
RUNS = int(os.environ.get("JUPYTER_MLOPS_TEST_RUNS_PER_WRITER", "6"))

# One writer process: opens the store through get_client (the path every kernel takes), then
# logs RUNS runs of 1 param + POINTS metric points, each write retried on sqlite locks as the
# tracker does. Prints what it sent, so the test compares sent with stored.
WRITER = """
import json, sys
from mlflow.entities import Metric, Param
from jupyter_mlops.core.tracking.writer import retry_locked
from jupyter_mlops.core.store import get_client
from jupyter_mlops.core.tracking.cellrun import experiment_id

uri, experiment = sys.argv[1], sys.argv[2]
me, runs, points = map(int, sys.argv[3:])
client = get_client(uri)
try:
    exp = experiment_id(client, uri, experiment)
except Exception:  # another writer created it first
    exp = retry_locked(lambda: client.get_experiment_by_name(experiment)).experiment_id
sent = {"runs": 0, "points": 0}
for i in range(runs):
    run = retry_locked(lambda: client.create_run(exp, run_name=f"w{me}-{i}"))
    rid = run.info.run_id
    metrics = [Metric("loss", 1.0 / (s + 1), 1_700_000_000_000 + s, s) for s in range(points)]
    retry_locked(lambda: client.log_batch(rid, metrics=metrics, params=[Param("writer", str(me))]))
    retry_locked(lambda: client.set_terminated(rid, "FINISHED"))
    sent["runs"] += 1
    sent["points"] += len(metrics)
print(json.dumps(sent))
"""


def run_writers(uri: str, experiment: str) -> tuple[int, int]:
    """Start all writers at once; return (runs, points) they report as sent."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, uri, experiment, str(i), str(RUNS), str(POINTS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(PROCESSES)
    ]
    sent_runs = sent_points = 0
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        sent = json.loads(out.strip().splitlines()[-1])
        sent_runs += sent["runs"]
        sent_points += sent["points"]
    return sent_runs, sent_points


def stored(uri: str, experiment: str) -> tuple[int, int, set[str]]:
    """(runs, metric points, distinct run names) the store holds for ``experiment``."""
    client = get_client(uri)
    runs = runs_of(client, experiment)
    points = sum(len(client.get_metric_history(r.info.run_id, "loss")) for r in runs)
    return len(runs), points, {r.info.run_name for r in runs}


def check_all_arrived(uri: str, experiment: str) -> None:
    sent_runs, sent_points = run_writers(uri, experiment)
    got_runs, got_points, names = stored(uri, experiment)
    print(f"{uri}: sent {sent_runs} runs / {sent_points} points, stored {got_runs} / {got_points}")
    assert sent_runs == PROCESSES * RUNS and sent_points == PROCESSES * RUNS * POINTS
    assert (got_runs, got_points) == (sent_runs, sent_points)
    assert len(names) == PROCESSES * RUNS


def test_eight_writers_against_one_server(team_server: TeamServer, experiment_name: str) -> None:
    check_all_arrived(team_server.url, experiment_name)


def test_eight_writers_opening_one_fresh_sqlite_file(tmp_path: Path) -> None:
    db = tmp_path / "fresh" / "mlflow.db"
    assert not db.exists()
    check_all_arrived(f"sqlite:///{db}", "shared")
