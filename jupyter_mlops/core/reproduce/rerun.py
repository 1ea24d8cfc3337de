"""``reproduce(run_id)``: re-run a run's code slice in a fresh kernel on the same or newer data.

The run's commit and dirty diff are rebuilt in a temporary git worktree, its DVC data version
(or the newest / a given revision's) is checked out there, and the slice executes in a new
kernel with tracking on: the new run is tagged ``jupyter_mlops.reproduces=<id>``. The user's
working tree, index, branch and data files are never touched.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_mlops.core import contracts as c
from jupyter_mlops.core import git
from jupyter_mlops.core.data.dvc_files import DataVersion, dvc_file_of, git_root
from jupyter_mlops.core.data.lineage import get_run, versions_of_run
from jupyter_mlops.core.data.verify import COMMIT_ID, UntrustedRecord, shown
from jupyter_mlops.core.errors import MlopsError, UsageProblem
from jupyter_mlops.core.reproduce import worktree
from jupyter_mlops.core.reproduce.comparison import (
    ChampionComparison,
    ReproduceResult,
    compare_metrics,
    is_better,
    package_differences,
    primary_metric,
)
from jupyter_mlops.core.store import get_client, resolve_tracking_uri

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

PREAMBLE = "%load_ext jupyter_mlops"
PROGRESS_BAR = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


def read_text_artifact(client: MlflowClient, run_id: str, path: str) -> str | None:
    """A small text artifact of a run, or None when the run does not have it."""
    import tempfile

    from mlflow.exceptions import MlflowException

    bar = os.environ.get(PROGRESS_BAR)
    os.environ[PROGRESS_BAR] = "false"  # MLflow draws a progress bar per download on stderr
    try:
        with tempfile.TemporaryDirectory() as folder:
            local = client.download_artifacts(run_id, path, folder)
            return Path(local).read_text(encoding="utf-8")
    except (MlflowException, OSError):
        return None
    finally:
        if bar is None:
            os.environ.pop(PROGRESS_BAR, None)
        else:
            os.environ[PROGRESS_BAR] = bar


def slice_sources(script: str, meta: dict[str, Any]) -> list[str]:
    """The entries' sources, cut out of ``cell/slice.py`` by the line numbers in slice.json."""
    lines = script.splitlines()
    return ["\n".join(lines[e["line"] - 1 : e["line"] - 1 + e["lines"]]) for e in meta["entries"]]


def tag_tracked_cell(source: str, run_id: str) -> str:
    """The tracked cell with ``--tag jupyter_mlops.reproduces=<id>`` added to its ``%%track``;
    a cell auto-track mode tracked (no cell magic) gets a ``%%track`` line of its own."""
    lines = source.splitlines()
    for index, line in enumerate(lines):
        if line.strip():
            if line.lstrip().startswith("%%track"):
                head = line.lstrip()[len("%%track") :]
                lines[index] = f"%%track --tag {c.TAG_REPRODUCES}={run_id}{head}"
            elif not line.lstrip().startswith("%%"):
                lines.insert(index, f"%%track --tag {c.TAG_REPRODUCES}={run_id}")
            break
    return "\n".join(lines)


