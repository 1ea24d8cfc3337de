"""A notebook session run out of order in a real kernel; its slice; reproducing it on data v1, v2.

Given a DVC-versioned table and a kernel session in which cells run out of order (a value set,
changed and set again; a helper in another cell; data loaded in one cell and mutated in place in
another; an import in a cell deleted later), the tracked run stores exactly the executions it
needs, and ``reproduce`` re-runs them in a temporary worktree: the same metric to 1e-12 on the
same data, the expected other metric on the newer data, the user's tree untouched throughout.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_mlops.core.contracts import EXIT_GATE_FAILED, EXIT_OK, TAG_REPRODUCES
from jupyter_mlops.core.data.snapshot import snapshot
from jupyter_mlops.core.reproduce.rerun import reproduce
from tests.reproduce.conftest import (
    run_git,
    slice_of,
    tracked_run,
    tree_fingerprint,
    write_table,
)

IMPORTS = (
    "import pandas as pd\n"
    "from sklearn.linear_model import LogisticRegression\n"
    "from sklearn.model_selection import train_test_split"
)
TRACKED = (
    "%%track --no-autolog\n"
    "X_train, X_test, y_train, y_test = train_test_split(\n"
    "    features(df), df['y'], test_size=0.3, random_state=0)\n"
    "model = LogisticRegression(C=C, max_iter=500).fit(X_train, y_train)\n"
    "accuracy = model.score(X_test, y_test)"
)
# (cell id, source) in the order they are executed; execution count = position + 1
SESSION = [
    ("c-ext", "%load_ext jupyter_mlops"),  # 1: a setting: kept
    ("c-imports", IMPORTS),  # 2: this cell is deleted later
    ("c-param", "C = 1.0"),  # 3: overwritten by 5
    ("c-helper", "def features(frame):\n    return frame[FEATURES].to_numpy()"),  # 4
    ("c-param", "C = 0.1"),  # 5: cell 3 again, value changed
    ("c-load", "df = pd.read_csv('data/train.csv')"),  # 6
    ("c-look", "summary = df.describe()"),  # 7: reads df, changes nothing
    ("c-clean", "df.dropna(inplace=True)\ndf['a'] = df['a'] * 2"),  # 8: mutates df in place
    ("c-unused", "unused = len(summary)"),  # 9
    ("c-features", "FEATURES = ['a', 'b']"),  # 10: read by the helper when called
    ("c-param", "C = 0.1"),  # 11: cell 3 run again (same value)
    ("c-train", TRACKED),  # 12
]
EXPECTED_SLICE = [1, 2, 4, 6, 8, 10, 11, 12]


def expected_accuracy(csv: Path) -> float:
    """What the tracked cell computes on ``csv``, computed here without any notebook."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    df = pd.read_csv(csv).dropna()
    df["a"] = df["a"] * 2
    x_train, x_test, y_train, y_test = train_test_split(
        df[["a", "b"]].to_numpy(), df["y"], test_size=0.3, random_state=0
    )
    model = LogisticRegression(C=0.1, max_iter=500).fit(x_train, y_train)
    return float(model.score(x_test, y_test))


@pytest.mark.slow
def test_out_of_order_session_is_sliced_and_reproduced_on_old_and_new_data(
    dvc_repo, kernel, client, tracking_uri
):
    # Given data v1 versioned with DVC, and a session run out of order
    csv = dvc_repo / "data" / "train.csv"
    write_table(csv, 300, seed=1)
    snapshot("data/train.csv", message="data v1", link=False)
    for cell_id, source in SESSION:
        kernel.run(source, cell_id)
    run_id = tracked_run(client)
    original = client.get_run(run_id).data.metrics["accuracy"]
    assert original == pytest.approx(expected_accuracy(csv), abs=1e-12)

    # Then the slice holds exactly the executions the tracked cell needs, in run order
    meta = slice_of(client, run_id)
    assert [e["execution_count"] for e in meta["entries"]] == EXPECTED_SLICE
    ids = [e["cell_id"] for e in meta["entries"]]
    # the cell that loads the extension ran before the extension could see its id
    expected = [None, "c-imports", "c-helper", "c-load", "c-clean", "c-features", "c-param"]
    assert ids == [*expected, "c-train"]
    clean = meta["entries"][4]
    assert clean["defines"] == ["df"] and clean["reads"] == ["df"]
    assert meta["entries"][-1]["tracked"] is True
    assert meta["hazards"] == []

    # Given the user moved on: the imports cell is deleted, work in progress everywhere
    data_v1 = csv.read_bytes()
    write_table(csv, 400, seed=2)
    snapshot("data/train.csv", message="data v2", link=False)
    data_v2 = csv.read_bytes()
    (dvc_repo / "README.md").write_text("work in progress\n")
    (dvc_repo / "scratch.py").write_text("x = 1\n")
    run_git(dvc_repo, "add", "scratch.py")
    (dvc_repo / "notes.txt").write_text("untracked\n")
    before = tree_fingerprint(dvc_repo)

    # When the run is reproduced on its own data
    same = reproduce(run_id)

    # Then the same accuracy comes back to 1e-12, as a new run tagged with the original
    assert same.failure is None, same.text()
    assert same.exit_code == EXIT_OK
    row = next(m for m in same.metrics if m.name == "accuracy")
    assert abs(row.new - original) <= 1e-12 and row.within_tolerance
    new_run = client.get_run(same.new_run_id)
    assert new_run.data.tags[TAG_REPRODUCES] == run_id
    assert same.data_versions and same.data_versions[0].startswith("data/train.csv@")
    assert tree_fingerprint(dvc_repo) == before

    assert same.packages == []  # the same environment re-ran it
    assert same.champion is None  # same data: no champion comparison

    # Given the original run's model is the registered model's @champion
    client.create_registered_model("repro-model")
    client.create_model_version("repro-model", f"runs:/{run_id}/model", run_id=run_id)
    client.set_registered_model_alias("repro-model", "champion", "1")

    # When it is reproduced on the newest committed data version
    latest = reproduce(run_id, data="latest")

    # Then the metric is the one the code gives on data v2, and differs from v1's
    assert latest.failure is None, latest.text()
    row = next(m for m in latest.metrics if m.name == "accuracy")
    assert row.new == pytest.approx(expected_accuracy(csv), abs=1e-12)
    assert row.new != pytest.approx(original, abs=1e-6)
    assert latest.exit_code == EXIT_GATE_FAILED  # a metric differs
    # and the new run is compared with the champion on the primary metric
    champion = latest.champion
    assert (champion.model, champion.version, champion.metric) == ("repro-model", "1", "accuracy")
    assert (champion.champion, champion.new) == (original, row.new)
    assert champion.better is (row.new > original)
    assert "vs repro-model v1 @champion on accuracy" in latest.text()
    assert tree_fingerprint(dvc_repo) == before
    assert csv.read_bytes() == data_v2 != data_v1
