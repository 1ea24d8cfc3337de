"""What a cell's code says about itself: literal params, assigned names, named files.

Pure functions over Python source (after IPython's own transforms) and a namespace; the
tracker turns their results into MLflow params, metrics and artifacts.
"""

from __future__ import annotations

import ast
import math
import numbers
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Words that make a bound name look like a metric (``val_loss``, ``test_accuracy``, ``f1``).
METRIC_WORDS = frozenset(
    "accuracy acc loss score f1 auc roc precision recall rmse mse mae mape r2 error err "
    "logloss perplexity".split()
)
# Statements whose bodies still bind names at the cell's top level.
_BLOCKS_AT_TOP_LEVEL = (ast.If, ast.With, ast.Try)
MAX_HISTORY_POINTS = 10_000


@dataclass
class CellAnalysis:
    """Names and literals found by parsing a cell (before it runs)."""

    params: dict[str, Any] = field(default_factory=dict)
    assigned: list[str] = field(default_factory=list)
    string_literals: list[str] = field(default_factory=list)
    unpacked: set[str] = field(default_factory=set)  # bound by tuple unpacking (X, y = ...)
    parsed: bool = True


def _target_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in _target_names(element)]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return []


def _literal(node: ast.expr | None) -> tuple[bool, Any]:
    if node is None:
        return False, None
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None
    if isinstance(value, (set, frozenset, bytes, complex)):
        return False, None
    return True, value


def _top_level_statements(body: Iterable[ast.stmt]) -> Iterable[ast.stmt]:
    for statement in body:
        yield statement
        if isinstance(statement, _BLOCKS_AT_TOP_LEVEL):
            blocks = [getattr(statement, "body", []), getattr(statement, "orelse", [])]
            blocks.append(getattr(statement, "finalbody", []))
            for handler in getattr(statement, "handlers", []):
                blocks.append(handler.body)
            for block in blocks:
                yield from _top_level_statements(block)


def analyse_cell(source: str) -> CellAnalysis:
    """Find literal params, top-level assigned names and every string literal of a cell."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return CellAnalysis(parsed=False)
    analysis = CellAnalysis()
    literal_values: dict[str, Any] = {}
    non_literal: set[str] = set()
    for statement in _top_level_statements(tree.body):
        if isinstance(statement, ast.Assign):
            names = [n for t in statement.targets for n in _target_names(t)]
            single = all(isinstance(t, ast.Name) for t in statement.targets)
            is_literal, value = _literal(statement.value)
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            names = _target_names(statement.target)
            single = isinstance(statement.target, ast.Name)
            is_literal, value = _literal(statement.value)
        elif isinstance(statement, ast.AugAssign):
            names, single, is_literal, value = _target_names(statement.target), False, False, None
        else:
            continue
        if not single:
            analysis.unpacked.update(names)
        for name in names:
            if name not in analysis.assigned:
                analysis.assigned.append(name)
            if single and is_literal:
                literal_values[name] = value
            else:
                non_literal.add(name)
    analysis.params = {k: v for k, v in literal_values.items() if k not in non_literal}
    seen: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value not in seen and 0 < len(node.value) < 4096:
                seen.add(node.value)
                analysis.string_literals.append(node.value)
    return analysis


def looks_like_metric(name: str) -> bool:
    """True when one of the ``_``-separated words of ``name`` is a metric word."""
    return any(word in METRIC_WORDS for word in name.lower().split("_"))


def binds_metric_like_name(tree: ast.Module) -> bool:
    """True when a top-level statement binds a metric-like name to a value that is not a
    literal (a literal is a param): what auto-track mode reads as "this cell scores a model"."""
    for statement in _top_level_statements(tree.body):
        if isinstance(statement, ast.Assign):
            targets, value = statement.targets, statement.value
        elif isinstance(statement, (ast.AnnAssign, ast.AugAssign)):
            targets, value = [statement.target], statement.value
        else:
            continue
        names = [n for target in targets for n in _target_names(target)]
        if any(looks_like_metric(n) for n in names) and not _literal(value)[0]:
            return True
    return False


def _is_real_number(value: Any) -> bool:
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return False
    return isinstance(value, numbers.Real)


def _history(value: Any) -> list[float] | None:
    """A metric history: a list/tuple of real numbers with a float among them, or a 1-d float
    numpy array; at most ``MAX_HISTORY_POINTS``. Integer arrays (labels) and pandas objects
    are data, not histories."""
    if type(value).__name__ == "ndarray":
        if value.ndim != 1 or value.dtype.kind != "f":
            return None
        values = value.tolist()
    elif isinstance(value, (list, tuple)):
        values = list(value)
        if not any(isinstance(v, float) or type(v).__name__.startswith("float") for v in values):
            return None
    else:
        return None
    if not values or len(values) > MAX_HISTORY_POINTS:
        return None
    if not all(_is_real_number(v) for v in values):
        return None
    return [float(v) for v in values]


@dataclass
class MetricValues:
    """Metrics found in a namespace after a cell ran."""

    scalars: dict[str, float] = field(default_factory=dict)
    histories: dict[str, list[float]] = field(default_factory=dict)
    non_finite: list[str] = field(default_factory=list)


def collect_metrics(
    names: Iterable[str],
    namespace: Mapping[str, Any],
    exclude: Iterable[str] = (),
    no_history: Iterable[str] = (),
) -> MetricValues:
    """Real-number values (scalars or 1-d sequences) bound to ``names`` after the cell ran.

    Non-finite scalars (NaN, inf) are not logged; their names are reported in ``non_finite``.
    Non-finite points of a history are dropped from it (the steps of the others are kept).
    """
    excluded, scalar_only = set(exclude), set(no_history)
    found = MetricValues()
    for name in names:
        if name in excluded or name.startswith("_") or name not in namespace:
            continue
        value = namespace[name]
        if _is_real_number(value):
            number = float(value)
            if math.isfinite(number):
                found.scalars[name] = number
            else:
                found.non_finite.append(name)
            continue
        history = None if name in scalar_only else _history(value)
        if history is not None:
            found.histories[name] = history
    return found


def unchanged_params(params: Mapping[str, Any], namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The literal params whose variable still holds the literal after the cell ran.

    ``losses = []`` followed by appends is a history, not a param.
    """
    kept = {}
    for name, literal in params.items():
        try:
            same = name in namespace and bool(namespace[name] == literal)
        except Exception:
            same = False
        if same:
            kept[name] = literal
    return kept