def reproduce(
    run_id: str,
    data: str = "same",
    tolerance: float = 1e-9,
    *,
    gates: list[str] | None = None,
    model: str | None = None,
    tracking_uri: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
) -> ReproduceResult:
    """Re-run ``run_id``'s code slice on ``data`` = ``same`` | ``latest`` | a git revision.

    Returns the comparison with the original run (metrics within ``tolerance``, package
    versions, gates, and for other data the model's ``@champion``). Raises ``UsageProblem``
    for a run that cannot be reproduced (no slice, no commit, unknown data revision).
    """
    if not run_id or not run_id.strip():
        raise UsageProblem("reproduce needs a run id")
    if tolerance < 0 or tolerance != tolerance:
        raise UsageProblem(f"tolerance must be >= 0, got {tolerance}")
    base = Path(os.path.realpath(cwd or os.getcwd()))
    uri = resolve_tracking_uri(tracking_uri, start=base)
    client = get_client(uri)
    run = get_run(client, run_id.strip())
    run_id = run.info.run_id
    script = read_text_artifact(client, run_id, c.ART_CELL_SLICE)
    meta_text = read_text_artifact(client, run_id, c.ART_CELL_SLICE_JSON)
    if script is None or meta_text is None:
        raise UsageProblem(f"run {run_id} has no code slice (cell/slice.json): not reproducible")
    meta = json.loads(meta_text)
    commit = run.data.tags.get(c.TAG_GIT_COMMIT)
    if not commit:
        raise UsageProblem(f"run {run_id} recorded no git commit: not reproducible")
    if not COMMIT_ID.fullmatch(commit):
        raise UntrustedRecord(run_id, f"its recorded git commit {shown(commit)} is not a commit id")
    if data not in ("same", "latest") and (not data.strip() or data.startswith("-")):
        raise UsageProblem(f"--data: {shown(data)} is not a git revision")
    root = _repository(base, meta.get("root"), commit)
    result = ReproduceResult(run_id, None, data, tolerance)
    result.hazards = [_hazard_line(h) for h in meta.get("hazards", [])]
    started_ms = int(time.time() * 1000)
    with worktree.temporary_worktree(root, commit) as tree:
        _prepare(client, run, meta, root, tree, data, result)
        failure = _execute(client, uri, run, meta, script, tree, timeout)
    if failure is not None:
        result.failure = failure
    new = _find_rerun(client, run_id, started_ms)
    if new is None:
        result.failure = result.failure or "the re-run logged no run (tracking store unavailable?)"
        return result
    result.new_run_id = new.info.run_id
    _copy_params(client, run, new, result)
    result.metrics = compare_metrics(run.data.metrics, new.data.metrics, tolerance)
    original_env = read_text_artifact(client, run_id, c.ART_REQUIREMENTS) or ""
    new_env = read_text_artifact(client, new.info.run_id, c.ART_REQUIREMENTS) or ""
    if original_env and new_env:
        result.packages = package_differences(original_env, new_env)
    _check_gates(client, result, gates or [], model)
    if data != "same" or model:
        result.champion = _versus_champion(client, run, new, model, gates or [])
    return result


def _repository(base: Path, recorded: str | None, commit: str) -> Path:
    """The git repository holding the run's commit: the caller's, else the one it ran in."""
    from jupyter_mlops.core.errors import DataVersionError

    candidates = [base, Path(recorded)] if recorded else [base]
    for folder in candidates:
        try:
            root = git_root(folder)
            git.output(root, "cat-file", "-e", f"{commit}^{{commit}}")
            return root
        except (UsageProblem, DataVersionError, OSError):
            continue
    raise UsageProblem(
        f"commit {commit[:12]} of the run is in no git repository here; run reproduce "
        "inside the repository the run was tracked in"
    )


def _hazard_line(hazard: dict[str, Any]) -> str:
    count = hazard.get("execution_count")
    where = f" (execution {count})" if count else ""
    return f"{str(hazard.get('kind', '')).replace('_', ' ')}: {hazard.get('detail', '')}{where}"


def _prepare(
    client: MlflowClient,
    run: Run,
    meta: dict[str, Any],
    root: Path,
    tree: Path,
    data: str,
    result: ReproduceResult,
) -> None:
    """Dirty diff, data versions and unversioned files into the worktree."""
    from jupyter_mlops.core.data.checkout import restore_versions_into

    if run.data.tags.get(c.TAG_GIT_DIRTY) == "true":
        patch = read_text_artifact(client, run.info.run_id, c.ART_GIT_DIFF) or ""
        failed = worktree.apply_diff(tree, patch)
        if failed:
            result.notes.append("dirty diff not fully applied: " + ", ".join(failed))
    rel_cwd = meta.get("cwd") or "."
    kernel_dir = tree / rel_cwd
    linked = {v.path: v for v in versions_of_run(run)}
    paths = dict.fromkeys(linked)
    for path in meta.get("files_read", []):
        dvcfile = dvc_file_of(kernel_dir / path)
        if dvcfile is not None:
            paths[dvcfile.relative_to(tree).as_posix()[: -len(".dvc")]] = None
    versions: list[DataVersion] = []
    for rel in paths:
        if data == "same":
            found = linked.get(rel) or worktree.version_in_tree(tree, rel)
        else:
            found = worktree.version_at(root, rel, "HEAD" if data == "latest" else data)
        if found is not None:
            versions.append(found)
    if data != "same" and not versions:
        raise UsageProblem(
            f"run {run.info.run_id} read no DVC-tracked data: --data {data} has nothing to change"
        )
    restore_versions_into(tree, root, versions, run.info.run_id)
    result.data_versions = [f"{v.path}@{v.dvc_hash[:12]}" for v in versions]
    rels = [
        (Path(rel_cwd) / p).as_posix() for p in meta.get("files_read", []) if not p.startswith("/")
    ]
    copied = worktree.copy_files(root, tree, rels)
    if copied:
        result.notes.append("copied unversioned files from your checkout: " + ", ".join(copied))


