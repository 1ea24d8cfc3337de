"""Auto-track mode's choice: does a cell train or score a model, so that it deserves a run?

A cell qualifies when its code
- calls a scikit-learn-style fit: ``.fit(``, ``.fit_transform(``, ``.partial_fit(``,
  ``.fit_predict(`` (this also covers Keras ``model.fit`` and Lightning ``trainer.fit``);
- calls a known framework's training function: ``xgboost.train`` / ``xgb.train``,
  ``lightgbm.train`` / ``lgb.train``, ``xgboost.cv`` / ``lightgbm.cv``;
- looks like a PyTorch training loop: it calls both ``.backward(`` and ``.step(``;
- or binds, at its top level, a metric-like name (``capture.looks_like_metric``) to a value
  that is not a literal (a literal is a param, not a result).

The answer depends on the source only and is cached by it, so a cell seen before costs a
dictionary lookup; a cell without any of the words involved is answered without parsing.
"""

from __future__ import annotations

import ast
import functools
import re

from jupyter_mlops.core.tracking import capture

FIT_METHODS = frozenset({"fit", "fit_transform", "partial_fit", "fit_predict"})
# module (or its usual alias) -> its training functions
TRAINING_FUNCTIONS: dict[str, frozenset[str]] = {
    "xgboost": frozenset({"train", "cv"}),
    "xgb": frozenset({"train", "cv"}),
    "lightgbm": frozenset({"train", "cv"}),
    "lgb": frozenset({"train", "cv"}),
}

# a cell none of these match can neither fit nor bind a metric-like name: no parse needed
_CANDIDATE = re.compile(
    "|".join([r"\.\s*(?:fit\w*|partial_fit|train|cv|backward)\s*\(", *capture.METRIC_WORDS]),
    re.IGNORECASE,
)


def _called_attributes(tree: ast.AST) -> list[tuple[str | None, str]]:
    """(base name or None, attribute) of every ``something.attr(...)`` call in the tree."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            base = node.func.value
            found.append((base.id if isinstance(base, ast.Name) else None, node.func.attr))
    return found


def trains_a_model(tree: ast.AST) -> bool:
    """True when the code fits a model (see the module docstring for what is recognised)."""
    calls = _called_attributes(tree)
    methods = {attr for _, attr in calls}
    if methods & FIT_METHODS:
        return True
    if any(base in TRAINING_FUNCTIONS and attr in TRAINING_FUNCTIONS[base] for base, attr in calls):
        return True
    return {"backward", "step"} <= methods


@functools.lru_cache(maxsize=4096)
def wants_run(source: str) -> bool | None:
    """Whether auto-track mode makes ``source`` (Python) a run; None when it does not parse."""
    if not _CANDIDATE.search(source):
        return False
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    return trains_a_model(tree) or capture.binds_metric_like_name(tree)
