"""The one reader of ``.ipynb`` files: whole notebooks for execution, code cells for lookups.

``read_notebook`` validates through nbformat (a pipeline must refuse a broken file up front);
``code_cells`` reads only the JSON (ids and sources of code cells), tolerant and cached per file
version, for the per-cell lookups of tracking (which notebook holds this cell, which cell id).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_mlops.core.errors import UsageProblem

if TYPE_CHECKING:
    from nbformat import NotebookNode


@dataclass(frozen=True)
class CodeCell:
    """A code cell as saved: its nbformat id ("" when the file has none) and its source."""

    id: str
    source: str


def read_notebook(path: str | os.PathLike[str]) -> NotebookNode:
    """Read an .ipynb file as nbformat v4; UsageProblem when it is missing or not a notebook."""
    import nbformat

    file = Path(path)
    try:
        found = file.is_file()
    except OSError as exc:  # a name too long for the file system, ...
        raise UsageProblem(f"notebook {str(file)[:200]!r}: {exc.strerror}") from None
    if not found:
        raise UsageProblem(f"notebook not found: {file}")
    try:
        return nbformat.read(file, as_version=4)
    except Exception as exc:  # nbformat raises several unrelated types for a bad file
        raise UsageProblem(f"{file} is not a readable notebook: {exc}") from exc


def code_cells(path: str | os.PathLike[str]) -> tuple[CodeCell, ...]:
    """The code cells of a notebook file; () when it cannot be read (cached per file version)."""
    try:
        stat = os.stat(path)
    except OSError:
        return ()
    return _code_cells(os.fspath(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=64)
def _code_cells(path: str, mtime_ns: int, size: int) -> tuple[CodeCell, ...]:
    try:
        with open(path, encoding="utf-8") as handle:
            cells = json.load(handle).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return ()
    out = []
    for cell in cells if isinstance(cells, list) else []:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            text = "".join(map(str, source)) if isinstance(source, list) else str(source)
            out.append(CodeCell(str(cell.get("id") or ""), text))
    return tuple(out)