def _execute(
    client: MlflowClient,
    uri: str,
    run: Run,
    meta: dict[str, Any],
    script: str,
    tree: Path,
    timeout: float | None,
) -> str | None:
    """Run preamble + slice in a fresh kernel in the worktree; one line when it raised."""
    import nbformat

    from jupyter_mlops.core.pipeline.kernel import execute
    from jupyter_mlops.core.pipeline.runner import absolute_uri, kernel_environment

    sources = slice_sources(script, meta)
    entries = meta["entries"]
    sources[-1] = tag_tracked_cell(sources[-1], run.info.run_id)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(PREAMBLE)]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in sources]
    experiment = client.get_experiment(run.info.experiment_id).name
    source_name = run.data.tags.get(c.TAG_SOURCE_NAME, "")
    env = kernel_environment(absolute_uri(uri), source_name, experiment)
    env.pop(c.ENV_DISABLE, None)
    if not source_name:
        env.pop(c.ENV_NOTEBOOK_PATH, None)
    failure = execute(nb, tree / (meta.get("cwd") or "."), env, timeout=timeout)
    if failure is None:
        return None
    if failure.cell_index == 0:
        return f"the preamble `{PREAMBLE}` raised: {failure.ename}: {failure.evalue}"
    entry = entries[min(failure.cell_index - 1, len(entries) - 1)]
    cell = f" (cell {entry['cell_id']})" if entry.get("cell_id") else ""
    return (
        f"the slice raised in execution {entry['execution_count']}{cell} "
        f"`{failure.first_line}`: {failure.ename}: {failure.evalue}"
    )


def _find_rerun(client: MlflowClient, run_id: str, since_ms: int) -> Run | None:
    experiments = [e.experiment_id for e in client.search_experiments(max_results=1000)]
    runs = client.search_runs(
        experiments,
        filter_string=f"tags.`{c.TAG_REPRODUCES}` = '{run_id}' and "
        f"attributes.start_time >= {since_ms - 1000}",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


def _copy_params(client: MlflowClient, run: Run, new: Run, result: ReproduceResult) -> None:
    """The original's params the re-run did not log itself (``--param`` flags, autolog)."""
    from mlflow.entities import Param

    missing = {k: v for k, v in run.data.params.items() if k not in new.data.params}
    if not missing:
        return
    try:
        client.log_batch(new.info.run_id, params=[Param(k, v) for k, v in missing.items()])
    except Exception as exc:
        result.notes.append(f"original params not copied: {exc}")


def _check_gates(
    client: MlflowClient, result: ReproduceResult, gates: list[str], model: str | None
) -> None:
    if not gates or result.new_run_id is None:
        return
    from jupyter_mlops.core.pipeline.gates import evaluate_gates, parse_gates

    outcomes = evaluate_gates(client, result.new_run_id, parse_gates(gates, model), model)
    result.gates = [("PASS " if g.passed else "FAIL ") + g.line for g in outcomes]
    result.gates_passed = all(g.passed for g in outcomes)


def _versus_champion(
    client: MlflowClient, run: Run, new: Run, model: str | None, gates: list[str]
) -> ChampionComparison | None:
    """The re-run against ``@champion`` of the model the original run registered (or ``model``)."""
    from jupyter_mlops.core.pipeline.gates import find_champion, metric_value, parse_gate

    try:
        if model is None:
            versions = client.search_model_versions(f"run_id = '{run.info.run_id}'")
            if not versions:
                return None
            model = versions[0].name
        champion = find_champion(client, model)
        if champion is None or champion.run_id is None:
            return None
        gated = [parse_gate(g).metric for g in gates]
        metric = primary_metric(sorted(new.data.metrics), gated)
        if metric is None:
            return None
        base = metric_value(client, champion.run_id, metric)
        value = new.data.metrics.get(metric)
        return ChampionComparison(
            model, champion.version, metric, base, value, is_better(metric, value, base)
        )
    except MlopsError:
        return None
