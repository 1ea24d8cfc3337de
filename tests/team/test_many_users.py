"""Many users, one auth-enabled server on PostgreSQL: 4 users x 2 kernels x 50 tracked cells.

Every run arrives (400/400), every artifact a cell wrote reads back byte for byte, and no user
can write into another's experiment (default READ): the refused cell still runs, and the next
tracked cell says why in one line. Artifacts go to the object store (the ``s3_store``
fixture, SeaweedFS) through the server's proxied artifact store (``artifacts_target``).
Needs ``JUPYTER_MLOPS_TEST_POSTGRES_URI`` (``tests/team/start_postgres.sh``).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from jupyter_client.manager import KernelManager

from jupyter_mlops.core.errors import PermissionDenied
from jupyter_mlops.core.store import get_client
from jupyter_mlops.core.team.object_store import ObjectStore

from .auth_helpers import AuthServer, start_auth_server
from .conftest import POSTGRES_ENV

pytestmark = [pytest.mark.team, pytest.mark.slow]

USERS, KERNELS = 4, 2
CELLS = int(os.environ.get("JUPYTER_MLOPS_TEST_CELLS_PER_KERNEL", "50"))


def payload(user: str, kernel: int, cell: int) -> bytes:
    """The bytes cell ``cell`` of ``kernel`` writes: distinct per run, 4 KiB."""
    return hashlib.sha256(f"{user}/{kernel}/{cell}".encode()).digest() * 128


@pytest.fixture(scope="module")
def artifacts_target(s3_store: ObjectStore) -> tuple[str, dict[str, str]]:
    """Where the server keeps artifacts, and the env it needs: a fresh prefix of the S3 store."""
    return s3_store.url(f"many-users-{uuid.uuid4().hex[:8]}"), s3_store.env()


@pytest.fixture(scope="module")
def pg_auth_server(
    tmp_path_factory: pytest.TempPathFactory, artifacts_target: tuple[str, dict[str, str]]
) -> Iterator[AuthServer]:
    """``jupyter mlops server --auth`` with tracking store and auth DB on the team PostgreSQL."""
    pg = os.environ.get(POSTGRES_ENV)
    if not pg:
        pytest.skip(f"{POSTGRES_ENV} not set (tests/team/start_postgres.sh)")
    destination, env = artifacts_target
    server = start_auth_server(
        tmp_path_factory.mktemp("pg-auth"),
        backend_uri=pg,
        auth_db_uri=pg,  # the auth app's own tables and migration table beside MLflow's
        admin=f"admin-{uuid.uuid4().hex[:8]}",  # the DB is shared across runs: a fresh admin
        workers=2,
        artifacts_destination=destination,
        env=env,
        extra_args=("--auth-cache-seconds", "30"),  # 400 runs: one password hash per 30 s
    )
    yield server
    server.stop()


@dataclass
class KernelSession:
    """One kernel acting as one user; collects what its cells printed."""

    user: str
    index: int
    experiment: str
    manager: KernelManager
    outputs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def run(self, code: str, timeout: float = 300.0) -> str:
        """Execute ``code``; its stdout/stderr text (errors recorded)."""
        client = self.manager.client()
        texts: list[str] = []

        def output(msg: dict) -> None:
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                texts.append(content["text"])
            elif kind == "error":
                self.errors.append(f"{content['ename']}: {content['evalue']}")

        try:
            client.start_channels()
            reply = client.execute_interactive(code, timeout=timeout, output_hook=output)
        finally:
            client.stop_channels()
        if reply["content"]["status"] != "ok":
            self.errors.append(str(reply["content"].get("evalue")))
        return "".join(texts)


def start_kernel(server: AuthServer, user: str, index: int, experiment: str, folder: Path):
    """A real IPython kernel with the user's credentials in its environment."""
    folder.mkdir(parents=True, exist_ok=True)
    env = server.env_of(user)
    env.update(
        JUPYTER_MLOPS_SPOOL_DIR=str(folder / "spool"),
        MLFLOW_HTTP_REQUEST_TIMEOUT="120",
        PYTHONPATH=os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])),
    )
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(env=env, cwd=str(folder))
    return KernelSession(user, index, experiment, manager)