def param_text(value: Any) -> str:
    """A literal param value as MLflow stores it: ``str`` for scalars, repr for containers."""
    if isinstance(value, str):
        return value
    return repr(value)


@dataclass(frozen=True)
class FileState:
    """Size and modification time of a file, or absent."""

    exists: bool
    size: int = 0
    mtime_ns: int = 0


def _state(path: Path) -> FileState:
    try:
        stat = path.stat()
    except OSError:
        return FileState(False)
    return FileState(True, stat.st_size, stat.st_mtime_ns)


def candidate_files(literals: Iterable[str], cwd: Path, max_dir_files: int = 200) -> list[Path]:
    """Paths under ``cwd`` that string literals name (files, or files of a named folder)."""
    root = cwd.resolve()
    found: list[Path] = []
    for text in literals:
        if "\n" in text or "\x00" in text or len(text) > 1024:
            continue
        try:
            path = (root / os.path.expanduser(text)).resolve()
        except (OSError, ValueError, RuntimeError):
            continue
        if path == root or not path.is_relative_to(root):
            continue
        if path.is_dir():
            for index, child in enumerate(p for p in path.rglob("*") if p.is_file()):
                if index >= max_dir_files:
                    break
                found.append(child)
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def snapshot_files(paths: Iterable[Path]) -> dict[Path, FileState]:
    """The current state of each path (cheap: one ``stat`` each)."""
    return {path: _state(path) for path in paths}


def changed_files(before: Mapping[Path, FileState], after_paths: Iterable[Path]) -> list[Path]:
    """Files that exist now and were created or modified since ``before`` was taken."""
    changed = []
    for path in after_paths:
        now = _state(path)
        if now.exists and now != before.get(path, FileState(False)):
            changed.append(path)
    return changed


def cell_diff(old: str, new: str, old_label: str) -> str:
    """Unified diff of a cell's previous source (run ``old_label``) against its new source."""
    import difflib

    if old == new:
        return ""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"run {old_label}: cell/source.py",
        tofile="this run: cell/source.py",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
