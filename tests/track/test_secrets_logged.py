"""Secrets stay out of MLflow: every case of issue 18 §2 is planted in a real shell, a real git
repo and a real store, then every param, tag and artifact of the run is searched for it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import nbformat
import pytest
from mlflow.tracking import MlflowClient

from jupyter_mlops.core.tracking.secrets import mask_text, mask_values

PLANT = "PLANTED"  # every planted secret contains this marker, nothing else does


def _everything_logged(client: MlflowClient) -> dict[str, str]:
    """Every param, tag and artifact text of every run in the store, keyed by where it is."""
    found: dict[str, str] = {}
    ids = [e.experiment_id for e in client.search_experiments()]
    for run in client.search_runs(ids):
        rid = run.info.run_id
        found.update({f"{rid} param {k}": v for k, v in run.data.params.items()})
        found.update({f"{rid} tag {k}": v for k, v in run.data.tags.items()})
        local = Path(client.download_artifacts(rid, ""))
        for file in local.rglob("*"):
            if file.is_file():
                found[f"{rid} artifact {file.relative_to(local)}"] = file.read_text(
                    encoding="utf-8", errors="replace"
                )
    return found


def _leaks(client: MlflowClient) -> list[str]:
    return [where for where, text in _everything_logged(client).items() if PLANT in text]


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


CELL = f'''
config = {{"token": "tok-{PLANT}-1", "lr": 0.1}}
headers = {{"Authorization": "Bearer {PLANT}bearer123456"}}
auth = ("bob", "pw-{PLANT}-3")
github_pat = "github_pat_{PLANT}abcdefghijk"
pw = "{PLANT}-pw55"
conn_url = "postgresql://user:{PLANT}urlpw@db/x"
note = "ghp_{PLANT}abcdefghijklmnopq sk-{PLANT}abcdefghijk hf_{PLANT}abcdefghijkl"
aws = "AKIAPLANTED123456789"
slack = "xoxb-{PLANT}-12345678"
accuracy = 0.45 * 2
'''


def test_planted_secrets_reach_no_param_tag_or_artifact(tracked, project, monkeypatch) -> None:
    # Given a tracked file holding a DATABASE_URL with a password, changed since the commit,
    # an untracked YAML with a password line, and a secret-looking environment variable
    (project / "settings.env").write_text("DATABASE_URL=postgresql://app:old@db/x\n")
    _git(project, "add", "settings.env")
    _git(project, "-c", "user.name=T", "-c", "user.email=t@x", "commit", "-qm", "settings")
    (project / "settings.env").write_text(f"DATABASE_URL=postgresql://app:{PLANT}db99@db/x\n")
    (project / "config.yaml").write_text(f"user: bob\npassword: {PLANT}yaml00\n")
    monkeypatch.setenv("SERVICE_TOKEN", f"env-{PLANT}-123")

    # When a cell assigns every kind of secret, with a secret tag
    tracked.cell(CELL, f"--no-autolog --tag password={PLANT}tag77 --tag team=ml")
    # and a failing cell quotes an env secret and a secret literal in its traceback
    failing = (
        f'api_key = "{PLANT}-tb-88"\n'
        'import os\nraise RuntimeError(f"rejected {api_key} " + os.environ["SERVICE_TOKEN"])\n'
    )
    tracked.cell(failing, "--no-autolog")

    # Then the runs exist with their ordinary values and tags
    runs = tracked.runs()
    assert [r.info.status for r in runs] == ["FAILED", "FINISHED"]
    good = runs[1]
    assert good.data.metrics["accuracy"] == pytest.approx(0.9)
    assert good.data.tags["team"] == "ml"
    assert good.data.tags["password"] == "***"
    assert good.data.params["conn_url"] == "postgresql://user:***@db/x"
    assert "auth" not in good.data.params and "pw" not in good.data.params
    assert "'lr': 0.1" in good.data.params["config"]
    diff = tracked.artifact_text(good, "git/diff.patch")
    assert "config.yaml" in diff and "postgresql://app:***@db/x" in diff
    assert "cell/traceback.txt" in tracked.artifact_paths(runs[0])
    # and no secret is anywhere in what was logged
    assert _leaks(tracked.client) == []


def test_secrets_in_a_spooled_run_are_masked_before_they_reach_the_disk(tracked, tmp_path):
    # Given an unreachable server, a cell with a secret is spooled
    tracked.shell.run_line_magic("config", 'MlopsMagics.tracking_uri = "http://127.0.0.1:9"')
    tracked.cell(f'db_password = "{PLANT}-spool"\nx = 1\n', "--no-autolog")
    # Then the spool on disk holds no secret
    spool = tmp_path / "spool"
    texts = [p.read_text(errors="replace") for p in spool.rglob("*") if p.is_file()]
    assert texts and not any(PLANT in t for t in texts)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("password: hunter22\nuser: bob\n", "password: ***\nuser: bob\n"),
        ("+DB_URL=mysql://u:p4ssw0rd@h/db\n", "+DB_URL=mysql://u:***@h/db\n"),
        ('h = {"Authorization": "Bearer abcdefgh1234"}', "h = {\"Authorization\": '***'}"),
        ("curl -H 'Authorization: Bearer abcdefgh1234'", "curl -H 'Authorization: Bearer ***'"),
        ("auth = ('bob', 'secretpw')", "auth = ('***', '***')"),
        ("x = 'AKIAABCDEFGHIJKLMNOP'", "x = 'AKIA***'"),
        ("token = None\nmax_tokens = 512\n", "token = None\nmax_tokens = 512\n"),
        ("mode = 'Basic training loop'", "mode = 'Basic training loop'"),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic ***"),
        ("google-auth==2.63.0\nauthor = 'Jane'\n", "google-auth==2.63.0\nauthor = 'Jane'\n"),
    ],
)
def test_mask_text_cases(text: str, masked: str) -> None:
    assert mask_text(text) == masked
    assert mask_text(masked) == masked


def test_mask_values_masks_by_key_and_by_value() -> None:
    masked = mask_values({"password": "x", "url": "https://a:b@h/", "lr": "0.1"})
    assert masked == {"password": "***", "url": "https://a:***@h/", "lr": "0.1"}


def test_env_secret_values_are_masked_anywhere(monkeypatch) -> None:
    monkeypatch.setenv("MY_SERVICE_API_KEY", "value-of-the-key")
    assert mask_text("printed value-of-the-key here") == "printed *** here"


@pytest.mark.slow
def test_pipeline_params_and_executed_notebook_are_masked(project, tracking_uri) -> None:
    from jupyter_mlops.core.pipeline.runner import run_notebook

    # Given a notebook with a parameters cell that prints its password
    book = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('password = "default"\nlr = 0.1')
    params.metadata["tags"] = ["parameters"]
    book.cells = [params, nbformat.v4.new_code_cell("print('using', password)")]
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    path = project / "train.ipynb"
    nbformat.write(book, path)

    # When it runs as a pipeline with -p password=...
    result = run_notebook(path, {"password": f"{PLANT}-param", "lr": 0.2})

    # Then neither the params nor the executed notebook/HTML carry it
    assert result.failure is None
    client = MlflowClient(tracking_uri)
    run = client.get_run(result.run_id)
    assert run.data.params["password"] == "***" and run.data.params["lr"] == "0.2"
    names = {a.path for a in client.list_artifacts(result.run_id, "notebook")}
    assert {"notebook/train.ipynb", "notebook/train.html"} <= names
    assert _leaks(client) == []
