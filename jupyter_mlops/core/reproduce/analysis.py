"""What one executed cell defines and reads: the per-execution facts the code slice is built on.

Pure ``ast`` over the raw text the user ran (``%magic`` and ``!shell`` lines included), parsed
once per execution. Conservative where Python is dynamic: an attribute or subscript assignment,
an augmented assignment or a method call on a name counts as changing that name.
"""

from __future__ import annotations

import ast
import builtins

from jupyter_mlops.core.reproduce.facts import (
    Facts,
    looks_like_path,
    normalise_path,
)
from jupyter_mlops.core.reproduce.magic_lines import strip_ipython

WRITE_CALLS = frozenset(
    "to_csv to_parquet to_json to_pickle to_excel to_feather to_hdf savefig save dump write_text"
    " write_bytes savez savez_compressed savetxt save_model imwrite".split()
)
DYNAMIC_DEFINERS = frozenset({"exec", "globals", "setattr", "__import__"})
DYNAMIC_READERS = frozenset({"eval", "locals", "vars"})
RANDOM_CALLS = frozenset(
    "rand randn randint random random_sample shuffle permutation choice normal uniform sample"
    " train_test_split RandomForestClassifier RandomForestRegressor ExtraTreesClassifier"
    " ExtraTreesRegressor GradientBoostingClassifier GradientBoostingRegressor SGDClassifier"
    " SGDRegressor MLPClassifier MLPRegressor KMeans ShuffleSplit StratifiedShuffleSplit"
    " RandomizedSearchCV".split()
)
SEED_KEYWORDS = frozenset({"random_state", "seed", "rng", "random_seed"})
SEED_CALLS = frozenset({"seed", "manual_seed", "set_seed", "set_random_seed"})
SEEDABLE_CONSTRUCTORS = frozenset({"default_rng", "RandomState", "Generator", "Random"})
SESSION_NAMES = frozenset(
    {"In", "Out", "get_ipython", "display", "exit", "quit", "_", "__", "___", "_ih", "_oh", "_dh"}
    | set(dir(builtins))
)


def analyse(raw: str) -> Facts:
    """The facts of one execution's raw text (magics and shell lines included)."""
    facts = Facts()
    python = strip_ipython(raw, facts)
    try:
        tree = ast.parse(python)
    except SyntaxError:
        facts.parsed = False
        facts.defines_any = True
        facts.dynamic.append("the cell did not parse as Python")
        return facts
    _Walker(facts).block(tree.body, set())
    facts.uses -= SESSION_NAMES
    return facts


# --- Python -----------------------------------------------------------------------------------


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _call_name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


