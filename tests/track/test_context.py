"""Run context: notebook detection in real kernels, git state of real repos, env, secrets."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import re
import socket
import subprocess
import sys
from pathlib import Path

import mlflow
import nbformat
import pytest
from mlflow.tracking import MlflowClient
from packaging.version import Version

from jupyter_mlops.core.contracts import TAG_KERNEL_HOST, TAG_KERNEL_ID, TAG_KERNEL_PID
from jupyter_mlops.core.tracking import context
from jupyter_mlops.core.tracking.context import (
    DIFF_CAP_BYTES,
    environment,
    git_state,
    is_secret_name,
    kernel_identity,
    mask_secrets,
    notebook_path,
)

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test User",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test User",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` with a test identity; return stdout."""
    env = {**os.environ, **GIT_IDENTITY}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


PROBE = (
    "import json\n"
    "from jupyter_mlops.core.tracking.context import notebook_path, kernel_identity\n"
    "print(json.dumps({'path': notebook_path(), 'kernel': kernel_identity()}))"
)


def write_notebook(path: Path, *sources: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    book = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    book.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(book, path)
    return path


def clean_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("JPY_SESSION_NAME", "JUPYTER_MLOPS_NOTEBOOK_PATH")
    }
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DVC_NO_ANALYTICS="1")
    return env


def probe_output(book: Path) -> dict:
    """The JSON the probe cell printed in an executed notebook."""
    cell = nbformat.read(book, as_version=4).cells[0]
    text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    return json.loads(text.strip().splitlines()[-1])


@pytest.fixture
def no_notebook_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.delenv("JUPYTER_MLOPS_NOTEBOOK_PATH", raising=False)


# --- notebook path in real kernels ----------------------------------------------------------


@pytest.mark.slow
def test_nbconvert_execute_names_the_notebook(project: Path, tracking_uri: str) -> None:
    # Given a notebook in a sub-folder of the project, with a tracked cell
    cell = "alpha = 0.5\nscore = alpha * 2\n"
    book = project / "notebooks" / "train.ipynb"
    write_notebook(book, PROBE, "%load_ext jupyter_mlops", "%%track --no-autolog\n" + cell)
    git(project, "add", "notebooks")
    git(project, "commit", "-q", "-m", "add notebook")
    # When nbconvert executes it from the project root (nothing tells the kernel the notebook)
    subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
         "notebooks/train.ipynb", "--output-dir", str(project.parent / "out")],
        cwd=project, env=clean_env(), check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    # Then the kernel found it from its parent's command line, relative to the project root
    out = probe_output(project.parent / "out" / "train.ipynb")
    assert out["path"] == "notebooks/train.ipynb"
    # and it knows its kernel: the connection file names an id, the pid is not ours
    kernel = out["kernel"]
    assert kernel[TAG_KERNEL_ID]
    assert kernel[TAG_KERNEL_HOST] == socket.gethostname()
    assert kernel[TAG_KERNEL_PID] != str(os.getpid())
    # and the tracked run carries that context (delivered from the journal by `sync`: the
    # kernel exits right after the cell, before its delivery worker is done)
    from jupyter_mlops.core.team.sync import sync

    assert sync(tracking_uri).ok
    client = MlflowClient(tracking_uri)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    tags = run.data.tags
    assert tags["mlflow.source.name"] == "notebooks/train.ipynb"
    assert {k: tags[k] for k in kernel} == kernel
    assert tags["mlflow.source.git.commit"] == git(project, "rev-parse", "HEAD").strip()
    assert tags["jupyter_mlops.git.dirty"] == "false"
    logged = {f.path for f in client.list_artifacts(run.info.run_id, "environment")}
    assert logged == {"environment/python.txt", "environment/requirements.txt"}


