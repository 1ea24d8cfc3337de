"""Writing a ``RunRecord`` into MLflow: batched, sanitised, with transient sqlite locks retried."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from jupyter_mlops.core.contracts import TAG_DATA_CONTEXT
from jupyter_mlops.core.store import retry_locked
from jupyter_mlops.core.tracking.record import RunRecord
from jupyter_mlops.core.tracking.secrets import mask_text, mask_values, secret_literals

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

T = TypeVar("T")

MAX_PARAM_VALUE = 6000  # MLflow's limit on a param value
MAX_TAG_VALUE = 8000
MAX_KEY = 250
BATCH_METRICS, BATCH_PARAMS, BATCH_TAGS = 1000, 100, 100
_KEY_OK = re.compile(r"^[\w\-. /]+$")


def valid_key(key: str) -> bool:
    """True when MLflow accepts ``key`` as a param, metric or tag name."""
    return bool(key) and len(key) <= MAX_KEY and bool(_KEY_OK.match(key)) and ".." not in key


def clip(value: str, limit: int) -> tuple[str, bool]:
    """``value`` cut to ``limit`` characters (with a marker), and whether it was cut."""
    if len(value) <= limit:
        return value, False
    marker = "...[truncated]"
    return value[: limit - len(marker)] + marker, True


def sanitise(record: RunRecord) -> list[str]:
    """Mask secrets in every text of ``record`` (params, tags, files made of text), then drop or
    clip what MLflow would reject; return one message per change made."""
    known = secret_literals(record.texts.values())
    record.texts = {path: mask_text(text, known) for path, text in record.texts.items()}
    record.params = mask_values(record.params, known)
    record.tags = mask_values(record.tags, known)
    return check_names(record)


def check_names(record: RunRecord) -> list[str]:
    """Drop or clip what MLflow would reject (cheap: done inside the cell so its summary can
    say so); one message per change made."""
    notes: list[str] = []
    for mapping, limit, kind in (
        (record.params, MAX_PARAM_VALUE, "param"),
        (record.tags, MAX_TAG_VALUE, "tag"),
    ):
        for key in list(mapping):
            if not valid_key(key):
                del mapping[key]
                notes.append(f"{kind} {key!r} skipped: MLflow does not accept that name")
                continue
            mapping[key], cut = clip(str(mapping[key]), limit)
            if cut:
                notes.append(f"{kind} {key!r} truncated to {limit} characters")
    bad = {m.key for m in record.metrics if not valid_key(m.key)}
    if bad:
        record.metrics = [m for m in record.metrics if m.key not in bad]
        notes.extend(f"metric {key!r} skipped: MLflow does not accept that name" for key in bad)
    return notes


def log_values(
    client: MlflowClient, record: RunRecord, written_tags: Mapping[str, str] | None = None
) -> None:
    """Params, metrics and tags of ``record`` into its run, in as few batches as MLflow allows.

    Tags already in ``written_tags`` with the same value (set when the run was created) are
    not sent again."""
    from mlflow.entities import Metric, Param, RunTag

    assert record.run_id is not None
    run_id = record.run_id
    params = [Param(k, v) for k, v in record.params.items()]
    done = written_tags or {}
    tags = [RunTag(k, v) for k, v in record.tags.items() if done.get(k) != v]
    metrics = [Metric(m.key, m.value, m.timestamp_ms, m.step) for m in record.metrics]
    while params or tags or metrics:  # one call for a typical cell
        batch_params, params = params[:BATCH_PARAMS], params[BATCH_PARAMS:]
        batch_tags, tags = tags[:BATCH_TAGS], tags[BATCH_TAGS:]
        room = BATCH_METRICS - len(batch_params) - len(batch_tags)
        batch_metrics, metrics = metrics[:room], metrics[room:]
        retry_locked(
            lambda p=batch_params, t=batch_tags, m=batch_metrics: client.log_batch(
                run_id, metrics=m, params=p, tags=t
            )
        )


def log_inputs(client: MlflowClient, record: RunRecord) -> None:
    """Dataset inputs of ``record`` (data lineage) into its run."""
    if not record.inputs:
        return
    from mlflow.entities import Dataset, DatasetInput, InputTag

    inputs = []
    for item in record.inputs:
        dataset = Dataset(
            name=item["name"],
            digest=item["digest"],
            source_type=item.get("source_type", "local"),
            source=item["source"],
            schema=item.get("schema"),
            profile=item.get("profile"),
        )
        tags = [InputTag(TAG_DATA_CONTEXT, item.get("context", "training"))]
        inputs.append(DatasetInput(dataset, tags))
    retry_locked(lambda: client.log_inputs(record.run_id, datasets=inputs))


def log_files(client: MlflowClient, record: RunRecord, artifact_uri: str | None = None) -> None:
    """Texts and files of ``record`` as artifacts, staged in one folder, uploaded in one call.

    With the run's ``artifact_uri`` (known when the run was created) the upload goes straight to
    its artifact repository instead of MLflow reading the run back first to find it."""
    if not record.texts and not record.artifacts:
        return
    with tempfile.TemporaryDirectory(prefix="jupyter-mlops-") as staging:
        root = Path(staging)
        for rel, text in record.texts.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        for item in record.artifacts:
            source = Path(item.local_path)
            folder = root / item.artifact_path if item.artifact_path else root
            folder.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, folder / source.name, dirs_exist_ok=True)
            elif source.exists():
                shutil.copy2(source, folder / source.name)
        _upload(client, record.run_id, staging, artifact_uri)


def _upload(
    client: MlflowClient, run_id: str | None, folder: str, artifact_uri: str | None
) -> None:
    from jupyter_mlops.core.tracking.upload import upload_folder

    uri = artifact_uri or client.get_run(run_id).info.artifact_uri
    upload_folder(uri, client.tracking_uri, folder)


def log_record(
    client: MlflowClient,
    record: RunRecord,
    written_tags: Mapping[str, str] | None = None,
    artifact_uri: str | None = None,
) -> None:
    """Everything in ``record`` except its status into the existing run ``record.run_id``."""
    log_values(client, record, written_tags)
    log_inputs(client, record)
    log_files(client, record, artifact_uri)
