"""What a ``Monitor`` learns from data it never holds whole: summaries, quality and latency.

``learn`` reads one side (an in-memory frame, a parquet file, folder, pyarrow dataset or DVC
path, or a Dask DataFrame) a batch at a time: the model predicts each batch in timed chunks,
the batch's features and the model's outputs join mergeable summaries (``summaries``), labels
and predictions join a ``QualityTally``. Memory holds a batch and the summaries, never the
side. On Dask, each partition is processed on its worker and the results merge in a tree, so
only summaries travel. ``Plans`` (column types and sketch grids of features and outputs) are
fixed once from the reference's first rows and reused for every batch compared with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from jupyter_mlops.core.errors import MlopsError, UsageProblem
from jupyter_mlops.core.models.loader import LoadedModel
from jupyter_mlops.core.monitoring import engine, sources
from jupyter_mlops.core.monitoring.columns import as_frame
from jupyter_mlops.core.monitoring.quality import QualityTally
from jupyter_mlops.core.monitoring.summaries import Plan, Summary, merge, update

__all__ = [
    "Plans",
    "Side",
    "column_loader",
    "columns_of",
    "infer_plans",
    "is_large",
    "learn",
    "outputs_frame",
    "predict_chunk",
]

ColumnLoader = Callable[[str], pd.Series]


def is_large(data: Any) -> bool:
    """Whether ``data`` is read a batch at a time (a parquet source or a Dask DataFrame)."""
    return sources.is_source(data) or engine.is_dask(data)


def predict_chunk(model: LoadedModel, chunk: pd.DataFrame) -> tuple[np.ndarray, float, Any]:
    """One timed ``predict`` call: predictions (1-D), milliseconds, probabilities or None."""
    began = time.perf_counter()
    try:
        out = model.predict(chunk)
    except MlopsError:
        raise
    except Exception as exc:
        raise UsageProblem(f"the model's predict failed: {type(exc).__name__}: {exc}") from exc
    elapsed = (time.perf_counter() - began) * 1000
    proba = None
    if model.predict_proba is not None:
        proba = np.asarray(model.predict_proba(chunk), dtype=float)
    pred = np.asarray(out)
    return (pred.reshape(len(chunk), -1)[:, 0] if pred.ndim > 1 else pred), elapsed, proba


def outputs_frame(model: LoadedModel, predictions: np.ndarray, proba: Any) -> pd.DataFrame:
    """Predictions, plus class probabilities (the positive one only for two classes)."""
    columns: dict[str, Any] = {"prediction": predictions}
    if proba is not None and proba.ndim == 2 and proba.shape[1] <= 20:
        classes = model.classes or list(range(proba.shape[1]))
        first = 1 if proba.shape[1] == 2 else 0
        for i in range(first, proba.shape[1]):
            columns[f"probability[{classes[i]}]"] = proba[:, i]
    return pd.DataFrame(columns)


@dataclass(frozen=True)
class Plans:
    """Fixed from the reference's first rows: features, outputs, label column, chunking."""

    features: Plan
    outputs: Plan
    metric: str
    chunk_rows: int
    target: str | None = None

    def for_columns(self, present: set[str]) -> Plans:
        """The same plans with the feature columns a batch lacks marked missing."""
        missing = [n for n in self.features.tested() if n not in present]
        if not missing:
            return self
        types = {**self.features.types, **dict.fromkeys(missing, "unsupported")}
        notes = {**self.features.notes, **dict.fromkeys(missing, "column missing from the batch")}
        return replace(self, features=replace(self.features, types=types, notes=notes))


@dataclass
class Side:
    """One side summarised: rows, feature and output summaries, call timings, quality."""

    rows: int = 0
    features: dict[str, Summary] = field(default_factory=dict)
    outputs: dict[str, Summary] = field(default_factory=dict)
    times_ms: list[float] = field(default_factory=list)
    quality: QualityTally | None = None

    def merge(self, other: Side) -> Side:
        """Add another side's summaries into this one (returns self)."""
        self.rows += other.rows
        self.features = merge(self.features, other.features)
        self.outputs = merge(self.outputs, other.outputs)
        self.times_ms += other.times_ms
        if other.quality is not None:
            self.quality = (
                other.quality if self.quality is None else self.quality.merge(other.quality)
            )
        return self


