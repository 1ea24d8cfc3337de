"""Refused entries go back into the journal once allowed: ``jupyter mlops sync --requeue`` (and
``%mlops_sync --requeue``) on a real ``jupyter mlops server --auth``; corrupt entries stay; the
kind of a refusal (403 vs 401) comes from ``PermissionDenied.kind``, not from its words."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import PERMISSION_DENIED, UNAUTHENTICATED

from jupyter_mlops.core import access
from jupyter_mlops.core.errors import KIND_FORBIDDEN, KIND_UNAUTHENTICATED, PermissionDenied
from jupyter_mlops.core.store import get_client
from jupyter_mlops.core.tracking import quarantine, spool

from .auth_helpers import AuthServer
from .test_permissions import cli, tracked


def test_a_refusal_says_its_kind() -> None:
    # Given MLflow's own 403 and 401 errors, and our own refusals
    forbidden = MlflowException("no", error_code=PERMISSION_DENIED)
    unauthenticated = MlflowException("who?", error_code=UNAUTHENTICATED)
    # Then the translated refusal carries the kind, whatever its words
    denied = access.refusal(forbidden, "EDIT", "experiment 'x'")
    assert isinstance(denied, PermissionDenied) and denied.kind == KIND_FORBIDDEN
    assert access.refusal(unauthenticated, "EDIT", "experiment 'x'").kind == KIND_UNAUTHENTICATED
    assert access.not_authenticated().kind == KIND_UNAUTHENTICATED
    assert access.refusal(ValueError("other"), "EDIT", "experiment 'x'") is None
    # And a refusal raised from a refusal keeps its kind
    try:
        raise RuntimeError("wrapped") from access.not_authenticated()
    except RuntimeError as exc:
        assert access.refusal(exc, "READ", "model 'm'").kind == KIND_UNAUTHENTICATED


def test_requeue_and_status_together_are_one_usage_line(tmp_path: Path, shell) -> None:
    from IPython.core.error import UsageError

    from jupyter_mlops.cli import main

    assert main(["sync", "--requeue", "--status"]) == 64
    assert main(["sync", "--requeue", "--spool-dir", str(tmp_path / "missing")]) == 64
    with pytest.raises(UsageError, match=r"^%mlops_sync: --status only reports"):
        shell.run_line_magic("mlops_sync", "--requeue --status")


@pytest.mark.team
@pytest.mark.slow
def test_refused_run_is_delivered_once_with_its_timestamps_after_a_grant(
    auth_server: AuthServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    alice, bob = auth_server.add_user("alice"), auth_server.add_user("bob")
    experiment = f"alice-exp-{uuid.uuid4().hex[:6]}"
    journal = Path(os.environ["JUPYTER_MLOPS_SPOOL_DIR"])
    with auth_server.as_user(alice):
        tracked(auth_server, experiment, tmp_path / "a")
    # Given bob's cell into alice's experiment, refused (403) and quarantined at delivery, and a
    # corrupt entry quarantined beside it
    broken = spool.spool_run(spool.RunRecord(experiment), journal, tracking_uri=auth_server.url)
    (broken / spool.ENTRY_FILE).write_text('{"version": 1, "rec')
    with auth_server.as_user(bob):
        refused, _ = tracked(auth_server, experiment, tmp_path / "b", lr=0.1)
    held = sorted(p.name for p in quarantine.quarantine_dir(journal).iterdir())
    assert len(held) == 2 and spool.pending_runs(journal) == 0
    (bob_id,) = [n for n in held if n != broken.name]
    kept = quarantine.quarantine_dir(journal) / bob_id
    assert quarantine.kind_of(kept) == quarantine.REFUSED
    assert quarantine.kind_of(quarantine.quarantine_dir(journal) / broken.name) == "corrupt"
    original = json.loads((kept / spool.ENTRY_FILE).read_text())["record"]
    # When alice (MANAGE, as the experiment's creator) grants bob EDIT and bob requeues
    code, _, err = cli(auth_server, alice, "users", "grant", bob, "--experiment", experiment,
                       "--permission", "EDIT")  # fmt: skip
    assert code == 0, err
    code, out, err = cli(auth_server, bob, "sync", "--requeue")
    # Then one line says it was moved back, one that the corrupt one stayed, and it arrived
    assert code == 0, out + err
    lines = out.splitlines()
    assert [line for line in lines if line.startswith("requeued ")] == [
        f"requeued {bob_id} (was: permission denied: {bob} lacks EDIT on experiment {experiment!r})"
    ]
    corrupt_reason = (quarantine.quarantine_dir(journal) / broken.name / "reason.txt").read_text()
    assert corrupt_reason.startswith("corrupted spool entry (")
    assert [line for line in lines if line.startswith("kept ")] == [
        f"kept {broken.name}: corrupt ({corrupt_reason.strip()})"
    ]
    assert "replayed 1 spooled run(s)" in lines[-1]
    # And the run is there once, with the cell's own start and end times and params
    with auth_server.as_user(alice):
        client = get_client(auth_server.url)
        exp_id = client.get_experiment_by_name(experiment).experiment_id
        runs = client.search_runs(
            [exp_id], filter_string=f"tags.`jupyter_mlops.spool.id` = '{bob_id}'"
        )
    (run,) = runs
    assert run.info.start_time == original["start_time_ms"]
    assert run.info.end_time == original["end_time_ms"]
    assert run.data.params["lr"] == "0.1" and run.info.status == "FINISHED"
    assert run.data.tags["mlflow.user"] == refused.record.tags["mlflow.user"]
    # And a second requeue moves nothing and makes no second run
    code, out, err = cli(auth_server, bob, "sync", "--requeue")
    assert code == 0 and not any(line.startswith("requeued ") for line in out.splitlines())
    with auth_server.as_user(alice):
        assert len(client.search_runs([exp_id])) == 2
    assert [p.name for p in quarantine.quarantine_dir(journal).iterdir()] == [broken.name]


def test_mlops_sync_requeue_in_a_shell_moves_back_what_the_store_refused(
    shell, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlflow.tracking import MlflowClient

    # Given an entry the store refused (its run was deleted: MLflow refuses writes to it)
    client = MlflowClient(tracking_uri)
    exp = client.create_experiment("restored")
    run = client.create_run(exp)
    client.delete_run(run.info.run_id)
    record = spool.RunRecord("restored", run_id=run.info.run_id, status="FINISHED")
    record.params = {"alpha": "0.5"}
    entry = spool.spool_run(record, tracking_uri=tracking_uri)
    shell.run_line_magic("mlops_sync", "")
    assert quarantine.kind_of(quarantine.quarantine_dir(entry.parent) / entry.name) == "refused"
    capsys.readouterr()
    # When the run is restored and the refused entry requeued
    client.restore_run(run.info.run_id)
    shell.run_line_magic("mlops_sync", "--requeue")
    # Then one line says so, and the run got what was refused
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"requeued {entry.name} (was: ") and len(out) == 2
    assert out[1].startswith("replayed 1 spooled run(s)")
    done = client.get_run(run.info.run_id)
    assert done.data.params == {"alpha": "0.5"} and done.info.status == "FINISHED"
    assert not any(quarantine.quarantine_dir(entry.parent).iterdir())
