"""The layout rules of docs/architecture.md, checked from the source text (nothing is imported).

Every ``import`` statement counts, also one inside a function: a lazy import still ties two
modules together. Run alone with ``python -m pytest tests/test_layers.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "jupyter_mlops"
MAX_LINES = 400
ADAPTERS = ("magics", "widgets", "server", "cli")
FRONT_END = ("IPython", "ipykernel", "ipywidgets", "anywidget", "tornado", "jupyter_server")
# MLflow beyond its public API: only core/mlflow_internals.py may import these
MLFLOW_INTERNAL = (
    "mlflow.utils",
    "mlflow.store",
    "mlflow.tracking.fluent",
    "mlflow.tracking._",
    "mlflow.pyfunc.scoring_server",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, int]]:
    """Every module an ``import`` in ``path`` names (``from a import b``: ``a.b`` and ``a``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                own = _module_name(path)
                package = own if path.name == "__init__.py" else own.rsplit(".", 1)[0]
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((base, node.lineno))
            found.extend((f"{base}.{alias.name}", node.lineno) for alias in node.names)
    return found


def _sources() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _graph() -> dict[str, set[str]]:
    """Module -> the modules of our package it imports (package ``__init__`` files left out:
    ours hold only docstrings, except the top one, which imports lazily by name)."""
    modules = _sources()
    files = {name for name, path in modules.items() if path.name != "__init__.py"}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        if name not in files:
            continue
        graph[name] = {target for target, _ in _imports(path) if target in files} - {name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles():
    assert _cycles(_graph()) == []


def test_core_imports_no_adapter_and_no_front_end_library():
    offenders = []
    for name, path in _sources().items():
        if not name.startswith("jupyter_mlops.core"):
            continue
        for target, line in _imports(path):
            top = target.split(".")[0]
            adapter = any(target.startswith(f"jupyter_mlops.{a}") for a in ADAPTERS)
            if adapter or top in FRONT_END:
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}")
    assert offenders == []


def test_no_module_over_the_line_limit():
    long = {
        str(path.relative_to(PACKAGE.parent)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_mlflow_internals_are_reached_from_one_module():
    allowed = "jupyter_mlops.core.mlflow_internals"
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}"
        for name, path in _sources().items()
        if name != allowed
        for target, line in _imports(path)
        if target.startswith(MLFLOW_INTERNAL)
    ]
    assert offenders == []


def test_one_module_imports_dvc():
    importers = {
        name
        for name, path in _sources().items()
        if any(target == "dvc" or target.startswith("dvc.") for target, _ in _imports(path))
    }
    assert len(importers) <= 1, sorted(importers)
    assert all(name.startswith("jupyter_mlops.core.data.") for name in importers)


def test_the_checker_sees_a_lazy_circle(tmp_path):
    """The rules above would pass vacuously if the graph missed imports inside functions."""
    graph = _graph()
    assert "jupyter_mlops.core.store" in graph["jupyter_mlops.core.tracking.cellrun"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    lazy = tmp_path / "lazy.py"
    lazy.write_text("def f():\n    from jupyter_mlops.widgets import drift\n")
    assert ("jupyter_mlops.widgets.drift", 2) in _imports(lazy)


def test_no_merge_conflict_markers_are_left():
    # docs/architecture.md once kept a merge's markers for a whole session
    root = PACKAGE.parent
    files = [root / "README.md", *root.glob("docs/*.md"), *PACKAGE.rglob("*.py")]
    files += [*root.glob("notebooks/*.ipynb"), *root.glob("tests/**/*.py")]
    markers = ("<" * 7 + " ", "=" * 7 + "\n", ">" * 7 + " ")
    found = [
        f"{path.relative_to(root)}:{number}"
        for path in files
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(True), 1)
        if line.startswith(markers)
    ]
    assert not found, found
