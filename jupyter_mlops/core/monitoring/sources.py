"""Tables drift can stream: parquet files and folders, pyarrow datasets, DVC paths at a revision.

A ``TableSource`` reads a dataset one parquet row group at a time, in record batches of at most
``BATCH_ROWS`` rows, so memory stays bounded (by a few row groups) whatever the dataset's size;
it also reads a single column whole when a test needs the exact path.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from jupyter_mlops.core.errors import UsageProblem, message_line

if TYPE_CHECKING:
    import pyarrow.dataset as ds

__all__ = ["BATCH_ROWS", "DvcPath", "TableSource", "at_revision", "is_source", "preview"]

BATCH_ROWS = 65_536  # rows per record batch read (larger batches raise the peak, not the speed)
HEAD_ROWS = 20_000  # rows read first to infer column types and place sketch grids
PREVIEW_ROWS = 200_000  # rows of a large input that views chart


@dataclass(frozen=True)
class DvcPath:
    """A parquet file or folder tracked by DVC in git repo ``repo``, as it was at ``rev``."""

    path: str
    rev: str | None = None
    repo: str = "."


def at_revision(path: str | os.PathLike[str], rev: str | None = None, repo: str = ".") -> DvcPath:
    """Name a DVC-tracked parquet path at a git revision, for ``detect_drift``."""
    return DvcPath(os.fspath(path), rev, os.fspath(repo))


def is_source(data: Any) -> bool:
    """Whether ``data`` is something ``TableSource`` reads (rather than an in-memory table)."""
    if isinstance(data, (str, os.PathLike, DvcPath)):
        return True
    arrow = sys.modules.get("pyarrow.dataset")  # a Dataset means pyarrow.dataset is loaded
    return arrow is not None and isinstance(data, arrow.Dataset)


def _dataset(data: Any, side: str) -> ds.Dataset:
    import pyarrow as pa
    import pyarrow.dataset as ds

    if isinstance(data, ds.Dataset):
        return data
    try:
        if isinstance(data, DvcPath):
            from jupyter_mlops.core.data.dvc_repo import filesystem_at

            fs = pa.fs.PyFileSystem(pa.fs.FSSpecHandler(filesystem_at(data.repo, data.rev)))
            return ds.dataset(data.path.replace(os.sep, "/"), format="parquet", filesystem=fs)
        return ds.dataset(os.fspath(data), format="parquet")
    except (FileNotFoundError, pa.ArrowInvalid, OSError) as exc:
        first = message_line(exc)
        raise UsageProblem(f"the {side} data cannot be read as parquet: {first}") from None


class TableSource:
    """One side of a drift comparison, read by batches."""

    def __init__(self, data: Any, side: str) -> None:
        self.side = side
        self.dataset = _dataset(data, side)
        self.columns = [str(name) for name in self.dataset.schema.names]

    def rows(self) -> int:
        """Number of rows (from parquet metadata where it has them)."""
        return int(self.dataset.count_rows())

    def head(self, rows: int = HEAD_ROWS) -> pd.DataFrame:
        """The first ``rows`` rows (or fewer: those of the first non-empty row group).

        Read from the first row group alone: a scanner asked for one batch decoded whole
        files ahead of it.
        """
        for batch in self.batches(self.columns, rows):
            return batch
        return self.dataset.schema.empty_table().to_pandas()

    def batches(
        self, columns: list[str], rows: int = BATCH_ROWS, arrow: bool = False
    ) -> Iterator[Any]:
        """The chosen columns, at most ``rows`` rows at a time, one row group read at a time.

        Row groups are read one after the other (their columns decoded in parallel), never
        ahead: pyarrow's own scanner reads ahead without bound when the consumer is slower
        than the disk, so a slow summary made its memory grow with the dataset. The caller
        overlaps reading with work (``streaming``); memory holds a row group or two.
        pandas DataFrames, or pyarrow RecordBatches with ``arrow=True``.
        """
        options = self._scan_options()
        for fragment in self.dataset.get_fragments():
            split = getattr(fragment, "split_by_row_group", None)
            for part in split() if split is not None else [fragment]:
                table = part.to_table(
                    schema=self.dataset.schema, columns=columns, fragment_scan_options=options
                )
                for batch in table.to_batches(max_chunksize=rows):
                    if batch.num_rows:
                        yield batch if arrow else batch.to_pandas()

    def _scan_options(self) -> Any:
        """Local files are read as needed; pre-buffering whole column chunks (pyarrow's default,
        good for object stores) doubled the peak and the time on local disks."""
        import pyarrow.dataset as ds
        import pyarrow.fs as pafs

        if not isinstance(self.dataset, ds.FileSystemDataset):
            return None
        local = isinstance(self.dataset.filesystem, pafs.LocalFileSystem)
        return ds.ParquetFragmentScanOptions(pre_buffer=not local)

    def column(self, name: str) -> pd.Series:
        """One column whole (the exact path)."""
        table = self.dataset.to_table(columns=[name])
        return table.column(name).to_pandas().rename(name)


def preview(data: Any, side: str, rows: int = PREVIEW_ROWS) -> pd.DataFrame:
    """An in-memory frame of any ``detect_drift`` input: itself, or its first ``rows`` rows.

    What views chart when the data is a parquet dataset or a Dask DataFrame (the report itself
    is computed on all of it).
    """
    if is_source(data):
        return TableSource(data, side).head(rows)
    if hasattr(data, "npartitions") and hasattr(data, "head"):  # a Dask DataFrame
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "insufficient elements" from small frames
            return data.head(rows, npartitions=-1)
    from jupyter_mlops.core.monitoring.columns import as_frame

    return as_frame(data, side)
