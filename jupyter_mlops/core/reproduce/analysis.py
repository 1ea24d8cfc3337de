"""What one executed cell defines and reads: the per-execution facts the code slice is built on.

Pure ``ast`` over the raw text the user ran (``%magic`` and ``!shell`` lines included), parsed
once per execution. Conservative where Python is dynamic: an attribute or subscript assignment,
an augmented assignment or a method call on a name counts as changing that name.
"""

from __future__ import annotations

import ast
import builtins
import os
import re
import shlex
from dataclasses import dataclass, field

# Cell magics whose body is Python run in the user namespace.
PYTHON_BODY_MAGICS = {"track", "time", "timeit", "capture", "prun", "debug"}
SHELL_BODY_MAGICS = {"bash", "sh", "script", "system"}
# Line magics that change the session rather than a name; executions holding them are kept.
# (%cd and os.chdir are not: a re-run starts in the folder the tracked cell ran in.)
SETTING_MAGICS = {"env", "set_env", "config", "load_ext", "reload_ext", "mlops_experiment"}
# Line magics that name files without changing them.
NON_WRITING_MAGICS = {"dvc_snapshot", "pip", "conda", "who", "whos", "ls", "pwd", "history"}
NON_WRITING_MAGICS |= {
    "mlops_reproduce",
    "mlops_experiment",
    "load_ext",
    "reload_ext",
    "config",
    "cd",
}
# Method calls that leave their object as it was (pandas/numpy/sklearn/builtin readers).
READ_ONLY_METHODS = frozenset(
    "head tail describe info copy score predict predict_proba predict_log_proba decision_function"
    " transform inverse_transform get_params items keys values get count index format startswith"
    " endswith join split strip lower upper sum mean median std var min max argmax argmin any all"
    " round abs isna isnull notna notnull unique nunique value_counts groupby agg apply map astype"
    " reshape tolist to_numpy to_dict to_list to_string to_csv to_parquet to_json to_pickle"
    " to_excel to_feather to_markdown plot hist query filter select_dtypes corr cov equals"
    " memory_usage sample_weight read_csv read_parquet read_json read_excel read_table load"
    " loads DataFrame Series array asarray zeros ones arange linspace concat merge exists"
    " is_file is_dir read_text read_bytes open dumps isclose allclose".split()
)
# Calls on a module that change its state (the rest read from it).
STATE_SETTING_METHODS = frozenset(
    "seed manual_seed set_seed set_random_seed set_option set_config use setLevel basicConfig"
    " filterwarnings simplefilter set_printoptions set_style set_theme set_experiment"
    " set_tracking_uri autolog enable_eager_execution putenv setdefault update append insert"
    " extend mkdir makedirs".split()
)
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
_PATH = re.compile(r"^(?!https?:|s3:|gs:)[\w./~+-]+$")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,6}$")
_MAGIC_ASSIGN = re.compile(r"^(\s*)([A-Za-z_][\w, ]*?)\s*=\s*([%!])(.*)$")


@dataclass
class Facts:
    """Names and files one execution binds, changes and reads (ordered where it matters)."""

    kills: set[str] = field(default_factory=set)  # names (re)bound outright
    imports: set[str] = field(default_factory=set)  # names bound by ``import``
    mutations: set[str] = field(default_factory=set)  # attribute/subscript store, ``+=``, ``del``
    calls: dict[str, set[str]] = field(default_factory=dict)  # name -> methods called on it
    uses: set[str] = field(default_factory=set)  # read before bound in this execution
    deferred: set[str] = field(default_factory=set)  # free names of functions/classes defined
    files_read: set[str] = field(default_factory=set)
    files_written: set[str] = field(default_factory=set)  # incl. paths named by shell/magics
    defines_any: bool = False  # exec/globals()/%run/``import *``: could bind anything
    setting: bool = False  # %cd, %env, %config, %load_ext ...
    dynamic: list[str] = field(default_factory=list)  # what made it dynamic, for hazards
    random_calls: list[str] = field(default_factory=list)  # unseeded random-looking calls
    seeds: bool = False  # a visible seed call
    parsed: bool = True

    def defines(self) -> set[str]:
        """Every name this execution binds or changes."""
        changed = {n for n, methods in self.calls.items() if methods - READ_ONLY_METHODS}
        return self.kills | self.mutations | changed


def looks_like_path(text: str) -> bool:
    """A string literal that names a file: no spaces, has a folder or a file extension."""
    if not 0 < len(text) < 256 or not _PATH.match(text) or text.startswith("."):
        return text.startswith(("./", "../")) and bool(_PATH.match(text))
    return "/" in text or bool(_EXTENSION.search(text))


def normalise_path(text: str) -> str:
    """How file paths are compared: normalised, relative to the kernel's folder."""
    return os.path.normpath(os.path.expanduser(text))


def analyse(raw: str) -> Facts:
    """The facts of one execution's raw text (magics and shell lines included)."""
    facts = Facts()
    python = _strip_ipython(raw, facts)
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


# --- IPython syntax ---------------------------------------------------------------------------


def _strip_ipython(raw: str, facts: Facts) -> str:
    """Python text of ``raw``: magic and shell lines become ``pass`` (their facts recorded)."""
    lines = raw.splitlines()
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        header = lines[first].strip()[2:]
        name, _, args = header.partition(" ")
        body = lines[first + 1 :]
        if name in PYTHON_BODY_MAGICS:
            if name == "capture" and args.split() and not args.split()[-1].startswith("-"):
                facts.kills.add(args.split()[-1])
            return _strip_lines(body, facts)
        if name == "writefile":
            targets = [a for a in args.split() if not a.startswith("-")]
            facts.files_written.update(normalise_path(t) for t in targets[:1])
        else:
            _shell_words(" ".join(body), facts)
            if name not in SHELL_BODY_MAGICS:
                facts.dynamic.append(f"cell magic %%{name}")
        return ""
    return _strip_lines(lines, facts)


def _strip_lines(lines: list[str], facts: Facts) -> str:
    out = []
    for line in lines:
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        assigned = _MAGIC_ASSIGN.match(line)
        if stripped.startswith(("%", "!")):
            _magic_line(stripped, facts)
            out.append(indent + "pass")
        elif assigned and not stripped.startswith("#"):
            facts.kills.update(n.strip() for n in assigned[2].split(",") if n.strip())
            _magic_line(assigned[3] + assigned[4], facts)
            out.append(indent + "pass")
        elif stripped.endswith("?") and not stripped.startswith("#"):
            out.append(indent + "pass")  # help: obj? / obj??
        else:
            out.append(line)
    return "\n".join(out)


def _magic_line(text: str, facts: Facts) -> None:
    if text.startswith("!"):
        _shell_words(text[1:], facts)
        return
    name, _, args = text.lstrip("%").partition(" ")
    if name in SETTING_MAGICS:
        facts.setting = True
    elif name == "run":
        facts.defines_any = True
        facts.dynamic.append("%run")
    elif name == "store" and args.strip().startswith("-r"):
        names = args.split()[1:]
        facts.kills.update(names)
        if not names:
            facts.defines_any = True
    if name not in NON_WRITING_MAGICS:
        _shell_words(args, facts)


def _shell_words(text: str, facts: Facts) -> None:
    """Paths named on a shell or magic line: the line may write them."""
    try:
        words = shlex.split(text, comments=True)
    except ValueError:
        words = text.split()
    for word in words:
        word = word.split("=", 1)[-1] if word.startswith("-") else word
        if looks_like_path(word):
            facts.files_written.add(normalise_path(word))


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