def drive(session: KernelSession, victim_experiment: str) -> None:
    """Set up, run the tracked cells, then try the other user's experiment once."""
    session.run(f"%load_ext jupyter_mlops\n%mlops_experiment {session.experiment}\n")
    for cell in range(CELLS):
        code = (
            f"%%track -n k{session.index}-c{cell} --quiet\n"
            f"import hashlib\n"
            f"data = hashlib.sha256({f'{session.user}/{session.index}/{cell}'!r}.encode())"
            f".digest() * 128\n"
            f"with open('out-{session.index}-{cell}.bin', 'wb') as handle:\n"
            f"    handle.write(data)\n"
            f"score = {cell} * 0.5\n"
        )
        session.outputs.append(session.run(code))
    session.outputs.append(
        session.run(
            f"%%track -e {victim_experiment!r} -n intruder --quiet\nintruded = 'cell ran'\n"
        )
    )
    # The journal delivers in the background: wait for it, then the next tracked cell's line
    # says what the server refused at delivery
    wait = (
        "import jupyter_mlops\n"
        "print('delivered', jupyter_mlops.wait_for_delivery(600), intruded)\n"  # its result stands
    )
    session.outputs.append(session.run(wait, timeout=700))
    session.outputs.append(session.run("%%track -n after --quiet\nafter = 1\n"))
    session.outputs.append(session.run(wait, timeout=700))


def test_four_users_two_kernels_fifty_cells_each(
    pg_auth_server: AuthServer, tmp_path: Path
) -> None:
    server = pg_auth_server
    users = [server.add_user(f"u{i}") for i in range(USERS)]
    experiments = {user: f"team-{user}" for user in users}
    # Given each user's own experiment (its creator holds MANAGE; everyone else READ)
    for user in users:
        with server.as_user(user):
            get_client(server.url).create_experiment(experiments[user])
    sessions = [
        start_kernel(server, user, k, experiments[user], tmp_path / user / f"k{k}")
        for user in users
        for k in range(KERNELS)
    ]
    victims = {user: experiments[users[(i + 1) % USERS]] for i, user in enumerate(users)}
    started = time.monotonic()
    try:
        # When all 8 kernels run their cells at once, then try a neighbour's experiment
        threads = [threading.Thread(target=drive, args=(s, victims[s.user])) for s in sessions]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=1200)
    finally:
        for session in sessions:
            session.manager.shutdown_kernel(now=True)
    cells_s = time.monotonic() - started
    assert all(not s.errors for s in sessions), [s.errors for s in sessions if s.errors]
    # Then every tracked cell said nothing (quiet, nothing refused, nothing spooled)...
    for session in sessions:
        *cells, intruder, waited, after, waited_again = session.outputs
        assert all(out == "" for out in cells), session.outputs
        assert waited == waited_again == "delivered True cell ran\n", session.outputs
        # ...the intruding cell ran at once (its result stands), said nothing itself, and the
        # server's refusal at delivery is one line of the next tracked cell, naming the user
        # and the experiment
        assert intruder == "", intruder
        expected = (
            f"permission denied: {session.user} lacks EDIT on experiment {victims[session.user]!r}"
        )
        assert after.startswith("jupyter-mlops: run not logged: ") and expected in after, after
        assert after.count("\n") == 1 and server.passwords[session.user] not in after
    # And the server holds 400/400 runs, 100 per user, every artifact byte for byte
    checks = []
    with server.as_user(server.admin):
        client = get_client(server.url)
        for user in users:
            exp = client.get_experiment_by_name(experiments[user])
            found = client.search_runs([exp.experiment_id], max_results=1000)
            assert not [r for r in found if r.info.run_name == "intruder"]
            assert len([r for r in found if r.info.run_name == "after"]) == KERNELS
            runs = [r for r in found if r.info.run_name != "after"]
            assert len(runs) == KERNELS * CELLS and {r.info.status for r in runs} == {"FINISHED"}
            checks += [(user, run) for run in runs]

        def same_bytes(check: tuple) -> bool:
            user, run = check
            kernel, cell = (int(x[1:]) for x in run.info.run_name.split("-"))
            folder = tmp_path / "dl" / run.info.run_id
            local = client.download_artifacts(
                run.info.run_id, f"out-{kernel}-{cell}.bin", str(folder)
            )
            return Path(local).read_bytes() == payload(user, kernel, cell)

        with ThreadPoolExecutor(max_workers=8) as pool:
            verdicts = list(pool.map(same_bytes, checks))
    assert len(verdicts) == USERS * KERNELS * CELLS and all(verdicts)
    read_s = time.monotonic() - started - cells_s
    load = os.getloadavg()[0]
    print(f"{len(verdicts)} runs: kernels+cells {cells_s:.0f} s, read-back {read_s:.0f} s, "
          f"load {load:.1f}")  # fmt: skip
    # And a direct write into another user's run is refused too, as one line
    victim_run = runs[0].info.run_id  # the last user's run
    with server.as_user(users[0]):
        from jupyter_mlops.core.access import refusal

        with pytest.raises(Exception) as info:
            get_client(server.url).log_param(victim_run, "sneaky", "1")
        denied = refusal(info.value, "EDIT", f"run {victim_run}")
        assert isinstance(denied, PermissionDenied)
        assert str(denied) == f"permission denied: {users[0]} lacks EDIT on run {victim_run}"