@pytest.mark.slow
def test_kernel_of_a_jupyter_server_session(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given jupyter-server's own session and kernel managers, rooted at the project, opening a
    # notebook the way JupyterLab does (POST /api/sessions with path and name)
    import asyncio

    from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
    from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
    from jupyter_server.services.sessions.sessionmanager import SessionManager

    write_notebook(project / "notebooks" / "eda.ipynb", "x = 1")
    for name, value in clean_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)

    async def probe() -> tuple[str, dict]:
        kernels = AsyncMappingKernelManager(root_dir=str(project))
        contents = AsyncLargeFileManager(root_dir=str(project))
        sessions = SessionManager(kernel_manager=kernels, contents_manager=contents)
        model = await sessions.create_session(
            path="notebooks/eda.ipynb", name="eda.ipynb", type="notebook", kernel_name="python3"
        )
        kernel_id = model["kernel"]["id"]
        client = kernels.get_kernel(kernel_id).client()
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=120)
            texts: list[str] = []
            hook = lambda msg: texts.append(msg["content"].get("text", ""))  # noqa: E731
            await client.execute_interactive(PROBE, output_hook=hook, timeout=120)
        finally:
            client.stop_channels()
            await kernels.shutdown_all(now=True)
        return kernel_id, json.loads("".join(texts).strip().splitlines()[-1])

    kernel_id, out = asyncio.run(probe())
    # Then the kernel knows its notebook (from JPY_SESSION_NAME) and the server's kernel id
    assert out["path"] == "notebooks/eda.ipynb"
    assert out["kernel"][TAG_KERNEL_ID] == kernel_id


@pytest.mark.slow
def test_papermill_names_the_input_notebook(project: Path) -> None:
    write_notebook(project / "analysis" / "report.ipynb", PROBE)
    (project / "out").mkdir()
    subprocess.run(
        [sys.executable, "-m", "papermill", "analysis/report.ipynb", "out/report-run.ipynb"],
        cwd=project, env=clean_env(), check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    assert probe_output(project / "out" / "report-run.ipynb")["path"] == "analysis/report.ipynb"


def test_plain_python_has_no_notebook(project: Path) -> None:
    code = "from jupyter_mlops.core.tracking.context import notebook_path; print(notebook_path())"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=project, env=clean_env(), capture_output=True,
        text=True, check=True, timeout=60,
    )  # fmt: skip
    assert out.stdout.strip() == "None"


def test_in_process_without_clues_is_none(project: Path, no_notebook_env: None) -> None:
    write_notebook(project / "other.ipynb", "x = 1")
    assert notebook_path() is None
    assert notebook_path("completely = 'different'") is None


RUNNER = """
import subprocess, sys
code = "from jupyter_mlops.core.tracking.context import notebook_path; print(notebook_path())"
subprocess.run([sys.executable, "-c", code], check=True)
"""


def run_under_parent(project: Path, program: str, *args: str) -> str:
    """Output of a child printing notebook_path(), started by a parent named ``program``."""
    (project / program).write_text(RUNNER)
    out = subprocess.run(
        [sys.executable, program, *args], cwd=project, env=clean_env(), capture_output=True,
        text=True, check=True, timeout=60,
    )  # fmt: skip
    return out.stdout.strip()


def test_parent_command_line_skips_output_options(project: Path) -> None:
    write_notebook(project / "old-output.ipynb", "x = 1")
    write_notebook(project / "nbs" / "real.ipynb", "x = 1")
    found = run_under_parent(
        project, "runner.py", "--output", "old-output.ipynb", "missing.ipynb", "nbs/real.ipynb"
    )
    assert found == "nbs/real.ipynb"  # the first positional notebook that exists


def test_a_notebook_server_parent_is_not_a_clue(project: Path) -> None:
    write_notebook(project / "opened.ipynb", "x = 1")
    # `jupyter-lab opened.ipynb` opens that notebook, but its kernels may run any other one
    assert run_under_parent(project, "jupyter-lab", "opened.ipynb") == "None"


# --- notebook path from the environment -----------------------------------------------------


