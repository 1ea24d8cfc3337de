"""Real JupyterLab / Notebook 7 + Debian Chromium for UI tests (reusable by every browser test).

``jupyterlab`` starts ``jupyter lab`` on 127.0.0.1 at a free port, serving the ``project``
fixture's git repo, with private config/runtime/settings/workspace dirs, news and update checks
off, our server extension enabled and ``window.jupyterapp`` exposed; ``notebook7`` starts
``jupyter notebook`` (Notebook 7, the same front-end components) the same way, and a test asking
for ``frontend`` runs once in each. Override ``jupyterlab_extra_args`` in a test module to pass
more flags. ``server.open_notebook(page, relpath)`` opens a notebook of the served root, closes
stray start-up dialogs, makes it the current widget and waits for an idle kernel.
``chromium_page`` is a Playwright page in ``/usr/bin/chromium`` that records any JS dialog (an
XSS would open one) in ``page.dialogs`` and uncaught page errors in ``page.errors``. Fixtures
``write_notebook(path, sources)`` and ``screenshot(page, area, name)`` (saved to
``test-output/<area>/<name>.png``) are the helpers, so no test imports this module;
``branch_labextension`` serves this checkout's build of the sidebar (when built) instead of the
installed one.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
BUILD = Path(__file__).resolve().parents[2] / "jupyter_mlops" / "labextension"
NO_NEWS = {
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    }
}


@dataclass
class LabServer:
    """A running JupyterLab: its base URL, token, served root and log file."""

    base: str
    token: str
    root: Path
    log: Path
    name: str = "jupyterlab"  # or "notebook7"
    documents: str = "lab/tree"  # where a notebook opens: Notebook 7 uses "notebooks"

    def url(self, path: str = "lab") -> str:
        """A URL on this server with the token attached."""
        sep = "&" if "?" in path else "?"
        return f"{self.base}/{path.lstrip('/')}{sep}token={self.token}"

    def log_tail(self, chars: int = 6000) -> str:
        """The end of the server log, for failure messages."""
        return self.log.read_text(errors="replace")[-chars:]

    def open_notebook(self, page: object, relpath: str, timeout_s: float = 120) -> None:
        """Open a notebook of the served root, ready to run (see the module docstring)."""
        _open_notebook(self, page, relpath, timeout_s)

    def open_model(self, page: object, model: str) -> None:
        """Open JupyterLab with the MLOps sidebar's Models tab on ``model``."""
        page.goto(self.url("lab"))  # type: ignore[attr-defined]
        page.click("li[data-id='jupyter-mlops-sidebar']", timeout=120_000)  # type: ignore[attr-defined]
        page.click("#jupyter-mlops-sidebar .lm-TabBar-tab:has-text('Models')")  # type: ignore[attr-defined]
        item = page.locator(f"#jupyter-mlops-sidebar .jp-mlops-model[data-model='{model}']")  # type: ignore[attr-defined]
        item.wait_for(timeout=120_000)
        item.click()


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_notebook(path: Path, sources: list[str]) -> Path:
    """An nbformat 4.5 notebook of code cells (ids ``cell-<n>``), Python 3 kernel."""
    cells = [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": f"cell-{i}",
            "metadata": {},
            "outputs": [],
            "source": src,
        }
        for i, src in enumerate(sources)
    ]
    nb = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb))
    return path


def _screenshot(page: object, area: str, name: str) -> Path:
    """Save a PNG of the page under ``test-output/<area>/``."""
    folder = OUTPUT / area
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.png"
    page.screenshot(path=str(target))  # type: ignore[attr-defined]
    return target


@pytest.fixture
def write_notebook() -> Callable[[Path, list[str]], Path]:
    """``write_notebook(path, sources)``: an nbformat 4.5 notebook of code cells."""
    return _write_notebook


