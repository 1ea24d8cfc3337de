"""Large artifact upload into S3-compatible object storage through a team server.

    python benchmarks/object_store.py [--mb 200]

Starts SeaweedFS (``weed server -s3``, keys required) and a proxied-artifact ``mlflow server``
on it (sqlite backend), all on loopback, then uploads one ``--mb`` MB file three ways, each
read back and checked by sha256:
  ours     the tracked-cell path: in parts through the server's presigned URLs, progress line
  mlflow   MLflow's default client upload (one streamed PUT through the server)
  boto3    straight to the bucket with boto3's managed upload (no tracking server: the ceiling)
and prints MB/s for each with the ratios, and the load average (the machine is shared).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")


def sha256(path: Path) -> str:
    """Hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def main() -> int:
    """Run the three uploads and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="file size in MB (default 200)")
    args = parser.parse_args()

    from mlflow.tracking import MlflowClient

    from jupyter_mlops.core.team.object_store import ObjectStore
    from jupyter_mlops.core.team.server import TeamServer
    from jupyter_mlops.core.tracking.upload import upload_folder

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with tempfile.TemporaryDirectory(prefix="bench-s3-") as tmp:
        root = Path(tmp)
        folder = root / "upload"
        folder.mkdir()
        big = folder / "big.bin"
        with open(big, "wb") as handle:
            for _ in range(args.mb):
                handle.write(os.urandom(1 << 20))
        digest = sha256(big)
        with ObjectStore(root / "s3") as store:
            server = TeamServer(
                backend_store_uri=f"sqlite:///{root / 'db.sqlite'}",
                artifacts_destination=store.url("mlflow"),
                log_path=root / "server.log",
                env=store.env(),
            )
            with server:
                client = MlflowClient(server.url)
                figures = {}
                for name in ("ours", "mlflow"):
                    run = client.create_run(client.create_experiment(f"bench-{name}"))
                    start = time.perf_counter()
                    if name == "ours":
                        upload_folder(run.info.artifact_uri, server.url, str(folder))
                    else:
                        client.log_artifact(run.info.run_id, str(big))
                    figures[name] = time.perf_counter() - start
                    back = client.download_artifacts(run.info.run_id, "big.bin", str(root / name))
                    assert sha256(Path(back)) == digest, f"{name}: bytes differ"
                s3 = store.client()
                start = time.perf_counter()
                s3.upload_file(str(big), store.bucket, "direct/big.bin")
                figures["boto3"] = time.perf_counter() - start
                buffer = io.BytesIO()
                s3.download_fileobj(store.bucket, "direct/big.bin", buffer)
                assert hashlib.sha256(buffer.getvalue()).hexdigest() == digest
    print(
        f"\n{args.mb} MB artifact, load average {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)"
    )
    for name, seconds in figures.items():
        print(
            f"  {name:7s} {args.mb / seconds:7.1f} MB/s  ({seconds:.1f} s, "
            f"{seconds / figures['ours']:.2f}x ours' time)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