def test_our_env_var_wins_and_is_relative_to_project_root(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_notebook(project / "nb" / "a.ipynb", "x = 1")
    monkeypatch.chdir(project / "nb")
    monkeypatch.setenv("JPY_SESSION_NAME", str(project / "nb" / "elsewhere.ipynb"))
    monkeypatch.setenv("JUPYTER_MLOPS_NOTEBOOK_PATH", "a.ipynb")
    assert notebook_path() == "nb/a.ipynb"
    monkeypatch.setenv("JUPYTER_MLOPS_NOTEBOOK_PATH", str(project / "nb" / "a.ipynb"))
    assert notebook_path() == "nb/a.ipynb"


def test_our_env_var_as_the_pipeline_runner_sets_it(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `jupyter mlops run` names the notebook relative to the project root; the kernel runs in
    # the notebook's folder
    write_notebook(project / "pipelines" / "train.ipynb", "x = 1")
    monkeypatch.chdir(project / "pipelines")
    monkeypatch.setenv("JUPYTER_MLOPS_NOTEBOOK_PATH", "pipelines/train.ipynb")
    assert notebook_path() == "pipelines/train.ipynb"
    # a name that matches no file is trusted as given
    monkeypatch.setenv("JUPYTER_MLOPS_NOTEBOOK_PATH", "gone/copy.ipynb")
    assert notebook_path() == "gone/copy.ipynb"


def test_session_name_absolute(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JUPYTER_MLOPS_NOTEBOOK_PATH", raising=False)
    book = write_notebook(project / "deep" / "er" / "Train Model.ipynb", "x = 1")
    monkeypatch.setenv("JPY_SESSION_NAME", str(book))
    assert notebook_path() == "deep/er/Train Model.ipynb"


def test_session_name_relative_to_server_root(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server started at the project root; the kernel runs in the notebook's folder
    monkeypatch.delenv("JUPYTER_MLOPS_NOTEBOOK_PATH", raising=False)
    write_notebook(project / "notebooks" / "eda.ipynb", "x = 1")
    monkeypatch.chdir(project / "notebooks")
    monkeypatch.setenv("JPY_SESSION_NAME", "notebooks/eda.ipynb")
    assert notebook_path() == "notebooks/eda.ipynb"


def test_outside_git_the_notebook_folder_is_the_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "loose"
    book = write_notebook(folder / "scratch.ipynb", "x = 1")
    monkeypatch.chdir(folder)
    monkeypatch.setenv("JUPYTER_MLOPS_NOTEBOOK_PATH", str(book))
    assert notebook_path() == "scratch.ipynb"
    assert notebook_path(root=tmp_path) == "loose/scratch.ipynb"


# --- notebook path from the cell source -----------------------------------------------------


def test_cell_source_finds_the_notebook_in_cwd(project: Path, no_notebook_env: None) -> None:
    cell = "learning_rate = 0.01\nepochs = 3\n"
    write_notebook(project / "unrelated.ipynb", "print('hi')")
    write_notebook(project / "train.ipynb", "import os", "%%track\n" + cell)
    (project / "broken.ipynb").write_text("{ not json")
    assert notebook_path(cell) == "train.ipynb"
    # a different source is searched again, not served from a cache
    assert notebook_path("print('hi')") == "unrelated.ipynb"
    assert notebook_path("never = 'written'") is None


def test_cell_source_prefers_the_source_over_nbconvert_outputs(
    project: Path, no_notebook_env: None
) -> None:
    cell = "alpha = 0.5"
    write_notebook(project / "model.ipynb", cell)
    output = write_notebook(project / "model.nbconvert.ipynb", cell)
    os.utime(output, (os.path.getmtime(output) + 100,) * 2)  # the output is newer
    assert notebook_path(cell) == "model.ipynb"


def test_cell_source_sees_edits_of_the_notebook(project: Path, no_notebook_env: None) -> None:
    book = write_notebook(project / "n.ipynb", "a = 1")
    assert notebook_path("b = 2") is None
    write_notebook(book, "a = 1", "b = 2")
    os.utime(book, (os.path.getmtime(book) + 5,) * 2)
    assert notebook_path("b = 2") == "n.ipynb"


# --- kernel identity ------------------------------------------------------------------------


def test_kernel_identity_in_plain_process() -> None:
    tags = kernel_identity()
    assert tags[TAG_KERNEL_HOST] == socket.gethostname()
    assert tags[TAG_KERNEL_PID] == str(os.getpid())
    assert TAG_KERNEL_ID not in tags  # pytest is not a kernel: omitted, not empty


def test_kernel_id_from_connection_file_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        sys, "argv", ["ipykernel_launcher.py", "-f", "/run/jupyter/kernel-1a2b-3c.json"]
    )
    assert kernel_identity()[TAG_KERNEL_ID] == "1a2b-3c"


def test_kernel_id_from_the_connection_file_the_adapter_passes_in() -> None:
    tags = kernel_identity("/run/user/1/jupyter/runtime/kernel-9f8e-7d.json")
    assert tags[TAG_KERNEL_ID] == "9f8e-7d"
    assert TAG_KERNEL_ID not in kernel_identity("not-a-connection-file")


# --- git state ------------------------------------------------------------------------------


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def test_clean_repo(project: Path) -> None:
    state = git_state(project)
    assert state.commit == head(project)
    assert (state.dirty, state.diff, state.root) == (False, "", project.resolve())


def test_own_store_and_ignored_files_do_not_make_it_dirty(project: Path, tracking_uri: str) -> None:
    (project / ".gitignore").write_text("*.pkl\n")
    git(project, "add", ".gitignore")
    git(project, "commit", "-q", "-m", "ignore pickles")
    (project / "model.pkl").write_bytes(b"\0" * 10)
    (project / "mlflow.db").write_bytes(b"sqlite")
    (project / "mlruns" / "0").mkdir(parents=True)
    (project / "mlruns" / "0" / "meta.yaml").write_text("x")
    (project / ".ipynb_checkpoints").mkdir()
    (project / ".ipynb_checkpoints" / "a-checkpoint.ipynb").write_text("{}")
    assert git_state(project).dirty is False


def test_dirty_diff_applies_to_a_clean_checkout(project: Path, tmp_path: Path) -> None:
    # Given a tracked change, a new untracked module and an untracked binary, from a sub-folder
    (project / "README.md").write_text("changed readme\n")
    (project / "pkg").mkdir()
    (project / "pkg" / "helpers.py").write_text("def f():\n    return 1")
    (project / "blob.bin").write_bytes(b"\0\1\2")
    state = git_state(project / "pkg")
    assert state.dirty is True and state.commit == head(project)
    assert state.root == project.resolve()
    assert "+changed readme" in state.diff
    assert "pkg/" in state.diff and "blob.bin" in state.diff
    # When the patch is applied to a fresh clone of the commit
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(project), str(clone))
    patch = tmp_path / "state.patch"
    patch.write_text(state.diff)
    git(clone, "apply", "--exclude=blob.bin", str(patch))
    # Then the clone reproduces the work tree's text files
    assert (clone / "README.md").read_text() == "changed readme\n"
    assert (clone / "pkg" / "helpers.py").read_text() == "def f():\n    return 1"


def test_untracked_credentials_are_named_not_included(project: Path) -> None:
    (project / ".env").write_text("API_KEY=abc123\n")
    (project / "deploy.pem").write_text("-----BEGIN PRIVATE KEY-----\nMIIE\n")
    (project / "notes.txt").write_text("plain\n")
    diff = git_state(project).diff
    assert ".env" in diff and "deploy.pem" in diff and "+plain" in diff
    assert "abc123" not in diff and "MIIE" not in diff


def test_untracked_file_alone_makes_it_dirty(project: Path) -> None:
    (project / "new.py").write_text("x = 1\n")
    state = git_state(project)
    assert state.dirty and "+x = 1" in state.diff


def test_huge_diff_is_truncated_and_says_so(project: Path) -> None:
    big = project / "big.txt"
    big.write_text("")
    git(project, "add", "big.txt")
    git(project, "commit", "-q", "-m", "empty big")
    big.write_text("".join(f"line {i} {'x' * 60}\n" for i in range(50_000)))  # ~3.4 MB
    state = git_state(project)
    assert state.dirty
    assert len(state.diff.encode()) <= DIFF_CAP_BYTES + 200
    assert (
        state.diff.splitlines()[-1] == f"# jupyter-mlops: diff truncated at {DIFF_CAP_BYTES} bytes"
    )
    assert state.diff.splitlines()[-2].startswith("+line ")  # cut at a line boundary


def test_no_repo_and_no_commit(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert git_state(plain) == context.GitState(None, False, "", None)
    assert git_state(tmp_path / "missing") == context.GitState(None, False, "", None)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    git(fresh, "init", "-q")
    (fresh / "a.py").write_text("a = 1\n")
    state = git_state(fresh)
    assert state.commit is None and state.root == fresh.resolve()


def test_git_state_takes_no_index_lock(project: Path) -> None:
    (project / "README.md").write_text("touched\n")
    lock = project / ".git" / "index.lock"
    lock.write_text("")  # another git process holds the index
    try:
        assert git_state(project).dirty is True
    finally:
        lock.unlink()


# --- environment ----------------------------------------------------------------------------


def test_environment_is_cached_and_complete() -> None:
    env = environment()
    assert environment() is env
    assert f"mlflow=={mlflow.__version__}" in env.requirements.splitlines()
    assert platform.python_version() in env.python and sys.executable in env.python
    # Every distribution importlib.metadata sees is pinned, at the version it reports
    pins = dict(line.split("==") for line in env.requirements.splitlines())
    assert list(pins) == sorted(pins)
    for dist in importlib.metadata.distributions():
        name = re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
        assert Version(pins[name]) == Version(dist.version) or name in seen_twice(), name


def seen_twice() -> set[str]:
    """Names installed in more than one sys.path folder (only the first one is pinned)."""
    names = [
        re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower()
        for d in importlib.metadata.distributions()
    ]
    return {n for n in names if names.count(n) > 1}


# --- secrets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["api_key", "AWS_SECRET_ACCESS_KEY", "db_password", "hf_token", "apiKey", "HFToken",
             "OPENAI_API_KEY", "passwd", "credentials", "APIKEY", "client_secret",
             "ssh_key", "token", "hf_tokens", "sort_key"],
)  # fmt: skip
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name", ["keyboard", "monkey", "tokenizer", "tokens", "max_tokens", "max_token_length",
             "num_keys", "key", "keys", "pad_token", "eos_token", "output_key",
             "next_page_token", "INPUT_TOKEN_KEY", "learning_rate", "epochs", "hockey_score"],
)  # fmt: skip
def test_not_secret_names(name: str) -> None:
    assert not is_secret_name(name)


