"""Rows, columns and schema of a tabular data file, read cheaply for a snapshot's summary."""

from __future__ import annotations

from pathlib import Path

COUNT_ROWS_UP_TO = 64 * 1024 * 1024  # counting CSV rows reads the file; skip it beyond this


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
