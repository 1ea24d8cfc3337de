"""core/notebook_file.py, the one .ipynb reader: strict for pipelines, tolerant for lookups."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from jupyter_mlops.core.errors import UsageProblem
from jupyter_mlops.core.notebook_file import CodeCell, code_cells, read_notebook


def _write(path: Path, *sources: str) -> Path:
    cells = [nbformat.v4.new_markdown_cell("# title")]
    cells += [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


def test_read_notebook_refuses_missing_and_broken_files_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "broken.ipynb").write_text("{not json")
    with pytest.raises(UsageProblem, match="notebook not found"):
        read_notebook(tmp_path / "missing.ipynb")
    with pytest.raises(UsageProblem, match="not a readable notebook"):
        read_notebook(tmp_path / "broken.ipynb")
    with pytest.raises(UsageProblem, match="notebook not found"):
        read_notebook(tmp_path)  # a folder


def test_code_cells_gives_ids_and_sources_and_follows_edits(tmp_path: Path) -> None:
    # Given a notebook with two code cells
    path = _write(tmp_path / "a.ipynb", "x = 1", "y = 2")
    ids = [c["id"] for c in nbformat.read(path, as_version=4).cells[1:]]
    assert code_cells(path) == (CodeCell(ids[0], "x = 1"), CodeCell(ids[1], "y = 2"))

    # When the file changes (another size), the cached answer is not reused
    _write(path, "z = 30000")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert [c.source for c in code_cells(path)] == ["z = 30000"]


@pytest.mark.parametrize("text", ["{not json", "[]", '{"cells": 3}', '{"cells": [1, "x"]}', ""])
def test_code_cells_of_an_unreadable_file_is_empty_not_an_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.ipynb"
    path.write_text(text)
    assert code_cells(path) == ()
    assert code_cells(tmp_path / "missing.ipynb") == ()
