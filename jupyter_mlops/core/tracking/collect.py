"""Collecting what a tracked cell produced into its ``RunRecord``: params, metrics, source,
traceback, git and environment context, files, figures, data links and the model."""

from __future__ import annotations

import traceback as tb
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jupyter_mlops.core import contracts as c
from jupyter_mlops.core.errors import MlopsError, UsageProblem
from jupyter_mlops.core.tracking import capture, context, secrets
from jupyter_mlops.core.tracking.artifacts import ArtifactFilter, save_new_figures
from jupyter_mlops.core.tracking.gitstate import state_fields
from jupyter_mlops.core.tracking.record import ArtifactFile, MetricPoint, now_ms
from jupyter_mlops.core.tracking.runstate import RunState


def collect(run: RunState, namespace: Mapping[str, Any], error: BaseException | None) -> None:
    """Fill ``run.record`` from the namespace after the cell, and from what start observed."""
    record = run.record
    literals = capture.unchanged_params(run.analysis.params, namespace)
    params = {k: capture.param_text(v) for k, v in literals.items()}
    params.update(run.options.params)
    record.params = {k: v for k, v in params.items() if not secrets.is_secret_name(k)}
    _merge_logged_params(run)
    names = [*run.analysis.assigned, *run.options.metric_names]
    found = capture.collect_metrics(
        names, namespace, exclude=literals, no_history=run.analysis.unpacked
    )
    stamp = now_ms()
    for key, value in found.scalars.items():
        if not secrets.is_secret_name(key):
            record.metrics.append(MetricPoint(key, value, stamp, 0))
    for key, values in found.histories.items():
        if not secrets.is_secret_name(key):
            record.metrics.extend(MetricPoint(key, v, stamp, step) for step, v in enumerate(values))
    if found.non_finite:
        run.messages.append(f"not logged (not finite): {', '.join(found.non_finite)}")
    logged = {*found.scalars, *found.histories, *found.non_finite}
    missing = [n for n in run.options.metric_names if n not in logged]
    if missing:
        run.messages.append(
            f"--metric not logged: {', '.join(missing)} (no number of that name after the cell)"
        )
    # the cell's own text is masked here, so no secret of it reaches the journal on disk; the
    # other texts are masked at delivery (deferred.prepare), where the previous run is linked
    record.texts[c.ART_CELL_SOURCE] = secrets.mask_text(run.source)
    if error is not None:
        text = "".join(tb.format_exception(type(error), error, error.__traceback__))
        # the traceback may quote a secret literal of the cell (masked in the source by now)
        record.texts[c.ART_CELL_TRACEBACK] = secrets.mask_text(
            text, secrets.secret_literals([run.source])
        )
    _collect_context(run)
    _collect_files(run)
    _collect_data_links(run)


def _merge_logged_params(run: RunState) -> None:
    """Drop params the run already holds (autolog, ``--continue``); MLflow params are
    write-once, so a changed value is recorded as a tag and reported instead."""
    record = run.record
    if not (run.autolog_on or run.options.continue_run) or run.client is None:
        return
    if not record.run_id:
        return
    try:
        logged = run.client.get_run(record.run_id).data.params
    except Exception:  # the store died mid-cell: keep everything, replay skips duplicates
        return
    for key in [k for k in record.params if k in logged]:
        new = record.params.pop(key)
        if logged[key] != new:
            record.tags[f"{c.PREFIX}param_changed.{key}"] = f"{logged[key]} -> {new}"
            run.messages.append(
                f"param {key!r} changed ({logged[key]} -> {new}); MLflow keeps the first "
                "value, the change is recorded as a tag"
            )


def _collect_context(run: RunState) -> None:
    record = run.record
    if run.git_probe.done():
        tags, texts = state_fields(run.git_probe.result(0))
        record.tags.update(tags)
        record.texts.update(texts)
    else:  # the cell does not wait: the probe hands the state to the journal entry
        run.context_later = True
    env = context.environment()
    record.texts[c.ART_PYTHON] = env.python
    record.texts[c.ART_REQUIREMENTS] = env.requirements


def _collect_files(run: RunState) -> None:
    after = capture.candidate_files(run.named_files(), run.cwd)
    changed = capture.changed_files(run.files_before, after)
    explicit = [(run.cwd / a).resolve() for a in run.options.artifacts]
    keep, skipped = ArtifactFilter(run.cwd, run.options.max_artifact_mb, run.ignore_probe).split(
        list(dict.fromkeys([*changed, *explicit]))
    )
    if skipped:
        run.messages.append("not uploaded: " + "; ".join(skipped))
    for path in keep:
        try:
            rel_parent = path.relative_to(run.cwd).parent
        except ValueError:  # in the project but above the kernel's folder: at the root
            rel_parent = Path(".")
        folder = None if str(rel_parent) == "." else rel_parent.as_posix()
        run.record.artifacts.append(ArtifactFile(str(path), folder))
    figures_dir = save_new_figures(run.figures_before)
    if figures_dir is not None:
        run.record.artifacts.append(ArtifactFile(str(figures_dir), None))


def _collect_data_links(run: RunState) -> None:
    """DVC versions of the paths the cell names, as dataset inputs of the record (so they are
    written, spooled and replayed with the rest of the run)."""
    from jupyter_mlops.core.data.lineage import dataset_fields, versions_for_paths

    try:
        versions = versions_for_paths(run.analysis.string_literals, run.cwd)
    except (MlopsError, OSError, ValueError) as exc:
        run.messages.append(f"data lineage not recorded: {exc}")
        return
    run.record.inputs.extend(dataset_fields(v, "cell") for v in versions)


def log_model(
    run: RunState, namespace: Mapping[str, Any], error: BaseException | None
) -> str | None:
    """Log ``--log-model VAR`` into the open run; its model URI, or None when not logged."""
    var = run.options.log_model
    if not var or error is not None:
        return None
    if var not in namespace:
        raise UsageProblem(f"--log-model: no variable named {var!r} after the cell ran")
    from jupyter_mlops.core.models.flavors import detect_flavor
    from jupyter_mlops.core.models.flavors import log_model as log_flavored

    detect_flavor(namespace[var])
    if run.client is None or not run.record.run_id:
        run.messages.append("model not logged: the tracking store is unavailable")
        return None
    return log_flavored(namespace[var], register_as=run.options.register)