# True once the notebook at ``path`` is the shell's current widget; activates it if it is open
# but not current (a start-up dialog can take the focus before the notebook gets it).
NOTEBOOK_CURRENT = """(path) => {
  const app = window.jupyterapp;
  if (!app) return false;
  const current = app.shell.currentWidget;
  if (current && current.context && current.context.path === path) return true;
  for (const widget of app.shell.widgets('main')) {
    if (widget.context && widget.context.path === path) app.shell.activateById(widget.id);
  }
  return false;
}"""
KERNEL_IDLE = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle';
}"""


def _close_dialogs(page: object) -> None:
    """Close JupyterLab dialogs left over from start-up (e.g. a transient 'Directory not found')."""
    buttons = page.locator(".jp-Dialog button.jp-mod-reject, .jp-Dialog button.jp-mod-accept")  # type: ignore[attr-defined]
    if buttons.count():
        buttons.first.click()


def _open_notebook(lab: LabServer, page: object, relpath: str, timeout_s: float = 120) -> None:
    page.goto(lab.url(f"{lab.documents}/{relpath}"))  # type: ignore[attr-defined]
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout_s * 1000)  # type: ignore[attr-defined]
    deadline = time.time() + timeout_s
    while not page.evaluate(NOTEBOOK_CURRENT, relpath):  # type: ignore[attr-defined]
        if time.time() > deadline:
            raise TimeoutError(f"{relpath} never became the shell's current widget")
        _close_dialogs(page)
        page.wait_for_timeout(250)  # type: ignore[attr-defined]
    page.wait_for_function(KERNEL_IDLE, timeout=timeout_s * 1000)  # type: ignore[attr-defined]


@pytest.fixture
def screenshot() -> Callable[[object, str, str], Path]:
    """``screenshot(page, area, name)``: a PNG under ``test-output/<area>/``."""
    return _screenshot


@pytest.fixture
def branch_labextension(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path | None:
    """This checkout's labextension build (``jupyter_mlops/labextension``), when there is one,
    put first on ``JUPYTER_PATH`` for the servers started next (the installed copy untouched)."""
    if not (BUILD / "package.json").exists():
        return None
    path = tmp_path / "jupyter-path" / "labextensions"
    path.mkdir(parents=True)
    (path / "jupyter-mlops").symlink_to(BUILD)
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter-path"))
    return BUILD


@pytest.fixture
def jupyterlab_extra_args() -> list[str]:
    """Extra ``jupyter lab`` flags; override in a module to add some."""
    return []


@pytest.fixture
def jupyterlab(
    project: Path, tmp_path: Path, jupyterlab_extra_args: list[str]
) -> Iterator[LabServer]:
    """JupyterLab serving ``project`` on loopback; kernels use ``<project>/mlflow.db``."""
    yield from _serve(project, tmp_path, "jupyterlab", "LabApp", jupyterlab_extra_args)


@pytest.fixture
def notebook7(project: Path, tmp_path: Path) -> Iterator[LabServer]:
    """Notebook 7 (``jupyter notebook``) serving ``project`` like ``jupyterlab`` does."""
    yield from _serve(project, tmp_path, "notebook", "JupyterNotebookApp", [], "notebook7")


@pytest.fixture(params=["jupyterlab", "notebook7"])
def frontend(request: pytest.FixtureRequest) -> LabServer:
    """JupyterLab, then Notebook 7: a test using this runs in both."""
    return request.getfixturevalue(request.param)


def _serve(
    project: Path,
    tmp_path: Path,
    module: str,
    app_class: str,
    extra_args: list[str],
    name: str = "jupyterlab",
) -> Iterator[LabServer]:
    app_settings = tmp_path / "lab-app-settings"
    app_settings.mkdir()
    (app_settings / "overrides.json").write_text(json.dumps(NO_NEWS))
    port, token = free_port(), f"test-token-{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(
        {
            "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
            "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-user-settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces"),
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DVC_NO_ANALYTICS": "1",
            "GIT_AUTHOR_NAME": "Test User",
            "GIT_AUTHOR_EMAIL": "test@example.invalid",
            "GIT_COMMITTER_NAME": "Test User",
            "GIT_COMMITTER_EMAIL": "test@example.invalid",
        }
    )
    log_path = tmp_path / f"{module}.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            module,
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.root_dir={project}",
            f"--IdentityProvider.token={token}",
            "--ServerApp.jpserver_extensions={'jupyter_mlops': True}",
            f"--{app_class}.app_settings_dir={app_settings}",
            f"--{app_class}.user_settings_dir={tmp_path / 'lab-user-settings'}",
            f"--{app_class}.expose_app_in_browser=True",
            *extra_args,
        ],
        cwd=project,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    documents = "notebooks" if name == "notebook7" else "lab/tree"
    server = LabServer(f"http://127.0.0.1:{port}", token, project, log_path, name, documents)
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(server.url("api/status"), timeout=2):
                    break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError(server.log_tail(3000)) from None
                time.sleep(0.5)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


@pytest.fixture
def chromium_page() -> Iterator[object]:
    """A Playwright page in Debian's Chromium; JS dialogs are dismissed and recorded."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.dialogs = dialogs  # type: ignore[attr-defined]
        errors: list[str] = []
        page.on("pageerror", lambda exc: _record_error(errors, exc))
        page.errors = errors  # type: ignore[attr-defined]
        try:
            yield page
        finally:
            context.close()
            browser.close()


def _record_error(errors: list[str], exc: object) -> None:
    """Keep an uncaught page error with the frame that threw it, unless Notebook 7's own core
    bundle threw it: Notebook 7.6 throws one TypeError from its shortcuts plugin on every page
    load, also with every extension disabled."""
    frames = [ln.strip() for ln in (getattr(exc, "stack", "") or "").splitlines()]
    origin = next((f for f in frames if f.startswith("at ")), "")
    if "/static/notebook/notebook_core." not in origin:
        errors.append(f"{exc} {origin}")
