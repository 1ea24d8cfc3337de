"""Data lineage: which data version each run used, and which runs used each data version.

A data version is linked to a run as an MLflow dataset input whose digest is the DVC hash and
whose source names path and git revision. This module reads MLflow and git (``.dvc`` files are
plain YAML); everything that needs DVC itself lives in ``core/snapshot.py``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_mlops.core import git
from jupyter_mlops.core.errors import DataVersionError, TrackingUnavailable, UsageProblem

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

SOURCE_TYPE = "dvc"
CONTEXT_TAG = "mlflow.data.context"
COUNT_ROWS_UP_TO = 64 * 1024 * 1024  # counting CSV rows reads the file; skip it beyond this


@dataclass(frozen=True)
class DataVersion:
    """One DVC-tracked path at one content hash, and the git revision holding its ``.dvc`` file."""

    path: str  # relative to the repository root, POSIX separators
    dvc_hash: str
    size: int | None = None
    nfiles: int | None = None
    git_rev: str | None = None  # None while the ``.dvc`` file is not committed
    committed: bool = False


@dataclass(frozen=True)
class DvcOutput:
    """The single output a ``.dvc`` file records."""

    path: str
    md5: str
    size: int | None
    nfiles: int | None


# --- git -------------------------------------------------------------------------------------


def git_root(start: Path) -> Path:
    """Top of the git work tree holding ``start``; a clear line outside any git repo."""
    try:
        return Path(git.output(start, "rev-parse", "--show-toplevel").strip())
    except DataVersionError as exc:
        raise UsageProblem(
            f"{start} is not inside a git repository: run `git init` first "
            "(data versions are tied to a git revision)"
        ) from exc


def inside(root: Path, path: Path) -> bool:
    """True when ``path`` is ``root`` or below it (no symlink resolution of ``path``)."""
    try:
        return os.path.commonpath([root, path]) == str(root)
    except ValueError:
        return False


def git_version_of(root: Path, file: Path) -> str | None:
    """The last commit of ``file`` when the work tree matches it, else None (uncommitted)."""
    rel = file.relative_to(root).as_posix()
    if git.output(root, "status", "--porcelain", "--", rel).strip():
        return None
    rev = git.output(root, "log", "-1", "--format=%H", "--", rel).strip()
    return rev or None


# --- .dvc files and tables -------------------------------------------------------------------


def read_dvc_output(text: str) -> DvcOutput:
    """Parse a ``.dvc`` file (YAML) into its one output."""
    import yaml

    try:
        data = yaml.safe_load(text) or {}
        out = data["outs"][0]
        return DvcOutput(str(out["path"]), str(out["md5"]), out.get("size"), out.get("nfiles"))
    except (yaml.YAMLError, KeyError, IndexError, TypeError) as exc:
        raise DataVersionError(f"unreadable .dvc file: {exc}") from exc


def table_stats(path: Path) -> tuple[int | None, int | None, dict[str, str] | None]:
    """Rows, columns and schema of a CSV/TSV/parquet file (cheap: header sample, metadata)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(path)
            schema = {f.name: str(f.type) for f in meta.schema_arrow}
            return meta.metadata.num_rows, len(schema), schema
        if suffix in (".csv", ".tsv"):
            import pandas as pd

            sample = pd.read_csv(path, nrows=1000, sep="\t" if suffix == ".tsv" else ",")
            schema = {str(c): str(t) for c, t in sample.dtypes.items()}
            return _count_rows(path), len(schema), schema
    except Exception:  # a file that is not the table its name says: no stats, still versioned
        return None, None, None
    return None, None, None


def _count_rows(path: Path) -> int | None:
    size = path.stat().st_size
    if size > COUNT_ROWS_UP_TO:
        return None
    newlines, last = 0, b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
    lines = newlines + (last != b"\n")
    return max(lines - 1, 0)  # minus the header


# --- MLflow ----------------------------------------------------------------------------------


