"""The CI example and the Binder set-up: what they run is what the README documents, and works."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest
import yaml

from jupyter_mlops.cli import build_parser
from jupyter_mlops.core.contracts import EXIT_OK

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ml-pipeline.yml"
BINDER = ROOT / "binder"


def _squash(text: str) -> str:
    return " ".join(text.split())


def _workflow_commands() -> list[str]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert {"push", "pull_request"} <= set(triggers)
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    return [_squash(step["run"]) for step in steps if "run" in step]


def test_workflow_installs_then_runs_a_gated_pipeline_our_cli_accepts() -> None:
    commands = _workflow_commands()
    assert commands[0] == "pip install ."
    pipeline = [c for c in commands if c.startswith("jupyter mlops run ")]
    assert len(pipeline) == 1
    argv = shlex.split(pipeline[0].replace("$PWD", "/workspace"))[2:]
    args = build_parser().parse_args(argv)  # exits 64 on a flag our CLI does not have
    assert args.notebook == "notebooks/quickstart.ipynb"
    assert (ROOT / args.notebook).is_file()
    assert args.gate == ["accuracy>=0.9"]


def test_workflow_commands_are_the_ones_the_readme_documents() -> None:
    readme = _squash((ROOT / "README.md").read_text())
    missing = [c for c in _workflow_commands() if c not in readme]
    assert missing == [], "README.md must document the CI commands verbatim"


def test_notebooks_are_committed_without_outputs() -> None:
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert ROOT / "notebooks" / "quickstart.ipynb" in notebooks
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [], f"{path.name} has outputs"
                assert cell.execution_count is None, f"{path.name} has execution counts"


def test_binder_files_install_the_checkout_and_enable_the_extension() -> None:
    requirements = [
        line.strip()
        for line in (BINDER / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert requirements == ["."]
    for script in ("postBuild", "start"):
        assert os.access(BINDER / script, os.X_OK), f"binder/{script} must be executable"
    assert (
        "jupyter server extension enable --sys-prefix jupyter_mlops"
        in (BINDER / "postBuild").read_text()
    )
    assert 'exec "$@"' in (BINDER / "start").read_text()


@pytest.mark.slow
def test_fresh_venv_from_binder_files_runs_the_quickstart(tmp_path: Path) -> None:
    """Build a venv the way repo2docker does (requirements from the repo root, then postBuild).

    Offline-friendly: the venv sees this environment's already-installed third-party packages
    through a path entry, so pip installs only the checkout itself (non-editable, no deps
    fetched); the notebook's kernel then runs on the fresh venv's interpreter.
    """
    venv = tmp_path / "binder-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(site, "shared-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    env["VIRTUAL_ENV"] = str(venv)
    env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")  # the shared data files

    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-input",
         "-r", "binder/requirements.txt"],
        cwd=ROOT, env=env, check=True, timeout=600,
    )  # fmt: skip
    installed = subprocess.run(
        [python, "-c", "import jupyter_mlops; print(jupyter_mlops.__file__)"],
        capture_output=True, text=True, env=env, check=True, cwd=tmp_path,
    ).stdout.strip()  # fmt: skip
    assert installed.startswith(str(venv)), "the checkout must be installed into the fresh venv"
    for command, module in (("jupyter", "jupyter"), ("jupyter-server", "jupyter_server")):
        # the shared packages' console scripts belong to the other interpreter: wrap them
        script = venv / "bin" / command
        script.write_text(f'#!/bin/sh\nexec "{python}" -m {module} "$@"\n')
        script.chmod(0o755)
    assert shutil.which("jupyter", path=env["PATH"]) == str(venv / "bin" / "jupyter")
    post = subprocess.run(
        ["bash", str(BINDER / "postBuild")], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert post.returncode == 0, post.stdout + post.stderr
    assert "jupyter_mlops" in post.stdout + post.stderr
    assert (venv / "etc" / "jupyter" / "jupyter_server_config.d" / "jupyter_mlops.json").is_file()

    demo = tmp_path / "demo"
    run = subprocess.run(
        [str(BINDER / "start"), python, "-m", "jupyter", "mlops", "run",
         str(ROOT / "notebooks" / "quickstart.ipynb"), "-p", f"demo_dir={demo}",
         "--tracking-uri", f"sqlite:///{demo}/mlflow.db", "--gate", "accuracy>=0.9"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert run.returncode == EXIT_OK, run.stdout + run.stderr[-3000:]
    assert "gate passed: accuracy" in run.stdout
    assert (demo / "mlflow.db").is_file()
