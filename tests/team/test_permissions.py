"""Permissions on a real ``jupyter mlops server --auth`` (MLflow's basic-auth app, sqlite stores):
set-up files, users and grants through the CLI, refused writes and promotions as one line, the
registry widget's disabled Promote, and credentials that never show up in what we log."""

from __future__ import annotations

import html
import json
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from jupyter_mlops.core.errors import PermissionDenied
from jupyter_mlops.core.models import promotion
from jupyter_mlops.core.store import get_client
from jupyter_mlops.core.team.sync import delivery_status
from jupyter_mlops.core.tracking.cellrun import track
from jupyter_mlops.core.tracking.journal import wait_for_delivery

from .auth_helpers import AuthServer

pytestmark = [pytest.mark.team, pytest.mark.slow]

SOURCE = "alpha = 0.5\nscore = alpha * 2\n"


@pytest.fixture(autouse=True)
def _patient_http(monkeypatch: pytest.MonkeyPatch) -> None:
    """A loaded CI box answers slowly: a 3 s timeout would retry a create that succeeded."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")


def cli(server: AuthServer, user: str | None, *args: str, stdin: str = "") -> tuple[int, str, str]:
    """``jupyter mlops ...`` as a child process acting as ``user``."""
    env = server.env_of(user) if user else {**os.environ, "MLFLOW_TRACKING_URI": server.url}
    if user is None:
        env.pop("MLFLOW_TRACKING_USERNAME", None)
        env.pop("MLFLOW_TRACKING_PASSWORD", None)
    proc = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, proc.stdout, proc.stderr


def tracked(
    server: AuthServer, experiment: str, folder: Path, wait: bool = True, **params: object
) -> tuple:
    """One tracked block (``track()``, the twin of ``%%track``); its result and scope."""
    scope: dict = {}
    here = Path.cwd()
    folder.mkdir(parents=True, exist_ok=True)
    os.chdir(folder)
    try:
        with track(
            experiment, source=SOURCE, namespace=scope, tracking_uri=server.url, quiet=True,
            autolog=False, params=params,
        ) as run:  # fmt: skip
            exec(SOURCE, scope)
    finally:
        os.chdir(here)
    if wait:  # delivered in the background with the credentials of now: wait while they hold
        assert wait_for_delivery(60)
    return run, scope


def test_server_auth_writes_private_files_and_never_prints_the_password(
    auth_server: AuthServer,
) -> None:
    # Given a server started with --auth
    auth = auth_server.folder / "auth"
    password = auth_server.admin_password
    # Then the admin password, session secret and ini are 0600 in a 0700 folder
    assert len(password) >= 24
    for name in ("admin-password", "flask-secret", "basic_auth.ini"):
        assert stat.S_IMODE((auth / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE(auth.stat().st_mode) == 0o700
    assert "default_permission = READ" in (auth / "basic_auth.ini").read_text()
    # And what it printed names the file and how to add users, never the password itself
    printed = "".join(auth_server.lines)
    assert password not in printed
    assert str(auth / "admin-password") in printed
    assert "jupyter mlops users add" in printed and "users grant" in printed
    log = "".join(p.read_text(errors="replace") for p in auth_server.folder.glob("mlflow-*.log"))
    assert password not in log


def test_users_cli_adds_grants_and_refuses_bad_input_in_one_line(auth_server: AuthServer) -> None:
    name = f"carol-{uuid.uuid4().hex[:6]}"
    admin = auth_server.admin
    # When the admin adds a user with a password from stdin
    code, out, err = cli(auth_server, admin, "users", "add", name, "--password-stdin",
                         stdin="carol-password-123\n")  # fmt: skip
    assert (code, err) == (0, ""), err
    assert "carol-password-123" not in out
    auth_server.passwords[name] = "carol-password-123"
    # Then the new user can talk to the server with those credentials
    with auth_server.as_user(name):
        get_client(auth_server.url).search_experiments(max_results=1)
    # And bad input is one line and exit 64
    bad = [
        ("users", "grant", name, "--model", "x", "--permission", "ROOT"),
        ("users", "grant", name, "--permission", "READ"),
        ("users", "grant", name, "--model", "m", "--experiment", "e", "--permission", "READ"),
        ("users", "grant", name, "--experiment", "no-such-exp-zz", "--permission", "READ"),
        ("users", "grant", "nobody-" + name, "--experiment", "Default", "--permission", "EDIT"),
        ("users", "add", name, "--password-stdin"),  # exists already
        ("users", "add", "bad name"),
    ]
    for args in bad:
        code, _, err = cli(auth_server, admin, *args, stdin="x-password-123\n")
        assert code == 64, (args, err)
        assert err.count("\n") == 1 and err.startswith("jupyter mlops"), (args, err)
    # And a non-admin, or a wrong password, gets 77 and one line
    code, _, err = cli(auth_server, name, "users", "add", f"x{name}", "--password-stdin",
                       stdin="x-password-123\n")  # fmt: skip
    assert code == 77 and err.count("\n") == 1 and "permission denied" in err, err
    env_user = auth_server.passwords[name]
    auth_server.passwords[name] = "wrong-password"
    code, _, err = cli(auth_server, name, "users", "grant", name, "--experiment", "Default",
                       "--permission", "EDIT")  # fmt: skip
    auth_server.passwords[name] = env_user
    assert code == 77 and "not authenticated" in err and "wrong-password" not in err, err


def test_cross_user_write_is_refused_in_one_line_and_the_cell_result_stands(
    auth_server: AuthServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alice, bob = auth_server.add_user("alice"), auth_server.add_user("bob")
    experiment = f"alice-exp-{uuid.uuid4().hex[:6]}"
    # Given alice's experiment with one run of hers (she gets MANAGE as its creator)
    with auth_server.as_user(alice):
        mine, _ = tracked(auth_server, experiment, tmp_path / "a")
    assert mine.record.run_id and not mine.messages
    # When bob tracks a cell into it (default READ: he may look, not write)
    with auth_server.as_user(bob):
        refused, scope = tracked(auth_server, experiment, tmp_path / "b")
    # Then the cell ran without waiting on the server and its result stands
    assert scope["score"] == 1.0 and refused.record.run_id is None
    # And the store's refusal at delivery set that entry aside (never retried into a wall, no
    # other entry held up): the next cell's line says why it was not logged, in one line
    reason = f"permission denied: {bob} lacks EDIT on experiment {experiment!r}"
    with auth_server.as_user(bob):
        again, _ = tracked(auth_server, experiment, tmp_path / "b2")
    assert [m for m in again.messages if reason in m] == again.messages
    assert len(again.messages) == 1 and again.messages[0].startswith("run not logged: ")
    assert "\n" not in again.messages[0]
    assert auth_server.passwords[bob] not in capsys.readouterr().err
    # And nothing stays pending for a replay that would be refused again
    spool = Path(os.environ["JUPYTER_MLOPS_SPOOL_DIR"])
    assert not spool.exists() or not [p for p in spool.iterdir() if not p.name.startswith(".")]
    assert delivery_status().quarantined == 2
    with auth_server.as_user(alice):
        client = get_client(auth_server.url)
        exp_id = client.get_experiment_by_name(experiment).experiment_id
        assert len(client.search_runs([exp_id])) == 1
    # When the admin grants bob EDIT through the CLI, his next tracked cell is logged
    code, out, err = cli(auth_server, auth_server.admin, "users", "grant", bob,
                         "--experiment", experiment, "--permission", "EDIT")  # fmt: skip
    assert code == 0, err
    assert f"{bob} now has EDIT on experiment {experiment!r}" in out
    with auth_server.as_user(bob):
        logged, _ = tracked(auth_server, experiment, tmp_path / "c", token="s3cr3t")
    assert logged.record.run_id
    assert len(logged.messages) == 1 and reason in logged.messages[0]  # the second refused cell
    with auth_server.as_user(alice):
        assert len(get_client(auth_server.url).search_runs([exp_id])) == 2
        run = get_client(auth_server.url).get_run(logged.record.run_id)
    # And no credential reached the run (params, tags) — the password is in the environment
    text = json.dumps([run.data.params, run.data.tags])
    assert auth_server.passwords[bob] not in text and "s3cr3t" not in text


def _model_of(server: AuthServer, owner: str, tmp_path: Path) -> tuple[str, list[str]]:
    """A registered model created by ``owner`` with two versions."""
    name = f"churn-{uuid.uuid4().hex[:6]}"
    with server.as_user(owner):
        run, _ = tracked(server, f"models-{name}", tmp_path / name)
        client = get_client(server.url)
        client.create_registered_model(name)
        versions = [
            client.create_model_version(
                name, f"runs:/{run.record.run_id}/model", run_id=run.record.run_id
            ).version
            for _ in range(2)
        ]
    return name, [str(v) for v in versions]


def test_promote_needs_manage_widget_disables_and_forced_calls_get_one_line(
    auth_server: AuthServer, tmp_path: Path
) -> None:
    from jupyter_mlops.widgets.registry import RegistryWidget

    owner, viewer = auth_server.add_user("owner"), auth_server.add_user("viewer")
    model, (v1, v2) = _model_of(auth_server, owner, tmp_path)
    line = f"permission denied: {viewer} lacks MANAGE on model {model!r}"
    # Given the viewer holds only the default READ on the owner's model
    with auth_server.as_user(viewer):
        widget = RegistryWidget(model, tracking_uri=auth_server.url)
        # Then the widget shows the versions but every alias button is disabled with the reason
        assert [v.version for v in widget.versions] == [v2, v1]
        for button in (widget.promote_button, widget.challenger_button, widget.alias_button,
                       widget.remove_button):  # fmt: skip
            assert button.disabled and button.tooltip == line
        assert html.escape(line) in widget.access_note.value
        # And a forced promote() is one clear line; nothing moved
        with pytest.raises(PermissionDenied) as info:
            promotion.promote(model, v1, tracking_uri=auth_server.url)
        assert str(info.value) == line
    code, _, err = cli(auth_server, viewer, "promote", model, v1)
    assert code == 77 and err.strip() == f"jupyter mlops: error: {line}"
    # And MLflow itself refuses an alias move by a READ user (raw 403 translated the same way)
    with auth_server.as_user(viewer):
        from jupyter_mlops.core.models.registry import translated

        with pytest.raises(Exception) as raw:
            get_client(auth_server.url).set_registered_model_alias(model, "champion", v1)
        assert str(translated(raw.value, "x", "MANAGE", model)) == line
    with auth_server.as_user(owner):
        assert get_client(auth_server.url).get_registered_model(model).aliases == {}
        # When the owner looks, the buttons are enabled and promoting works
        widget = RegistryWidget(model, tracking_uri=auth_server.url)
        assert not widget.promote_button.disabled and widget.access_note.value == ""
        promotion.promote(model, v1, tracking_uri=auth_server.url)
    # When the viewer is granted MANAGE, the CLI promote goes through and is recorded as theirs
    auth_server.grant(viewer, "MANAGE", model=model)
    code, _, err = cli(auth_server, viewer, "promote", model, v2)
    assert code == 0, err
    with auth_server.as_user(viewer):
        history = promotion.promotion_history(model, tracking_uri=auth_server.url)
        assert [h.version for h in history] == [v1, v2]
        assert not RegistryWidget(model, tracking_uri=auth_server.url).promote_button.disabled


def test_wrong_or_missing_credentials_are_one_line_without_secrets(
    auth_server: AuthServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = auth_server.add_user("dave")
    experiment = f"dave-{uuid.uuid4().hex[:6]}"
    # Given a wrong password in MLflow's own variables
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "not-the-password-42")
    _, scope = tracked(auth_server, experiment, tmp_path / "w", wait=False)
    # Then the cell ran at once, and the run waits in the journal (the credentials are wrong,
    # not the run): the status says why in one line, without the secret
    assert scope["score"] == 1.0
    assert not wait_for_delivery(3)
    refused = (
        f"not authenticated: the tracking server refused the credentials of "
        f"{user!r} (set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD)"
    )
    status = delivery_status()
    assert status.pending == 1 and status.failing and status.failing.endswith(refused)
    assert "not-the-password-42" not in status.text()
    # Given only a token (as a JupyterHub spawner might set): MLflow sends it as Bearer, which
    # the basic-auth app does not accept, and the line says so
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "hub-token-abcdef")
    tracked(auth_server, experiment, tmp_path / "t", wait=False)
    assert not wait_for_delivery(3)
    status = delivery_status()
    assert status.pending == 2 and "Bearer" in status.failing
    assert "hub-token-abcdef" not in status.text()
    # When the user sets the right credentials, both runs are delivered, as that user
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", auth_server.passwords[user])
    assert wait_for_delivery(90)
    runs = get_client(auth_server.url).search_runs(
        [get_client(auth_server.url).get_experiment_by_name(experiment).experiment_id]
    )
    assert len(runs) == 2 and {r.info.status for r in runs} == {"FINISHED"}
    assert delivery_status().failing is None