class _Walker:
    """Visits statements in order so that a name read before it is bound counts as a use."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts

    def block(self, body: list[ast.stmt], bound: set[str]) -> None:
        for statement in body:
            self.statement(statement, bound)

    def statement(self, node: ast.stmt, bound: set[str]) -> None:
        f = self.facts
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for expr in _header_expressions(node):
                self.expression(expr, bound)
            f.deferred |= free_names(node) - bound
            self.bind(node.name, bound)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    f.defines_any = True
                    f.dynamic.append("from ... import *")
                    continue
                name = alias.asname or alias.name.split(".")[0]
                f.imports.add(name)
                self.bind(name, bound)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            self.expression(node.iter, bound)
            self.target(node.target, bound)
            self.block(node.body, bound)
            self.block(node.orelse, bound)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                self.expression(item.context_expr, bound)
                if item.optional_vars is not None:
                    self.target(item.optional_vars, bound)
            self.block(node.body, bound)
        elif isinstance(node, (ast.If, ast.While)):
            self.expression(node.test, bound)
            self.block(node.body, bound)
            self.block(node.orelse, bound)
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            self.block(node.body, bound)  # type: ignore[attr-defined]
            for handler in node.handlers:  # type: ignore[attr-defined]
                if handler.type is not None:
                    self.expression(handler.type, bound)
                if handler.name:
                    self.bind(handler.name, bound)
                self.block(handler.body, bound)
            self.block(node.orelse, bound)  # type: ignore[attr-defined]
            self.block(node.finalbody, bound)  # type: ignore[attr-defined]
        elif isinstance(node, ast.Assign):
            self.expression(node.value, bound)
            for target in node.targets:
                self.target(target, bound)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            if node.value is not None:
                self.expression(node.value, bound)
            if isinstance(node, ast.AugAssign):
                self.expression(node.target, bound, store_as_use=True)
            self.target(node.target, bound, mutate=isinstance(node, ast.AugAssign))
        elif isinstance(node, ast.Delete):
            for target in node.targets:
                self.target(target, bound, mutate=True)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            return
        else:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    self.statement(child, bound)
                elif isinstance(child, ast.expr):
                    self.expression(child, bound)

    def bind(self, name: str, bound: set[str]) -> None:
        self.facts.kills.add(name)
        bound.add(name)

    def target(self, node: ast.expr, bound: set[str], mutate: bool = False) -> None:
        """An assignment target: a name is bound; ``x.a``/``x[i]`` changes ``x``."""
        if isinstance(node, ast.Name):
            if mutate:
                self.facts.mutations.add(node.id)
                if node.id not in bound:
                    self.facts.uses.add(node.id)
            else:
                self.bind(node.id, bound)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for element in node.elts:
                self.target(element, bound, mutate)
        elif isinstance(node, ast.Starred):
            self.target(node.value, bound, mutate)
        else:  # Attribute / Subscript
            root = _root_name(node)
            self.expression(node, bound, store_as_use=True)
            if root is not None:
                self.facts.mutations.add(root)

    def expression(self, node: ast.expr, bound: set[str], store_as_use: bool = False) -> None:
        """Reads (and walrus binds, calls, file literals) of one expression, scope-aware."""
        f = self.facts
        local: set[str] = set()
        for sub in _walk_expression(node, local):
            if isinstance(sub, ast.Name):
                if isinstance(sub.ctx, ast.Load) or store_as_use:
                    if sub.id not in bound and sub.id not in local:
                        f.uses.add(sub.id)
                elif isinstance(sub.ctx, ast.Store) and sub.id not in local:
                    self.bind(sub.id, bound)  # walrus
            elif isinstance(sub, ast.Call):
                self.call(sub)
            elif isinstance(sub, (ast.Lambda, ast.FunctionDef)):
                f.deferred |= free_names(sub) - bound

    def call(self, node: ast.Call) -> None:
        f = self.facts
        name = _call_name(node.func)
        if isinstance(node.func, ast.Attribute):
            root = _root_name(node.func.value)
            if root is not None:
                f.calls.setdefault(root, set()).add(name)
        if name in DYNAMIC_DEFINERS:
            f.defines_any = True
            f.dynamic.append(f"{name}()")
        elif name in DYNAMIC_READERS and isinstance(node.func, ast.Name):
            f.dynamic.append(f"{name}()")
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        seeded = any(
            k in keywords and not _is_none(keywords[k]) for k in SEED_KEYWORDS
        )  # fmt: skip
        if name in SEED_CALLS or (name in SEEDABLE_CONSTRUCTORS and (node.args or seeded)):
            f.seeds = True
        elif (name in RANDOM_CALLS or name in SEEDABLE_CONSTRUCTORS) and not seeded:
            f.random_calls.append(f"{name}() line {node.lineno}")
        self.files(node, name)

    def files(self, node: ast.Call, name: str) -> None:
        literals = [a.value for a in node.args if _is_str(a)]
        literals += [k.value.value for k in node.keywords if _is_str(k.value)]  # type: ignore[attr-defined]
        paths = [normalise_path(s) for s in literals if looks_like_path(s)]
        if not paths:
            return
        mode = next((s for s in literals[1:2] if s and set(s) <= set("rwabxt+")), "r")
        writes = name in WRITE_CALLS or (name == "open" and bool(set(mode) & set("wax+")))
        (self.facts.files_written if writes else self.facts.files_read).update(paths[:1])
        self.facts.files_read.update(paths[1:])


def _is_str(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _header_expressions(node: ast.AST) -> list[ast.expr]:
    """What a ``def``/``class`` statement evaluates when it runs: decorators, defaults, bases."""
    exprs = list(getattr(node, "decorator_list", []))
    if isinstance(node, ast.ClassDef):
        exprs += node.bases + [k.value for k in node.keywords]
    else:
        args = node.args  # type: ignore[attr-defined]
        exprs += [d for d in [*args.defaults, *args.kw_defaults] if d is not None]
    return exprs


def _walk_expression(node: ast.expr, local: set[str]) -> list[ast.AST]:
    """Nodes of an expression; names bound by comprehensions go into ``local``, lambdas stop."""
    found: list[ast.AST] = []
    stack: list[ast.AST] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Lambda):
            found.append(current)
            continue
        if isinstance(current, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            for generator in current.generators:
                for name in ast.walk(generator.target):
                    if isinstance(name, ast.Name):
                        local.add(name.id)
        found.append(current)
        stack.extend(ast.iter_child_nodes(current))
    return found


def free_names(node: ast.AST) -> set[str]:
    """Global names a function, lambda or class body reads when it runs (not when defined)."""
    bound: set[str] = set()
    declared_global: set[str] = set()
    loads: set[str] = set()
    body = node.body if isinstance(node.body, list) else [node.body]  # type: ignore[attr-defined]
    args = getattr(node, "args", None)
    if args is not None:
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
        bound |= {a.arg for a in every if a is not None}
    for statement in body:
        for sub in ast.walk(statement):
            if isinstance(sub, ast.Name):
                (loads if isinstance(sub.ctx, ast.Load) else bound).add(sub.id)
            elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.add(sub.name)
            elif isinstance(sub, ast.arg):
                bound.add(sub.arg)
            elif isinstance(sub, ast.alias):
                bound.add(sub.asname or sub.name.split(".")[0])
            elif isinstance(sub, ast.Global):
                declared_global.update(sub.names)
            elif isinstance(sub, ast.ExceptHandler) and sub.name:
                bound.add(sub.name)
    return (loads - (bound - declared_global)) - SESSION_NAMES