def dataset_fields(version: DataVersion, context: str) -> dict[str, str]:
    """The MLflow dataset input of one data version as plain strings (digest = DVC hash):
    what a ``RunRecord`` holds in ``inputs``, so the link is written, spooled and replayed."""
    source = {"path": version.path, "git_rev": version.git_rev, "committed": version.committed}
    profile = {"size": version.size, "nfiles": version.nfiles}
    for name in ("rows", "columns"):
        if getattr(version, name, None) is not None:
            profile[name] = getattr(version, name)
    fields = {
        "name": version.path,
        "digest": version.dvc_hash,
        "source_type": SOURCE_TYPE,
        "source": json.dumps(source),
        "profile": json.dumps(profile),
        "context": context,
    }
    if getattr(version, "schema", None):
        fields["schema"] = json.dumps({"columns": version.schema})  # type: ignore[attr-defined]
    return fields


def dataset_input(version: DataVersion, context: str) -> Any:
    """The MLflow ``DatasetInput`` for one data version (digest = DVC hash)."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    fields = dataset_fields(version, context)
    dataset = Dataset(
        name=fields["name"],
        digest=fields["digest"],
        source_type=fields["source_type"],
        source=fields["source"],
        schema=fields.get("schema"),
        profile=fields["profile"],
    )
    return DatasetInput(dataset, tags=[InputTag(CONTEXT_TAG, context)])


# (store, run id) -> (path, hash) pairs the run records: a run read or written once in this
# process need not be read again by the next snapshot (the unchanged re-snapshot stays fast)
_known_runs: dict[tuple[str, str], set[tuple[str, str]]] = {}


def _store_key(client: MlflowClient) -> str:
    return str(getattr(client, "tracking_uri", None) or id(client))


def link_versions(
    client: MlflowClient, run_id: str, versions: list[DataVersion], context: str
) -> None:
    """Log ``versions`` as dataset inputs of ``run_id``."""
    client.log_inputs(run_id, datasets=[dataset_input(v, context) for v in versions])
    known = _known_runs.get((_store_key(client), run_id))
    if known is not None:
        known.update((v.path, v.dvc_hash) for v in versions)


def versions_of_run(run: Run) -> list[DataVersion]:
    """The data versions a run recorded (its ``dvc`` dataset inputs)."""
    found = []
    for item in run.inputs.dataset_inputs if run.inputs else []:
        ds = item.dataset
        if ds.source_type != SOURCE_TYPE:
            continue
        source = json.loads(ds.source or "{}")
        profile = json.loads(ds.profile or "{}")
        found.append(
            DataVersion(
                source.get("path", ds.name), ds.digest, profile.get("size"),
                profile.get("nfiles"), source.get("git_rev"), bool(source.get("committed")),
            )
        )  # fmt: skip
    return found


def get_run(client: MlflowClient, run_id: str) -> Run:
    """The run ``run_id``; an unknown id is a clear line."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException as exc:
        if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(exc):
            raise UsageProblem(f"unknown run id {run_id!r}") from exc
        raise TrackingUnavailable(f"cannot read run {run_id}: {exc}") from exc


def resolve_run(
    run_id: str | None, client: MlflowClient | None, notebook: str | None
) -> tuple[str | None, MlflowClient, str, set[tuple[str, str]]]:
    """Which run a snapshot belongs to (``active.choose_run``'s rule).

    Returns the run id (None: no run), the client, a note, and the (path, hash) pairs the run
    already records (known only when the run was read anyway).
    """
    import mlflow

    from jupyter_mlops.core import active
    from jupyter_mlops.core.store import get_client

    if not run_id and active.running_run_id() is not None:
        client = client or get_client(mlflow.get_tracking_uri())
        return active.running_run_id(), client, "", set()
    client = client or get_client()
    if run_id:
        key = (_store_key(client), run_id)
        if key not in _known_runs:
            run = get_run(client, run_id)
            _known_runs[key] = {(v.path, v.dvc_hash) for v in versions_of_run(run)}
        return run_id, client, "", _known_runs[key]
    chosen = active.choose_run(client, None, notebook)
    if chosen is not None:
        return chosen, client, "", set()
    note = "not linked to any run (no %%track run, no --run, no tracked run yet)"
    return None, client, note, set()


