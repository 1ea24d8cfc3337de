"""IPython syntax in an execution's raw text: ``%magic``, ``!shell`` and ``%%cell`` magic lines.

Turned into ``pass`` so the rest parses as Python; what they bind or touch goes into the facts.
"""

from __future__ import annotations

import re
import shlex

from jupyter_mlops.core.reproduce.facts import Facts, looks_like_path, normalise_path

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
_MAGIC_ASSIGN = re.compile(r"^(\s*)([A-Za-z_][\w, ]*?)\s*=\s*([%!])(.*)$")


def strip_ipython(raw: str, facts: Facts) -> str:
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
