"""Notebook parameters, papermill's convention: ``-p``/``-f`` values injected after the cell
tagged ``parameters`` in a cell tagged ``injected-parameters`` (replacing an earlier injection),
so notebooks written for papermill run unchanged.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_mlops.core.errors import UsageProblem

if TYPE_CHECKING:
    from nbformat import NotebookNode

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EXPERIMENT_MAGIC = re.compile(r"^\s*%mlops_experiment\s+(?P<args>.+?)\s*$", re.MULTILINE)


def parse_value(text: str) -> Any:
    """A ``-p`` value: a Python literal (number, bool, None, list, quoted str) else the raw text."""
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered in {"true", "false"}:
        return lowered == "true"
    if lowered in {"none", "null"}:
        return None
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def parse_parameter(text: str) -> tuple[str, Any]:
    """``NAME=VALUE`` → (name, typed value); UsageProblem for anything else."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not _NAME.match(name):
        raise UsageProblem(
            f"bad parameter {text!r}: expected NAME=VALUE with NAME a Python identifier"
        )
    return name, parse_value(value)


def load_parameter_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parameters from a YAML (or JSON) mapping file; UsageProblem when missing or not a mapping."""
    import yaml

    file = Path(path)
    try:
        found = file.is_file()
    except OSError as exc:  # a name too long for the file system, ...
        raise UsageProblem(f"parameter file {str(file)[:200]!r}: {exc.strerror}") from None
    if not found:
        raise UsageProblem(f"parameter file not found: {file}")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UsageProblem(f"parameter file {file} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) and _NAME.match(k) for k in data):
        raise UsageProblem(f"parameter file {file} must be a mapping of NAME: VALUE")
    return data


def collect_parameters(
    pairs: Iterable[str] = (), files: Iterable[str | os.PathLike[str]] = ()
) -> dict[str, Any]:
    """Merge ``-f`` files (in order) then ``-p NAME=VALUE`` pairs, later ones winning."""
    merged: dict[str, Any] = {}
    for file in files:
        merged.update(load_parameter_file(file))
    for pair in pairs:
        name, value = parse_parameter(pair)
        merged[name] = value
    return merged


def python_literal(value: Any) -> str:
    """Source text for ``value``: its repr when that reads back equal, else the repr of its str."""
    text = repr(value)
    try:
        if ast.literal_eval(text) == value:
            return text
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    return repr(str(value))  # dates from YAML, nan, objects: passed as text


def _first_tagged(nb: NotebookNode, tag: str) -> int:
    for index, cell in enumerate(nb.cells):
        if tag in cell.get("metadata", {}).get("tags", []):
            return index
    return -1


def inject_parameters(nb: NotebookNode, parameters: Mapping[str, Any]) -> NotebookNode:
    """Put ``NAME = value`` lines in an ``injected-parameters`` cell after ``parameters``."""
    if not parameters:
        return nb
    import nbformat

    lines = ["# Parameters", *(f"{k} = {python_literal(v)}" for k, v in parameters.items())]
    cell = nbformat.v4.new_code_cell("\n".join(lines) + "\n")
    cell.metadata["tags"] = [INJECTED_TAG]
    injected, declared = _first_tagged(nb, INJECTED_TAG), _first_tagged(nb, PARAMETERS_TAG)
    if injected >= 0:
        nb.cells[injected] = cell
    else:
        nb.cells.insert(declared + 1, cell)  # top of the notebook when nothing is tagged
    nb.metadata.setdefault("papermill", {})["parameters"] = dict(parameters)
    return nb


def notebook_experiment(nb: NotebookNode) -> str | None:
    """The experiment named by the notebook's first ``%mlops_experiment NAME`` line, if any."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for match in _EXPERIMENT_MAGIC.finditer(cell.source):
            try:
                words = shlex.split(match["args"], comments=True)
            except ValueError:
                continue
            names = [w for w in words if not w.startswith("-")]
            if names:
                return names[0]
    return None