# --- data_lineage ----------------------------------------------------------------------------


def _git_versions(root: Path, rel: str) -> list[dict[str, Any]]:
    """Every committed content of ``rel``'s ``.dvc`` file, oldest first, plus an uncommitted one."""
    dvc_rel = rel + ".dvc"
    log = git.output(root, "log", "--reverse", "--format=%H%x1f%cI%x1f%s", "--", dvc_rel)
    versions: list[dict[str, Any]] = []
    for line in log.splitlines():
        rev, date, subject = line.split("\x1f", 2)
        try:
            md5 = read_dvc_output(git.output(root, "show", f"{rev}:{dvc_rel}")).md5
        except DataVersionError:  # the file was deleted in this commit
            continue
        if not versions or versions[-1]["hash"] != md5:
            versions.append({"hash": md5, "git_rev": rev, "date": date, "message": subject})
    work = root / dvc_rel
    if work.exists():
        md5 = read_dvc_output(work.read_text()).md5
        if not versions or versions[-1]["hash"] != md5:
            versions.append(
                {"hash": md5, "git_rev": None, "date": None, "message": "(uncommitted)"}
            )
    return versions


def _runs_using(client: MlflowClient, rel: str) -> list[tuple[Run, DataVersion]]:
    from mlflow.entities import ViewType

    exps = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    found = []
    token = None
    while exps:
        page = client.search_runs(exps, max_results=1000, page_token=token)
        for run in page:
            found += [(run, v) for v in versions_of_run(run) if v.path == rel]
        token = page.token
        if not token:
            break
    return found


def data_lineage(
    path: str | os.PathLike[str],
    cwd: str | os.PathLike[str] | None = None,
    client: MlflowClient | None = None,
) -> pd.DataFrame:
    """Each version of ``path`` (hash, git rev, date, message) with the runs that used it.

    One row per (version, run); a version no run used has one row with empty run columns.
    Metric columns hold each run's latest metric values.
    """
    import pandas as pd

    from jupyter_mlops.core.store import get_client

    base = Path(os.path.realpath(cwd or os.getcwd()))
    root = git_root(base)
    absolute = Path(os.path.abspath(base / Path(path).expanduser()))
    if not inside(root, absolute):
        raise UsageProblem(f"{path} is outside the git repository at {root}")
    rel = absolute.relative_to(root).as_posix()
    versions = _git_versions(root, rel)
    runs = _runs_using(client or get_client(), rel)
    if not versions and not runs:
        raise UsageProblem(f"{path} has no DVC versions (no {rel}.dvc in git history or on disk)")
    known = {v["hash"] for v in versions}
    for _, v in runs:  # versions only a run knows (snapshots later replaced before a commit)
        if v.dvc_hash not in known:
            known.add(v.dvc_hash)
            versions.append(
                {"hash": v.dvc_hash, "git_rev": v.git_rev, "date": None, "message": None}
            )
    rows = []
    for number, version in enumerate(versions, start=1):
        users = [r for r, v in runs if v.dvc_hash == version["hash"]]
        seen: set[str] = set()
        for run in users or [None]:
            if run is not None and run.info.run_id in seen:
                continue
            row = {"version": number, **version, "run_id": None, "run_name": None}
            if run is not None:
                seen.add(run.info.run_id)
                row.update(run_id=run.info.run_id, run_name=run.info.run_name)
                row.update(run.data.metrics)
            rows.append(row)
    frame = pd.DataFrame(rows)
    frame["date"] = pd.to_datetime(frame["date"], utc=True)
    return frame