MASK_CASES = [
    ('api_key = "sk-abc"\n', "api_key = '***'\n"),
    ("token: str = 'tok'\n", "token: str = '***'\n"),
    ('cfg = {"password": "hunter2", "lr": 3}\n', 'cfg = {"password": \'***\', "lr": 3}\n'),
    ('connect(user="bob", password="pw")', "connect(user=\"bob\", password='***')"),
    (
        'os.environ["AWS_SECRET_ACCESS_KEY"] = "AKIA"',
        "os.environ[\"AWS_SECRET_ACCESS_KEY\"] = '***'",
    ),
    ('os.environ.setdefault("HF_TOKEN", "hf_x")', "os.environ.setdefault(\"HF_TOKEN\", '***')"),
    ("self.api_key = r'raw'  # keep me\n", "self.api_key = '***'  # keep me\n"),
    ("db_password = 12345\n", "db_password = '***'\n"),
    ("# was: api_key = 'sk-old'\n", "# was: api_key = '***'\n"),  # comments are masked too
    ('token = f"{a}b" "c"\n', "token = '***'\n"),
    ('secret = """one line"""\n', "secret = '***'\n"),
    ("%env HF_TOKEN=hf_abc\n", "%env HF_TOKEN=***\n"),
    ("%set_env API_KEY abc\n", "%set_env API_KEY ***\n"),
    ("!export DB_PASSWORD=xyz && run\n", "!export DB_PASSWORD=*** && run\n"),
    ('    "api_key = \\"abc\\"\\n",\n', "    \"api_key = '***'\\n\",\n"),  # notebook JSON
    ("private_key = '''BEGIN\nbody\nEND'''\nx = 1\n", "private_key = '''***\n***\n***'''\nx = 1\n"),
]


