"""The in-memory drift engine: which columns and tests, and one column tested at a time.

Shared by every drift path (in memory, streamed parquet, Dask); ``drift.detect_drift`` picks the
path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from jupyter_mlops.core.errors import UsageProblem
from jupyter_mlops.core.monitoring import columns as dc
from jupyter_mlops.core.monitoring import fused
from jupyter_mlops.core.monitoring import statistics as dt
from jupyter_mlops.core.monitoring.report import ColumnDrift

PARALLEL_CELLS = 400_000  # frames with more cells than this are tested in a thread pool
COLUMN_TYPES = ("numeric", "categorical", "text", "datetime", "skip")  # column_types= values


def is_dask(data: Any) -> bool:
    """Whether ``data`` is a Dask DataFrame (without importing dask when it is not loaded)."""
    module = type(data).__module__
    return module.startswith(("dask.", "dask_expr.")) and hasattr(data, "npartitions")


def str_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Column labels as strings (results are keyed by name); no data is copied."""
    if all(isinstance(c, str) for c in frame.columns):
        return frame
    return frame.rename(columns=str)


def column_names(ref: Any, cur: Any, columns: list[str] | None) -> list[str]:
    """The columns to test: ``columns``, or every column of either side (anything with .columns)."""
    if columns is None:
        names = [str(c) for c in ref.columns]
        if names and not set(names) & {str(c) for c in cur.columns}:
            raise UsageProblem(
                "the reference and current data share no column: nothing to compare "
                f"(reference: {', '.join(names[:5])}; current: "
                f"{', '.join(str(c) for c in list(cur.columns)[:5])})"
            )
        names += [str(c) for c in cur.columns if str(c) not in set(names)]
        return names
    if isinstance(columns, str):
        columns = [columns]
    missing = [c for c in columns if c not in ref.columns and c not in cur.columns]
    if missing:
        raise UsageProblem(f"no column named {missing[0]!r} in either frame")
    return [str(c) for c in columns]


def check_tests(tests: str | Mapping[str, str] | None) -> None:
    names = [tests] if isinstance(tests, str) else list((tests or {}).values())
    for name in names:
        if name not in dt.TESTS:
            raise UsageProblem(
                f"unknown drift test {name!r}; choose one of {', '.join(sorted(dt.TESTS))}"
            )


def pick_test(tests: str | Mapping[str, str] | None, name: str) -> Any:
    """The test asked for ``name`` (a mapping left whole is looked up by column type later)."""
    if tests is None or isinstance(tests, str):
        return tests
    return tests.get(name, tests)  # a mapping left whole is looked up by column type later


def pick_option(option: Any, name: str) -> Any:
    """A per-column option: one value for all, or the mapping's entry for ``name``."""
    if option is None or isinstance(option, (str, int, float)):
        return option
    return option.get(name)


def column_drift(
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    name: str,
    test: str | Mapping[str, str] | None,
    threshold: float | None,
    column_type: str | None,
    present: tuple[set[str], set[str]],
    fast: bool = False,
) -> ColumnDrift:
    """Prepare one column of both frames and test it (see ``test_column``)."""
    if name not in present[0] or name not in present[1]:
        side = "reference" if name not in present[0] else "current"
        return ColumnDrift(name, "unsupported", note=f"column missing from the {side} frame")
    r, c = ref[name], cur[name]
    if isinstance(r, pd.DataFrame) or isinstance(c, pd.DataFrame):
        raise UsageProblem(f"column name {name!r} is duplicated; drift needs unique column names")
    ctype, note = (column_type, "") if column_type else dc.infer_type(r, c)
    if ctype not in {"numeric", "categorical"}:
        return ColumnDrift(name, ctype, note=note or f"{ctype} column not tested")
    if ctype == "numeric":
        col = fused.numeric_column(r, c) if fast else dc.numeric_column(r, c)
    else:
        col = dc.categorical_column(r, c)
    return test_column(name, ctype, note, col, test, threshold)


def test_column(
    name: str,
    ctype: str,
    note: str,
    col: Any,
    test: str | Mapping[str, str] | None,
    threshold: float | None,
) -> ColumnDrift:
    """Pick the test for a prepared column (numeric or categorical), run it, flag drift.

    ``col`` is any column with sizes, missing shares, ``n_values()`` and ``run(test)``: the
    in-memory columns, or the summaries of streamed and Dask data.
    """
    result = ColumnDrift(
        name,
        ctype,
        reference_size=col.n_reference,
        current_size=col.n_current,
        reference_missing=col.reference_missing,
        current_missing=col.current_missing,
        note=" ".join(filter(None, [note, col.note])),
    )
    if col.n_reference == 0 or col.n_current == 0:
        side = "reference" if col.n_reference == 0 else "current"
        result.note = f"no non-missing values in the {side} frame"
        return result
    chosen = test if isinstance(test, str) else (test or {}).get(ctype) if test else None
    chosen = chosen or dt.default_test(ctype, col.n_reference, col.n_values())
    if chosen in dt.NUMERIC_ONLY and ctype != "numeric":
        raise UsageProblem(f"test {chosen!r} needs a numeric column; {name!r} is {ctype}")
    if chosen in {"z"} and col.n_values() > 2:
        raise UsageProblem(f"the Z-test needs at most two categories; {name!r} has more")
    statistic, p_value = col.run(chosen)
    kind, default_threshold = dt.TESTS[chosen]
    thr = float(default_threshold if threshold is None else threshold)
    score = p_value if kind == "p_value" else statistic
    result.test, result.kind, result.threshold = chosen, kind, thr
    result.statistic, result.p_value, result.score = statistic, p_value, score
    result.drift = dt.is_drift(chosen, float(score if score is not None else np.nan), thr)
    return result