def add_batch(side: Side, model: LoadedModel, batch: pd.DataFrame, y: Any, plans: Plans) -> Side:
    """Predict on ``batch`` in timed chunks and add it to ``side`` (runs on Dask workers too)."""
    if plans.target is not None and plans.target in batch.columns:
        y = batch[plans.target].to_numpy() if y is None else y
        batch = batch.drop(columns=plans.target)
    preds, probas = [], []
    for start in range(0, len(batch), plans.chunk_rows):
        pred, elapsed, proba = predict_chunk(model, batch.iloc[start : start + plans.chunk_rows])
        preds.append(pred)
        side.times_ms.append(elapsed)
        if proba is not None:
            probas.append(proba)
    if not preds:
        return side
    predictions = np.concatenate(preds)
    outputs = outputs_frame(model, predictions, np.concatenate(probas) if probas else None)
    side.rows += len(batch)
    update(side.features, batch, plans.features)
    update(side.outputs, outputs, plans.outputs)
    if y is not None:
        side.quality = side.quality or QualityTally(plans.metric)
        side.quality.add(y, predictions)
    return side


def head(data: Any, side: str) -> pd.DataFrame:
    """The first rows of any input (what plans are inferred from)."""
    return sources.preview(data, side, sources.HEAD_ROWS)


def infer_plans(
    model: LoadedModel, reference: Any, target: str | None, metric: str, chunk_rows: int
) -> Plans:
    """Column types and grids of the reference's features and of the model's outputs on them."""
    first = head(reference, "reference_X")
    if target is not None and target in first.columns:
        first = first.drop(columns=target)
    names = [str(c) for c in first.columns]
    pred, _, proba = predict_chunk(model, first)
    outputs = outputs_frame(model, pred, proba)
    return Plans(
        Plan.infer(first, first, names),
        Plan.infer(outputs, outputs, list(outputs.columns)),
        metric,
        chunk_rows,
        target,
    )


def _frame_batches(frame: pd.DataFrame, y: Any) -> Iterator[tuple[pd.DataFrame, Any]]:
    y = None if y is None else np.asarray(y)
    for start in range(0, len(frame), sources.BATCH_ROWS):
        stop = start + sources.BATCH_ROWS
        yield frame.iloc[start:stop], None if y is None else y[start:stop]


def learn(model: LoadedModel, data: Any, y: Any, plans: Plans, side: str = "X") -> Side:
    """Summarise one side a batch (or a Dask partition) at a time; see the module docstring."""
    if engine.is_dask(data):
        if y is not None:
            raise UsageProblem(f"with a Dask {side}, labels come from its target= column")
        return _learn_dask(model, data, plans)
    result = Side()
    if sources.is_source(data):
        if y is not None:
            raise UsageProblem(f"with a parquet {side}, labels come from its target= column")
        source = sources.TableSource(data, side)
        wanted = [n for n in source.columns if n in set(plans.features.types) | {plans.target}]
        for batch in source.batches(wanted):
            add_batch(result, model, batch, None, plans)
    else:
        frame = as_frame(data, side)
        if y is not None and len(np.asarray(y)) != len(frame):
            raise UsageProblem(f"y_true must have one label per row of {side}")
        for batch, labels in _frame_batches(frame, y):
            add_batch(result, model, batch, labels, plans)
    if not result.rows:
        raise UsageProblem(f"the {side} data has no rows")
    return result


def _partition(part: pd.DataFrame, model: LoadedModel, plans: Plans) -> Side:
    return add_batch(Side(), model, part, None, plans)


def _merge_pair(a: Side, b: Side) -> Side:
    return a.merge(b)


def _learn_dask(model: LoadedModel, frame: Any, plans: Plans) -> Side:
    """Each partition predicted and summarised on its worker; sides merged pairwise there."""
    import dask
    from dask import delayed

    shared = delayed(model, pure=True)  # one copy of the model per worker, not per task
    parts = [delayed(_partition)(part, shared, plans) for part in frame.to_delayed()]
    while len(parts) > 1:
        pairs = [delayed(_merge_pair)(a, b) for a, b in zip(parts[::2], parts[1::2], strict=False)]
        parts = pairs + ([parts[-1]] if len(parts) % 2 else [])
    (result,) = dask.compute(parts[0])
    if not result.rows:
        raise UsageProblem("the Dask data has no rows")
    return result


def columns_of(data: Any, side: str) -> list[str]:
    """Column names of any input, without reading its rows."""
    if sources.is_source(data):
        return sources.TableSource(data, side).columns
    return (
        [str(name) for name in as_frame(data, side).columns]
        if not engine.is_dask(data)
        else [str(name) for name in data.columns]
    )


def column_loader(data: Any, side: str) -> ColumnLoader:
    """Reads one feature column of a side whole (for a test the summaries cannot decide)."""
    if sources.is_source(data):
        source = sources.TableSource(data, side)
        return source.column
    if engine.is_dask(data):
        import dask

        return lambda name: dask.compute(data[name])[0]
    frame = as_frame(data, side)
    return lambda name: frame[name]