@pytest.mark.parametrize(("source", "masked"), MASK_CASES)
def test_mask_secrets(source: str, masked: str) -> None:
    assert mask_secrets(source) == masked
    assert mask_secrets(masked) == masked  # idempotent


@pytest.mark.parametrize(
    "source",
    [
        'if token == "abc":\n    pass\n',
        "api_key = os.environ['API_KEY']\n",
        'max_tokens = 512\nkeyboard = "qwerty"\nmonkey = "banana"\n',
        "learning_rate = 0.01  # a comment: 'quoted'\n",
        'log_metric(key="accuracy", value=0.9)\n',
        "token = None\n",
    ],
)
def test_mask_secrets_leaves_non_secrets_alone(source: str) -> None:
    assert mask_secrets(source) == source


def test_mask_secrets_in_a_cell_that_does_not_parse() -> None:
    cell = (
        "%matplotlib inline\n"
        "!pip install foo\n"
        "for x in range(3:\n"
        "    password = 'p4ss' + suffix\n"
        "lr = 0.1\r\n"
        "api_key = \"k\" if x else 'y'"
    )
    assert mask_secrets(cell) == (
        "%matplotlib inline\n"
        "!pip install foo\n"
        "for x in range(3:\n"
        "    password = '***' + suffix\n"
        "lr = 0.1\r\n"
        "api_key = '***' if x else 'y'"
    )


