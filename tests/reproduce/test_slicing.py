"""The def-use slice over a session's executions: what is kept, dropped, or a hazard."""

from __future__ import annotations

import json

import pytest

from jupyter_mlops.core.reproduce import history as history_module
from jupyter_mlops.core.reproduce.analysis import analyse
from jupyter_mlops.core.reproduce.history import SessionHistory
from jupyter_mlops.core.reproduce.slicing import compute_slice


def sliced(*cells: str) -> tuple[list[int], list[tuple[str, str, int | None]]]:
    """Execution counts in the slice of the last cell, and its hazards (kind, detail, count)."""
    session = SessionHistory()
    for count, source in enumerate(cells, start=1):
        session.record(count, source)
    result = compute_slice(session)
    return result.counts, [(h.kind, h.detail, h.execution_count) for h in result.hazards]


def test_method_calls_and_item_stores_change_a_name_but_known_readers_do_not():
    counts, hazards = sliced(
        "items = []",
        "items.append(1)",  # kept: a method call changes the list
        "print(items.count(1))",  # dropped: count() only reads
        "items[0] = 5",  # kept: item store
        "n = len(items)",
    )
    assert counts == [1, 2, 4, 5] and hazards == []


def test_a_rebinding_hides_earlier_versions_and_their_changes():
    counts, _ = sliced("x = 1", "x += 1", "x = 10", "y = x * 2")
    assert counts == [3, 4]


def test_module_calls_are_reads_except_state_setters_like_seeds():
    counts, hazards = sliced(
        "import numpy as np",
        "np.random.seed(0)",  # kept: sets the module's state
        "np.mean([1, 2])",  # dropped: reads
        "a = np.random.rand(3)",
    )
    assert counts == [1, 2, 4] and hazards == []


def test_randomness_without_a_visible_seed_is_a_hazard():
    _, hazards = sliced("import numpy as np", "a = np.random.rand(3)")
    assert hazards == [("unseeded_randomness", "no visible seed for rand() line 1", 2)]
    _, seeded = sliced(
        "from sklearn.model_selection import train_test_split",
        "parts = train_test_split([1, 2, 3, 4], random_state=0)",
    )
    assert seeded == []


def test_free_names_of_a_function_resolve_where_it_is_called():
    counts, _ = sliced(
        "def f():\n    return helper() + base",
        "base = 1",
        "def helper():\n    return 2",  # defined after f, before the call: kept
        "def helper():\n    return 3",  # the version in force when called
        "unrelated = 0",
        "value = f()",
    )
    assert counts == [1, 2, 4, 6]


def test_classes_decorators_and_defaults_are_followed():
    counts, _ = sliced(
        "import functools",
        "scale = 3",
        "class Model:\n    def predict(self, x):\n        return x * scale",
        "default = 4",
        "def run(m=Model(), d=default):\n    return m.predict(d)",
        "out = run()",
    )
    assert counts == [2, 3, 4, 5, 6]


def test_magic_and_shell_lines_are_kept_when_they_write_files_the_slice_reads():
    counts, _ = sliced(
        "%load_ext jupyter_mlops",  # a session setting: always kept
        "!curl -s -o data/raw.csv https://example.invalid/raw.csv",
        "!echo unrelated > other.txt",
        "files = !ls data",  # binds a name
        '%%writefile config.json\n{"k": 1}',
        "import pandas as pd",
        "df = pd.read_csv('data/raw.csv')\nconf = open('config.json').read()",
        "%%track\nrows = len(df) + len(files) + len(conf)",
    )
    assert counts == [1, 2, 4, 5, 6, 7, 8]


def test_dynamic_code_is_kept_and_named_as_a_hazard():
    counts, hazards = sliced(
        "exec('secret = 1')", "unrelated = 2", "globals()['other'] = 3", "total = secret + other"
    )
    assert counts == [1, 3, 4]
    assert [(k, c) for k, _, c in hazards] == [("dynamic", 1), ("dynamic", 3)]


def test_names_no_execution_binds_are_unresolved_hazards():
    counts, hazards = sliced("a = 1", "b = a + missing_name + len('x')")
    assert counts == [1, 2]
    assert hazards == [("unresolved", "missing_name", 2)]


def test_slice_texts_hold_the_sources_as_executed_and_their_positions():
    session = SessionHistory()
    session.record(1, "x = 1", cell_id="cell-a")
    session.record(2, "x = 2", cell_id="cell-a")  # the same cell, edited
    session.record(3, "%%track\ny = x", cell_id="cell-b")
    texts = compute_slice(session, cwd="notebooks").texts()
    meta = json.loads(texts["cell/slice.json"])
    script = texts["cell/slice.py"].splitlines()
    assert [e["execution_count"] for e in meta["entries"]] == [2, 3]
    assert meta["cwd"] == "notebooks" and meta["session_executions"] == 3
    first = meta["entries"][0]
    assert script[first["line"] - 2] == "# %% [execution 2] cell cell-a"
    assert script[first["line"] - 1] == "x = 2"
    assert first["defines"] == ["x"] and first["reads"] == []


def test_sync_parses_each_execution_once_and_restarts_after_a_reset(monkeypatch):
    parsed: list[str] = []

    def counting(source: str):  # type: ignore[no-untyped-def]
        parsed.append(source)
        return analyse(source)

    monkeypatch.setattr(history_module, "analyse", counting)
    session = SessionHistory()
    inputs = ["", "a = 1", "b = a"]
    session.sync(inputs)
    session.sync([*inputs, "c = b"])
    assert parsed == ["a = 1", "b = a", "c = b"]
    session.sync(["", "z = 0"])  # %reset: history starts again
    assert [e.source for e in session.executions] == ["z = 0"]


@pytest.mark.parametrize(
    ("source", "kills", "uses"),
    [
        ("for i in range(3):\n    total = total + i", {"i", "total"}, {"total"}),
        ("with open('f.txt') as fh:\n    text = fh.read()", {"fh", "text"}, set()),
        ("squares = [k * k for k in ks]", {"squares"}, {"ks"}),
        ("f = lambda v: v + offset", {"f"}, set()),
        (
            "try:\n    import yaml\nexcept ImportError as err:\n    yaml = None",
            {"yaml", "err"},
            set(),
        ),
    ],
)
def test_names_bound_and_read_before_binding(source, kills, uses):
    facts = analyse(source)
    assert facts.kills == kills and facts.uses == uses


def test_cells_writing_a_dvc_versioned_file_are_left_to_the_data_version():
    session = SessionHistory()
    cells = [
        "import pandas as pd",
        "make = pd.DataFrame({'a': [1]})\nmake.to_csv('data/train.csv')",  # wrote v1 once
        "%cd data",  # not kept: a re-run starts where the tracked cell ran
        "df = pd.read_csv('data/train.csv')",
    ]
    for count, source in enumerate(cells, start=1):
        session.record(count, source)
    assert compute_slice(session).counts == [1, 2, 4]
    versioned = compute_slice(session, versioned=lambda path: path == "data/train.csv")
    assert versioned.counts == [1, 4]


def test_a_kept_cell_that_rewrites_versioned_data_is_a_hazard():
    session = SessionHistory()
    session.record(1, "import pandas as pd\npd.DataFrame({'a': [1]}).to_csv('data/train.csv')")
    session.record(2, "df = pd.read_csv('data/train.csv')")
    result = compute_slice(session, versioned=lambda path: path == "data/train.csv")
    assert result.counts == [1, 2]  # kept for pd
    [hazard] = result.hazards
    assert (hazard.kind, hazard.execution_count) == ("overwrites_versioned_data", 1)
