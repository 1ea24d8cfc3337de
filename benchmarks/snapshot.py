"""Benchmark ``%dvc_snapshot`` against the ``dvc add`` CLI and ``md5sum`` on one generated file.

    python benchmarks/snapshot.py [--size-mb 1024] [--cache-type copy hardlink reflink]

Each measurement runs in a fresh git + DVC repo in a temp dir (empty cache, no DVC state), so
every tool hashes the whole file; the file is moved between repos, never regenerated. Prints
seconds and ratios against ``dvc add`` (goal: <= 1.1x) and against ``md5sum`` (the hashing
limit), the unchanged re-snapshot time (goal: <= 0.2 s), and what each DVC cache link type
costs (copy is the default: hardlinks make the workspace file read-only).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
IDENTITY = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}
DATA = "data/big.bin"


def sh(cwd: Path, *args: str) -> None:
    subprocess.run(args, cwd=cwd, env={**os.environ, **IDENTITY}, check=True, capture_output=True)


def generate(path: Path, size_mb: int) -> None:
    """``size_mb`` MB of incompressible bytes (a random block, varied per MB)."""
    block = os.urandom(1 << 20)
    with path.open("wb") as handle:
        for i in range(size_mb):
            handle.write(i.to_bytes(8, "little") + block[8:])


def fresh_repo(base: Path, name: str, cache_type: str | None = None) -> Path:
    """A git repo with DVC initialised and committed, and an empty ``data/``."""
    root = base / name
    (root / "data").mkdir(parents=True)
    sh(root, "git", "init", "-q", "-b", "main")
    sh(root, "git", "config", "user.name", "Bench")
    sh(root, "git", "config", "user.email", "bench@example.invalid")
    sh(root, sys.executable, "-m", "dvc", "init", "-q")
    if cache_type:
        sh(root, sys.executable, "-m", "dvc", "config", "cache.type", cache_type)
    sh(root, "git", "commit", "-q", "-m", "dvc init")
    return root


class Mover:
    """Moves the one generated file into each fresh repo (rename: no copy, no regeneration)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.moves = 0

    def into(self, root: Path) -> Path:
        target = root / DATA
        target.chmod(0o644) if target.exists() else None
        os.replace(self.path, target)
        self.path = target
        self.path.chmod(0o644)  # a hardlinked cache leaves it read-only
        # a new mtime: DVC's state cache (inode, mtime, size) must not remember the last hash
        self.moves += 1
        stamp = time.time() + self.moves
        os.utime(target, (stamp, stamp))
        return target


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def measure(base: Path, mover: Mover, name: str, action: Callable[[Path], object], **kw) -> float:
    root = fresh_repo(base, name, **kw)
    mover.into(root)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        return timed(lambda: action(root))
    finally:
        os.chdir(cwd)
        holder = base / "holder"
        holder.mkdir(exist_ok=True)
        mover.path.chmod(0o644)
        os.replace(mover.path, holder / "big.bin")
        mover.path = holder / "big.bin"
        shutil.rmtree(root)


def repo_add(root: Path) -> None:
    """DVC's Python API without a process start: the floor for an in-kernel snapshot."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        repo.scm_context.quiet = True
        repo.add([str(p) for p in (root / "data").iterdir() if p.suffix == ".bin"])


def reflink_supported(folder: Path) -> bool:
    """Whether this filesystem can reflink (btrfs/XFS can; ext4/overlayfs cannot)."""
    src, dst = folder / "probe-src", folder / "probe-dst"
    src.write_bytes(b"x")
    ok = subprocess.run(["cp", "--reflink=always", src, dst], capture_output=True).returncode == 0
    src.unlink()
    dst.unlink(missing_ok=True)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool (median)")
    parser.add_argument("--cache-type", nargs="*", default=["copy", "hardlink", "reflink"])
    args = parser.parse_args()

    import mlflow

    from jupyter_mlops.core.data.snapshot import snapshot

    base = Path(tempfile.mkdtemp(prefix="bench-snapshot-"))
    try:
        uri = f"sqlite:///{base / 'mlflow.db'}"
        client = mlflow.MlflowClient(tracking_uri=uri)
        run_id = client.create_run("0").info.run_id
        (base / "holder").mkdir()
        mover = Mover(base / "holder" / "big.bin")
        print(f"generating {args.size_mb} MB ...", flush=True)
        generate(mover.path, args.size_mb)
        dvc_cli = [sys.executable, "-m", "dvc", "add", "-q", DATA]
        cases: dict[str, Callable[[Path], object]] = {
            "md5sum": lambda root: sh(root, "md5sum", DATA),
            "dvc add (CLI)": lambda root: sh(root, *dvc_cli),
            "dvc Repo.add (API)": repo_add,
            "%dvc_snapshot twin": lambda root: snapshot(DATA, run_id=run_id, client=client),
        }
        warm = fresh_repo(base, "warm-up")  # imports and first-use costs, outside the timings
        (warm / "data" / "w.bin").write_bytes(b"warm")
        os.chdir(warm)
        repo_add(warm)
        (warm / "data" / "w2.bin").write_bytes(b"warm2")
        snapshot("data/w2.bin", run_id=run_id, client=client)
        os.chdir(base)
        times: dict[str, float] = {}
        for name, action in cases.items():
            runs = [measure(base, mover, f"r{i}-{len(times)}", action) for i in range(args.repeat)]
            times[name] = statistics.median(runs)
        limit, cli = times["md5sum"], times["dvc add (CLI)"]
        print(f"\n{'tool':<22}{'seconds':>9}{'x dvc add':>11}{'x md5sum':>10}")
        for name, secs in times.items():
            print(f"{name:<22}{secs:>9.2f}{secs / cli:>11.2f}{secs / limit:>10.2f}")

        root = fresh_repo(base, "unchanged")
        mover.into(root)
        os.chdir(root)
        snapshot(DATA, run_id=run_id, client=client)
        again = [timed(lambda: snapshot(DATA, run_id=run_id, client=client)) for _ in range(5)]
        print(f"\nunchanged re-snapshot: median {statistics.median(again):.3f} s "
              f"(min {min(again):.3f}, 5 runs, goal <= 0.2 s)")  # fmt: skip
        os.chdir(base)
        mover.path.chmod(0o644)
        os.replace(mover.path, base / "holder" / "big.bin")
        mover.path = base / "holder" / "big.bin"

        print(f"\n{'cache type':<12}{'seconds':>9}{'x copy':>8}  workspace file")
        copy_secs = None
        for kind in args.cache_type:

            def snap(root: Path, kind: str = kind) -> object:
                return snapshot(DATA, link=False, link_type=kind)

            try:
                secs = measure(base, mover, f"link-{kind}", snap)
            except Exception as exc:  # reflink is unsupported on many filesystems
                print(f"{kind:<12}{'n/a':>9}{'':>8}  {str(exc).splitlines()[0][:70]}")
                continue
            copy_secs = copy_secs or (secs if kind == "copy" else None)
            ratio = f"{secs / copy_secs:.2f}" if copy_secs else "-"
            note = "read-only (hardlink to cache)" if kind == "hardlink" else "independent file"
            if kind == "reflink" and not reflink_supported(base):
                note = "reflink unsupported on this filesystem: fell back to copy"
            print(f"{kind:<12}{secs:>9.2f}{ratio:>8}  {note}")
    finally:
        os.chdir(tempfile.gettempdir())
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
