"""The git state beside a tracked cell: HEAD, dirtiness and the work-tree diff, read in a
background thread started before the cell runs so it costs no wall time."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from jupyter_mlops.core import contracts as c
from jupyter_mlops.core import git
from jupyter_mlops.core.tracking import background

DIFF_CAP_BYTES = 2 * 1024 * 1024
UNTRACKED_FILE_CAP_BYTES = 256 * 1024  # larger untracked files are listed, not included
UNTRACKED_LISTED = 500
# Our own store files never make a work tree "dirty" (the default store lives at the root).
_OWN_FILES = re.compile(
    r"(^|/)(mlflow\.db([.-].*)?|mlruns/.*|mlartifacts/.*|\.ipynb_checkpoints/.*)$"
)
# Untracked files whose content never goes into a logged diff (only their names).
_SENSITIVE_FILES = re.compile(
    r"(^|/)(\.env(\..*)?|\.netrc|\.pgpass|id_[a-z0-9]+|[^/]*\.(pem|key|p12|pfx)|[^/]*credential[^/]*"
    r"|[^/]*secret[^/]*)$",
    re.I,
)


@dataclass(frozen=True)
class GitState:
    """HEAD commit, whether the work tree differs from it, and that difference as a patch."""

    commit: str | None
    dirty: bool
    diff: str
    root: Path | None


def git_state(root: Path) -> GitState:
    """Git state of the work tree holding ``root``; never raises (no repo -> commit None)."""
    try:
        return _git_state(Path(root))
    except Exception:
        return GitState(None, False, "", None)


def _git_state(root: Path) -> GitState:
    top_dir = git.top_level(root)
    if top_dir is None:
        return GitState(None, False, "", None)
    status = git.run(
        top_dir, "status", "--porcelain=v2", "-z", "--branch", "--untracked-files=all", text=False
    )
    if status.returncode != 0:
        return GitState(None, False, "", top_dir)
    commit, changed, untracked = _parse_status(status.stdout.decode("utf-8", "replace"))
    if commit is None or not (changed or untracked):
        return GitState(commit, bool(changed or untracked), "", top_dir)
    return GitState(commit, True, _work_tree_diff(top_dir, untracked), top_dir)


def _parse_status(text: str) -> tuple[str | None, list[str], list[str]]:
    """(HEAD commit, changed tracked paths, untracked paths) from ``status --porcelain=v2 -z``."""
    commit: str | None = None
    changed: list[str] = []
    untracked: list[str] = []
    entries = iter(text.split("\0"))
    for entry in entries:
        if entry.startswith("# branch.oid "):
            oid = entry.split()[-1]
            commit = None if oid == "(initial)" else oid
        elif entry.startswith(("1 ", "2 ", "u ")):
            path = entry.split(" ", {"1": 8, "2": 9, "u": 10}[entry[0]])[-1]
            if entry[0] == "2":
                next(entries, None)  # the rename's original path
            if not _OWN_FILES.search(path):
                changed.append(path)
        elif entry.startswith("? ") and not _OWN_FILES.search(entry[2:]):
            untracked.append(entry[2:])
    return commit, changed, untracked


def _work_tree_diff(top: Path, untracked: list[str]) -> str:
    """``git diff HEAD`` plus new-file hunks for small untracked text files, capped."""
    parts = [
        git.capped_output(top, "diff", "HEAD", "--no-color", "--no-ext-diff", cap=DIFF_CAP_BYTES)
    ]
    if untracked:
        listed = "".join(f"#   {path}\n" for path in untracked[:UNTRACKED_LISTED])
        more = len(untracked) - UNTRACKED_LISTED
        listed += f"#   ... and {more} more\n" if more > 0 else ""
        parts.insert(0, f"# jupyter-mlops: untracked files (not ignored):\n{listed}")
        parts.extend(_new_file_hunk(top, path) for path in untracked[:UNTRACKED_LISTED])
    text = "".join(parts)
    data = text.encode("utf-8")
    if len(data) <= DIFF_CAP_BYTES:
        return text
    cut = data[:DIFF_CAP_BYTES].decode("utf-8", "ignore").rsplit("\n", 1)[0]
    return f"{cut}\n# jupyter-mlops: diff truncated at {DIFF_CAP_BYTES} bytes\n"


def _new_file_hunk(top: Path, path: str) -> str:
    if _SENSITIVE_FILES.search(path):
        return ""
    try:
        file = top / path
        if file.stat().st_size > UNTRACKED_FILE_CAP_BYTES:
            return ""
        data = file.read_bytes()
    except OSError:
        return ""
    header = f"diff --git a/{path} b/{path}\nnew file mode 100644\n"
    if b"\0" in data[:8192]:
        return f"{header}Binary files /dev/null and b/{path} differ\n"
    lines = data.decode("utf-8", "replace").split("\n")
    lines = lines[:-1] if lines[-1] == "" else lines
    if not lines:
        return header
    body = "".join(f"+{line}\n" for line in lines)
    if not data.endswith(b"\n"):
        body += "\\ No newline at end of file\n"
    return f"{header}--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,{len(lines)} @@\n{body}"


def state_fields(state: GitState | None) -> tuple[dict[str, str], dict[str, str]]:
    """The run tags and texts (the diff) that record ``state``."""
    if state is None or not state.commit:
        return {}, {}
    tags = {c.TAG_GIT_COMMIT: state.commit, c.TAG_GIT_DIRTY: "true" if state.dirty else "false"}
    texts = {c.ART_GIT_DIFF: state.diff} if state.dirty and state.diff else {}
    return tags, texts


class GitProbe:
    """Reads the git state on a kept thread from before the cell runs, so it costs no wall
    time; a cell that ends first hands the state over later (``when_done``)."""

    def __init__(self, folder: Path) -> None:
        self._future = background.submit(git_state, folder)

    def done(self) -> bool:
        """Whether the state is read (``result`` returns without waiting)."""
        return self._future.done()

    def result(self, timeout: float = 10.0) -> GitState | None:
        """The ``GitState`` (or None when unknown), waiting at most ``timeout`` seconds."""
        try:
            return self._future.result(timeout)
        except Exception:  # timed out, or git failed: the state is unknown
            return None

    def when_done(self, then: Callable[[GitState | None], None]) -> None:
        """Call ``then(state)`` once the state is read: on the probe's thread, or now if it is."""
        self._future.add_done_callback(lambda _future: then(self.result(0)))
