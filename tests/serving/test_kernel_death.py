"""A server started in a real kernel dies with it: on restart and on kill -9."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from jupyter_client.manager import KernelManager

from jupyter_mlops.core.serving.runtime import running_servers

pytestmark = pytest.mark.slow


def _run(kc, code: str) -> str:
    out = []

    def hook(msg):
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            out.append("\n".join(msg["content"]["traceback"]))

    reply = kc.execute_interactive(code, timeout=120, output_hook=hook)
    assert reply["content"]["status"] == "ok", "".join(out)
    return "".join(out)


def _gone(pid: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


START = """
import json
from jupyter_mlops.core.serving.server import serve
server = serve("models:/clf@champion")
print(json.dumps({"pid": server.pid, "url": server.url}))
"""


@pytest.mark.parametrize("how", ["kill -9", "restart"])
def test_server_does_not_outlive_its_kernel(registry, how):
    km = KernelManager(kernel_name="python3")
    km.start_kernel(env={**os.environ, "PYTHONPATH": os.getcwd()})
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        info = json.loads(_run(kc, START).strip().splitlines()[-1])
        assert [s["pid"] for s in running_servers()] == [info["pid"]]
        if how == "kill -9":
            os.kill(km.provisioner.process.pid, signal.SIGKILL)
        else:
            km.restart_kernel(now=True)
        assert _gone(info["pid"]), f"server {info['pid']} outlived its kernel ({how})"
        assert running_servers() == []
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
