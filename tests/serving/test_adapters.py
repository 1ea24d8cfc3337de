"""%mlops_serve in a real InteractiveShell, `jupyter mlops serve` as a real process, and purity."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from IPython.core.error import UsageError

from tests.serving.conftest import post, split

pytestmark = pytest.mark.slow
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def ishell(registry, tmp_path, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    monkeypatch.chdir(tmp_path)
    cfg = Config()
    cfg.HistoryManager.enabled = False
    InteractiveShell.clear_instance()
    ip = InteractiveShell.instance(config=cfg)
    ip.run_line_magic("load_ext", "jupyter_mlops")
    yield ip
    ip.run_line_magic("mlops_serve", "--stop")
    ip.run_line_magic("unload_ext", "jupyter_mlops")
    InteractiveShell.clear_instance()


def test_magic_serves_and_displays_a_live_dashboard(ishell, registry, capsys):
    from jupyter_mlops.widgets.serving import LiveServer, ServerDashboard

    server = ishell.run_line_magic("mlops_serve", "models:/clf@champion --shadow models:/clf/2")
    assert isinstance(server, LiveServer) and server.running
    status, data, _ = post(server.url + "/invocations", split(registry.sample))
    assert status == 200 and data["predictions"] == registry.expected["1"]
    time.sleep(0.5)
    bundle, _ = server._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "1 requests, 0 errors" in bundle["text/plain"]
    assert "shadow v2 agreement 0.0%" in bundle["text/plain"]
    assert "<b>models:/clf@champion v1 serving at http://127.0.0.1:" in bundle["text/html"]
    widget = server.dashboard()
    assert isinstance(widget, ServerDashboard)
    assert widget.view["numbers"]["requests"] == 1 and widget.view["swaps"][0]["version"] == "1"
    ishell.run_line_magic("mlops_serve", "--list")
    assert "models:/clf@champion v1 serving" in capsys.readouterr().out
    ishell.run_line_magic("mlops_serve", "--stop")
    assert not server.running
    assert "stopped 1 server(s)" in capsys.readouterr().out


def test_magic_bad_input_is_one_usage_error_line(ishell):
    with pytest.raises(UsageError, match="give a model URI"):
        ishell.run_line_magic("mlops_serve", "")
    with pytest.raises(UsageError, match="cannot load models:/clf@nobody"):
        ishell.run_line_magic("mlops_serve", "models:/clf@nobody")
    with pytest.raises(UsageError, match="port must be"):
        ishell.run_line_magic("mlops_serve", "models:/clf@champion --port 70000")


def test_static_summary_escapes_names():
    from jupyter_mlops.widgets.serving import ServerDashboard, dashboard_view

    view = dashboard_view(
        {
            "model_uri": XSS,
            "url": "http://x",
            "running": False,
            "version": XSS,
            "shadow_uri": XSS,
            "shadow_version": XSS,
            "versions": [{"version": XSS, "since": 1.0}],
        }
    )
    widget = ServerDashboard.__new__(ServerDashboard)
    object.__setattr__(widget, "_trait_values", {"view": view, "summary": XSS})
    html = ServerDashboard.static_html(widget)
    assert XSS not in html and "&lt;img src=x" in html


def test_cli_serves_until_interrupted(registry, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_mlops.cli",
            "serve",
            "models:/clf@champion",
            "--tracking-uri",
            registry.uri,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("serving models:/clf@champion v1 on http://127.0.0.1:"), first
        url = first.split(" on ")[1].strip()
        status, data, _ = post(url + "/invocations", split(registry.sample))
        assert status == 200 and data["predictions"] == registry.expected["1"]
        from jupyter_mlops.core.serving.runtime import running_servers

        child = running_servers()[0]["pid"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        with pytest.raises(ProcessLookupError):
            for _ in range(50):
                os.kill(child, 0)
                time.sleep(0.1)
    finally:
        proc.kill()
        proc.wait()


def test_cli_bad_model_exits_64_with_one_line(registry, tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter_mlops.cli",
            "serve",
            "models:/clf/4",
            "--tracking-uri",
            registry.uri,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
        cwd=tmp_path,
    )
    assert out.returncode == 64
    assert out.stderr.strip().count("\n") == 0
    assert "cannot load models:/clf/4" in out.stderr and "weights file is missing" in out.stderr


def test_core_serving_is_pure():
    code = (
        "import sys, json\n"
        "import jupyter_mlops.core.serving.server, jupyter_mlops.core.serving.process\n"
        "import jupyter_mlops.core.serving.app, jupyter_mlops.core.serving.replay\n"
        "import jupyter_mlops.core.serving.shadow, jupyter_mlops.core.serving.traffic\n"
        "bad = {'IPython', 'ipykernel', 'ipywidgets', 'anywidget', 'tornado'}\n"
        "print(json.dumps(sorted(bad & set(sys.modules))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
        check=True,
    )
    assert json.loads(out.stdout) == []
