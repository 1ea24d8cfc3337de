"""Data lineage: which data version each run used, and which runs used each data version.

A data version is linked to a run as an MLflow dataset input whose digest is the DVC hash and
whose source names path and git revision. This module reads MLflow and git (``.dvc`` files are
plain YAML, read by ``dvc_files``); everything that needs DVC itself lives in ``dvc_repo``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_mlops.core import git
from jupyter_mlops.core.contracts import TAG_DATA_CONTEXT
from jupyter_mlops.core.data.dvc_files import (
    DataVersion,
    current_version,
    dvc_file_of,
    git_root,
    inside,
    read_dvc_output,
)
from jupyter_mlops.core.errors import (
    DataVersionError,
    TrackingUnavailable,
    UsageProblem,
    first_line,
)

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

SOURCE_TYPE = "dvc"
CONTEXT_TAG = TAG_DATA_CONTEXT


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
    """The data versions a run recorded (its ``dvc`` dataset inputs), exactly as recorded.

    Anyone who can write to the store can write these: a reader that acts on them in the work
    tree (``checkout_data``) checks them against git first (``verify``).
    """
    found = []
    for item in run.inputs.dataset_inputs if run.inputs else []:
        ds = item.dataset
        if ds.source_type != SOURCE_TYPE:
            continue
        source = _json_object(ds.source)
        profile = _json_object(ds.profile)
        path, rev = source.get("path", ds.name), source.get("git_rev")
        found.append(
            DataVersion(
                path if isinstance(path, str) else repr(path), str(ds.digest),
                _count(profile.get("size")), _count(profile.get("nfiles")),
                rev if rev is None or isinstance(rev, str) else repr(rev),
                source.get("committed") is True,
            )
        )  # fmt: skip
    return found


def _json_object(text: str | None) -> dict[str, Any]:
    """A JSON object from a run's record; anything else (bad JSON, a list) is empty."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> int | None:
    """A recorded size or file count: a non-negative int, else unknown."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def get_run(client: MlflowClient, run_id: str) -> Run:
    """The run ``run_id``; an empty, malformed or unknown id is a clear line."""
    from mlflow.exceptions import MlflowException

    if not isinstance(run_id, str) or not run_id.strip():
        raise UsageProblem("the run id is empty; name a run (MLflow run ids are 32 hex digits)")
    if len(run_id) > 256 or not run_id.isprintable():
        shown = repr(run_id[:40]) + ("..." if len(run_id) > 40 else "")
        raise UsageProblem(
            f"not a run id: {shown} ({len(run_id)} characters; MLflow run ids are 32 hex digits)"
        )
    try:
        return client.get_run(run_id)
    except MlflowException as exc:
        code = getattr(exc, "error_code", "")
        if code == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(exc):
            raise UsageProblem(f"unknown run id {run_id!r}") from exc
        if code == "INVALID_PARAMETER_VALUE":
            raise UsageProblem(f"not a run id: {run_id!r}") from exc
        raise TrackingUnavailable(f"cannot read run {run_id}: {first_line(exc)}") from exc


def resolve_run(
    run_id: str | None, client: MlflowClient | None, notebook: str | None
) -> tuple[str | None, MlflowClient, str, set[tuple[str, str]]]:
    """Which run a snapshot belongs to (``active.choose_run``'s rule).

    Returns the run id (None: no run), the client, a note, and the (path, hash) pairs the run
    already records (known only when the run was read anyway). An unknown ``run_id`` is a
    ``UsageProblem``; a store that cannot be reached gives no run and a note saying so, so the
    snapshot is still taken.
    """
    import mlflow

    from jupyter_mlops.core import active
    from jupyter_mlops.core.store import get_client, redact_uri

    if run_id is None and active.running_run_id() is not None:
        client = client or get_client(mlflow.get_tracking_uri())
        return active.running_run_id(), client, "", set()
    client = client or get_client()
    try:
        if run_id is not None:
            key = (_store_key(client), run_id)
            if key not in _known_runs:
                run = get_run(client, run_id)
                _known_runs[key] = {(v.path, v.dvc_hash) for v in versions_of_run(run)}
            return run_id, client, "", _known_runs[key]
        chosen = active.choose_run(client, None, notebook)
    except UsageProblem:
        raise
    except Exception as exc:  # the store is down or refuses: version the data, link nothing
        where = redact_uri(str(getattr(client, "tracking_uri", "") or "the tracking store"))
        note = f"NOT linked to a run: cannot reach {where} ({first_line(exc)[:120]})"
        return None, client, note, set()
    if chosen is not None:
        return chosen, client, "", set()
    note = "not linked to any run (no %%track run, no --run, no tracked run yet)"
    return None, client, note, set()


# --- a tracked cell's data -------------------------------------------------------------------


def versions_for_paths(literals: Iterable[str], cwd: Path) -> list[DataVersion]:
    """The DVC versions of every DVC-tracked path named by one of ``literals`` (no MLflow)."""
    found: dict[Path, DataVersion] = {}
    root: Path | None = None
    for literal in literals:
        if not literal or len(literal) > 1024 or "\n" in literal or "\0" in literal:
            continue
        try:
            dvcfile = dvc_file_of(Path(cwd) / literal)
        except (OSError, ValueError):  # not a usable path (too long, bad characters)
            continue
        if dvcfile is None or dvcfile in found:
            continue
        root = root or git_root(Path(os.path.realpath(cwd)))
        found[dvcfile] = current_version(dvcfile, root)
    return list(found.values())


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
