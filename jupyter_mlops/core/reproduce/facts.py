"""What one execution binds, changes and reads, as plain data, and how file paths compare."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

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
_PATH = re.compile(r"^(?!https?:|s3:|gs:)[\w./~+-]+$")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,6}$")


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
