"""Which files a run uploads, and the figures a cell drew."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from jupyter_mlops.core import git
from jupyter_mlops.core.tracking import background


class ArtifactFilter:
    """Splits candidate files into uploads and skips (too large, git-ignored, DVC-tracked)."""

    def __init__(self, cwd: Path, max_mb: float, probe: IgnoreProbe | None = None) -> None:
        self.cwd = cwd
        self.max_bytes = int(max_mb * 1024 * 1024)
        self.probe = probe

    def split(self, paths: list[Path]) -> tuple[list[Path], list[str]]:
        """``(kept, reasons)``: files to upload, and one short reason per skipped file."""
        kept, skipped = [], []
        asked, ignored = self.probe.result() if self.probe is not None else (set(), set())
        ignored = ignored | self._git_ignored([p for p in paths if p not in asked])
        for path in paths:
            rel = self._rel(path)
            if path in ignored:
                skipped.append(f"{rel} (git-ignored)")
            elif _dvc_tracked(path):
                skipped.append(f"{rel} (DVC-tracked: linked by hash instead)")
            elif path.is_file() and path.stat().st_size > self.max_bytes:
                size = path.stat().st_size / 1024 / 1024
                skipped.append(f"{rel} ({size:.0f} MB > {self.max_bytes / 1024 / 1024:.0f} MB cap)")
            else:
                kept.append(path)
        return kept, skipped

    def _rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.cwd).as_posix()
        except ValueError:
            return str(path)

    def _git_ignored(self, paths: list[Path]) -> set[Path]:
        if not paths:
            return set()
        out = git.run(
            self.cwd, "check-ignore", "--stdin", "-z", input="\0".join(map(str, paths)) + "\0"
        )
        return {Path(p).resolve() for p in out.stdout.split("\0") if p}


class IgnoreProbe:
    """``git check-ignore`` of the files a cell names, asked on a kept thread while the cell
    runs (a git process inside the cell's time otherwise)."""

    def __init__(self, cwd: Path, paths: list[Path]) -> None:
        self.paths = {p.resolve() for p in paths}
        self._future = background.submit(self._ask, cwd)

    def _ask(self, cwd: Path) -> set[Path]:
        try:
            return ArtifactFilter(cwd, 0)._git_ignored(sorted(self.paths))
        except Exception:  # asked again in the cell by ``split``
            self.paths = set()
            return set()

    def result(self, timeout: float = 10.0) -> tuple[set[Path], set[Path]]:
        """``(paths asked, paths git ignores)``."""
        try:
            ignored = self._future.result(timeout)
        except Exception:  # still asking: ``split`` asks again in the cell
            return set(), set()
        return self.paths, ignored


def _dvc_tracked(path: Path) -> bool:
    try:
        from jupyter_mlops.core.data.dvc_files import is_dvc_tracked
    except ImportError:
        return path.with_name(path.name + ".dvc").exists()
    return bool(is_dvc_tracked(path))


def figure_numbers() -> set[int]:
    """Numbers of the open matplotlib figures (empty when pyplot was never imported)."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    return set(pyplot.get_fignums()) if pyplot is not None else set()


def save_new_figures(before: set[int]) -> Path | None:
    """Save figures opened since ``before`` as ``figures/<n>.png`` in a temp folder."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return None
    new = [n for n in pyplot.get_fignums() if n not in before]
    if not new:
        return None
    folder = Path(tempfile.mkdtemp(prefix="jupyter-mlops-figures-")) / "figures"
    folder.mkdir()
    for index, number in enumerate(sorted(new), start=1):
        pyplot.figure(number).savefig(folder / f"{index}.png", dpi=100, bbox_inches="tight")
    return folder
