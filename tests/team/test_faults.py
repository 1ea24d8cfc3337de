"""Kill the tracking server in the middle of a notebook run (nbclient, real kernel), restart it,
sync; then compare what the notebook counted with what the server holds."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from jupyter_mlops.cli import main as cli_main
from jupyter_mlops.core.store import get_client
from jupyter_mlops.core.team.server import TeamServer
from jupyter_mlops.core.tracking import spool

from .test_spool import runs_of

pytestmark = [pytest.mark.team, pytest.mark.slow]

PER_PHASE = 4


def wait_cell(flag: str, then: str = "") -> str:
    """Source that touches ``then`` (when given) and waits, bounded, for file ``flag``."""
    touch = f"Path({then!r}).touch()\n" if then else ""
    return (
        f"{touch}for _ in range(1200):\n"
        f"    if Path({flag!r}).exists():\n        break\n    time.sleep(0.1)\n"
        f"else:\n    raise TimeoutError({flag!r})\n"
    )


def tracked(name: str, extra: str = "") -> str:
    """A tracked cell logging a 5-step history and a scalar; the notebook counts them."""
    return (
        f"%%track -n {name}\n{extra}"
        f"curve = [state['seed'] * 0.01 + k for k in range(5)]\n"
        f"total = sum(curve)\n"
        f"state['seed'] += 1\n"
        f"counted['runs'] += 1\ncounted['points'] += len(curve) + 1\n"
    )


def fault_notebook(url: str, experiment: str, flags: Path) -> nbformat.NotebookNode:
    """Online cells, a cell during which the server dies, offline cells, online cells again."""
    f = {k: str(flags / k) for k in ("in_cell", "killed", "offline_done", "back")}
    cells = [
        "import time\nfrom pathlib import Path\n%load_ext jupyter_mlops\n"
        f"%config MlopsMagics.tracking_uri = {url!r}\n%mlops_experiment {experiment}\n"
        "counted = {'runs': 0, 'points': 0}\nstate = {'seed': 0}\n",
        *(tracked(f"online-{i}") for i in range(PER_PHASE)),
        tracked("mid-cell", wait_cell(f["killed"], then=f["in_cell"])),
        *(tracked(f"offline-{i}") for i in range(PER_PHASE)),
        wait_cell(f["back"], then=f["offline_done"]),
        *(tracked(f"back-{i}") for i in range(PER_PHASE)),
        "import json\nprint(json.dumps(counted))\n",
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def test_server_killed_mid_notebook_then_sync_loses_and_duplicates_nothing(
    own_server: TeamServer,
    experiment_name: str,
    tmp_path: Path,
    project: Path,
    wait_for: Callable[..., bool],
) -> None:
    # Given a notebook of tracked cells executing in a real kernel against the server
    flags = tmp_path / "flags"
    flags.mkdir()
    nb = fault_notebook(own_server.url, experiment_name, flags)
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(project)}}
    )
    failure: list[BaseException] = []
    runner = threading.Thread(target=lambda: _execute(client, failure), daemon=True)
    runner.start()

    # When the server is SIGKILLed while a tracked cell runs, stays down for several cells,
    # and comes back on the same port before the notebook's last cells
    assert wait_for(lambda: (flags / "in_cell").exists() or not runner.is_alive(), timeout=300)
    assert not failure, failure
    own_server.kill()
    (flags / "killed").touch()
    assert wait_for(lambda: (flags / "offline_done").exists() or not runner.is_alive(), 300)
    assert not failure, failure
    spooled_while_down = spool.pending_runs()
    own_server.start()
    (flags / "back").touch()
    runner.join(timeout=300)
    assert not runner.is_alive() and not failure, failure
    counted = json.loads(nb.cells[-1].outputs[0]["text"])
    assert cli_main(["sync", "--tracking-uri", own_server.url]) == 0

    # Then every run and metric point the notebook counted is on the server exactly once
    server = get_client(own_server.url)
    runs = runs_of(server, experiment_name)
    names = sorted(r.info.run_name for r in runs)
    held = {
        r.info.run_name: {
            k: len(server.get_metric_history(r.info.run_id, k)) for k in r.data.metrics
        }
        for r in runs
    }
    points = sum(sum(keys.values()) for keys in held.values())
    print(
        f"spooled while down: {spooled_while_down}; notebook counted {counted}; "
        f"server holds {len(runs)} runs / {points} points"
    )
    # every run made while the server was down waits in the journal (and maybe some made just
    # before, which the journal's worker had not delivered yet)
    assert spooled_while_down >= PER_PHASE + 1
    assert counted == {"runs": 3 * PER_PHASE + 1, "points": 6 * (3 * PER_PHASE + 1)}
    assert len(names) == len(set(names)) == counted["runs"]
    assert points == counted["points"], held
    assert all(r.info.status == "FINISHED" for r in runs)
    assert spool.pending_runs() == 0


def _execute(client: NotebookClient, failure: list[BaseException]) -> None:
    try:
        client.execute()
    except BaseException as exc:  # reported by the test thread
        failure.append(exc)