def test_mask_secrets_in_a_unified_diff_keeps_it_a_valid_patch(tmp_path: Path) -> None:
    old = 'lr = 0.1\ntoken = "old-token"\nprivate_key = """multi\nline"""\nend = 1\n'
    new = 'lr = 0.2\ntoken = "new-token"\nprivate_key = """multi\nline"""\nend = 1\n'
    (tmp_path / "old.py").write_text(old)
    (tmp_path / "new.py").write_text(new)
    diff = subprocess.run(
        ["git", "diff", "--no-index", "-U5", "old.py", "new.py"], cwd=tmp_path,
        capture_output=True, text=True,
    ).stdout  # fmt: skip
    masked = mask_secrets(diff)
    assert "old-token" not in masked and "new-token" not in masked
    assert "multi" not in masked and 'line"' not in masked
    assert "-lr = 0.1" in masked and "+lr = 0.2" in masked
    assert len(masked.splitlines()) == len(diff.splitlines())
    # The masked patch still applies to the masked old file
    (tmp_path / "old.py").write_text(mask_secrets(old))
    (tmp_path / "p.patch").write_text(
        masked.replace("a/old.py", "a/old.py").replace("b/new.py", "b/old.py")
    )
    subprocess.run(["git", "apply", "p.patch"], cwd=tmp_path, check=True, capture_output=True)
    assert (tmp_path / "old.py").read_text() == mask_secrets(new)


def test_mask_secrets_changes_only_secret_lines_of_real_code() -> None:
    source = Path(mlflow.tracking.fluent.__file__).read_text()
    masked = mask_secrets(source)
    assert len(masked.splitlines()) == len(source.splitlines())
    for before, after in zip(source.splitlines(), masked.splitlines(), strict=True):
        if before != after:
            assert "'***'" in after
            assert any(is_secret_name(w) for w in re.findall(r"[A-Za-z_]\w*", before))


def test_top_level_found_without_git_agrees_with_git(project: Path, tmp_path: Path) -> None:
    from jupyter_mlops.core import git as core_git

    # Given a sub-folder, a linked worktree (a .git file), a stray empty .git folder, no repo
    (project / "pkg" / "deep").mkdir(parents=True)
    worktree = tmp_path / "linked"
    git(project, "worktree", "add", "-q", str(worktree))
    stray = tmp_path / "outside" / "inner"
    (stray / ".git").mkdir(parents=True)
    cases = [project, project / "pkg" / "deep", worktree, stray]
    for folder in cases:
        # Then our answer is git's own
        asked = ["git", "rev-parse", "--show-toplevel"]
        by_git = subprocess.run(asked, cwd=folder, capture_output=True, text=True).stdout.strip()
        found = core_git.top_level(folder)
        assert found == (Path(by_git).resolve() if by_git else None), folder
    assert core_git.top_level(tmp_path / "outside") is None
