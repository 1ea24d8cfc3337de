"""Auto-track mode through a real InteractiveShell and a real sqlite store: cells that fit a
model or bind a metric become runs exactly as under ``%%track``; other cells stay untracked."""

from __future__ import annotations

import pytest
from IPython.core.completer import provisionalcompleter
from IPython.core.error import UsageError

from jupyter_mlops.core.contracts import TAG_AUTOTRACKED, TAG_CELL_HASH
from jupyter_mlops.core.tracking.autotrack import wants_run
from jupyter_mlops.magics import autotrack as adapter

SETUP = """
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True)
"""
FIT = "C = 0.5\nmodel = LogisticRegression(C=C, max_iter=300).fit(X, y)\nacc = model.score(X, y)\n"


@pytest.fixture
def auto(shell, tracked):
    """Auto-track on, iris loaded (the setup cell itself is not a run)."""
    shell.run_line_magic("mlops_autotrack", "on")
    assert shell.run_cell(SETUP).success
    assert tracked.runs() == []
    yield tracked
    shell.run_line_magic("mlops_autotrack", "off")


def test_fit_cell_becomes_the_run_track_makes(auto) -> None:
    # When a cell fits a model without any magic
    result = auto.shell.run_cell(FIT + "acc", cell_id="cell-fit")
    # Then it ran normally (its value is the cell's value) and made one run
    assert result.success and result.result == auto.shell.user_ns["acc"]
    (run,) = auto.runs()
    # with the capture of %%track: literal params, metrics, estimator, cell identity, source
    assert run.data.tags[TAG_AUTOTRACKED] == "true"
    assert run.data.params["C"] == "0.5" and run.data.params["solver"] == "lbfgs"
    assert run.data.metrics["acc"] == pytest.approx(auto.shell.user_ns["acc"])
    assert "training_f1_score" in run.data.metrics
    assert run.data.tags["jupyter_mlops.cell.id"] == "cell-fit"
    source = auto.artifact_text(run, "cell/source.py")
    assert source.rstrip("\n") == FIT + "acc"
    # and the same cell under %%track stores the same source and hash
    auto.cell(FIT + "acc")
    assert auto.last().data.tags[TAG_CELL_HASH] == run.data.tags[TAG_CELL_HASH]
    assert auto.artifact_text(auto.last(), "cell/source.py") == source


def test_the_mode_adds_no_magic_and_no_name_users_would_see(auto) -> None:
    # Given auto-track mode on, and the names of the user's namespace
    names = set(auto.shell.user_ns)
    # When a chosen cell runs
    assert auto.shell.run_cell(FIT, store_history=True).success
    assert len(auto.runs()) == 1
    # Then %lsmagic, the magics table and tab completion show the user's magics only
    table = auto.shell.magics_manager.lsmagic()
    assert "mlops_autotrack" in table["line"] and "notrack" in table["cell"]
    assert [n for kind in table.values() for n in kind if "autotracked" in n] == []
    listing = auto.shell.run_line_magic("lsmagic", "")
    assert "%mlops_autotrack" in repr(listing) and "autotracked" not in repr(listing)
    with provisionalcompleter():
        matches = [m.text for m in auto.shell.Completer.completions("%mlops_", 7)]
    assert "%mlops_autotrack" in matches and not [m for m in matches if "autotracked" in m]
    # and the namespace gained the cell's names and IPython's history names only
    added = set(auto.shell.user_ns) - names
    assert {n for n in added if not n.startswith("_")} == {"C", "model", "acc"}


def test_other_cells_stay_untracked_and_the_choice_is_cached(auto) -> None:
    for cell in ["z = 3\nprint(z)", "import math", "labels = list(y[:5])", "accuracy = 0.9"]:
        assert auto.shell.run_cell(cell).success
    assert auto.runs() == []
    hits = adapter.chooses.cache_info().hits
    assert auto.shell.run_cell("z = 3\nprint(z)").success
    assert adapter.chooses.cache_info().hits == hits + 1


def test_metric_binding_ipython_syntax_and_failures_are_tracked(auto) -> None:
    assert auto.shell.run_cell("model = LogisticRegression(max_iter=300).fit(X, y)").success
    assert auto.shell.run_cell("val_loss = 1 - model.score(X, y)\n%pwd").success
    assert auto.runs()[0].data.metrics["val_loss"] >= 0
    result = auto.shell.run_cell("test_error = 1 / 0")
    assert isinstance(result.error_in_exec, ZeroDivisionError)  # the cell's own exception
    assert auto.last().info.status == "FAILED"
    assert "ZeroDivisionError" in auto.artifact_text(auto.last(), "cell/traceback.txt")
    assert len(auto.runs()) == 3


def test_track_wins_notrack_exempts_off_stops(auto) -> None:
    auto.cell(FIT, "-n mine --no-autolog")
    mine = auto.last()
    assert mine.info.run_name == "mine" and TAG_AUTOTRACKED not in mine.data.tags
    assert "solver" not in mine.data.params  # its own flags applied
    assert mine.data.metrics["acc"] > 0.9  # and its body captured as typed, not re-chosen
    assert auto.shell.run_cell("%%notrack\n" + FIT).success
    assert auto.shell.user_ns["acc"] > 0.9
    auto.shell.run_line_magic("mlops_autotrack", "off")
    assert auto.shell.run_cell(FIT).success
    assert len(auto.runs()) == 1
    adapter.autotrack(True)  # the function twin
    assert auto.shell.run_cell(FIT).success
    assert len(auto.runs()) == 2


def test_a_cell_under_another_cell_magic_is_left_alone(auto) -> None:
    # When a cell that binds a metric runs under %%time (which transforms its body itself)
    assert auto.shell.run_cell("%%time\nval_accuracy = 0.5 * 2\n").success
    # Then it ran, untracked, as the mode promises for cells that start with a cell magic
    assert auto.shell.user_ns["val_accuracy"] == 1.0
    assert auto.runs() == []
    # and the same cell without the magic is still chosen
    assert auto.shell.run_cell("val_accuracy = 0.5 * 2\n").success
    assert len(auto.runs()) == 1


def test_an_open_mlflow_run_leaves_the_cell_untracked_but_running(auto) -> None:
    import mlflow

    with mlflow.start_run() as outer:
        assert auto.shell.run_cell(FIT).success
    assert [r.info.run_id for r in auto.runs()] == [outer.info.run_id]


@pytest.mark.parametrize("line", ["", "maybe", "on off", "1"])
def test_bad_arguments_are_one_usage_error(shell, line) -> None:
    with pytest.raises(UsageError, match=r"^usage: %mlops_autotrack on\|off$"):
        shell.run_line_magic("mlops_autotrack", line)
    with pytest.raises(UsageError, match="takes no arguments"):
        shell.run_cell_magic("notrack", "-x", "a = 1")
    with pytest.raises(TypeError):
        adapter.autotrack("yes")  # type: ignore[arg-type]


def test_console_completeness_check_ignores_the_mode(auto) -> None:
    status, _ = auto.shell.input_transformer_manager.check_complete(FIT)
    assert status == "complete"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("m = RandomForestClassifier().fit(X, y)", True),
        ("Xt = scaler.fit_transform(X)", True),
        ("clf.partial_fit(X, y, classes=[0, 1])", True),
        ("history = model.fit(x, y, epochs=3)", True),  # Keras
        ("booster = xgb.train(params, dtrain)", True),
        ("booster = lightgbm.train(params, train_set)", True),
        ("for xb, yb in loader:\n    loss = f(xb)\n    loss.backward()\n    opt.step()", True),
        ("rmse = mean_squared_error(y, p) ** 0.5", True),
        ("val_acc = evaluate(model)", True),
        ("model.train()", False),  # torch's train mode, not training
        ("accuracy = 0.9", False),  # a literal is a param
        ("df = pd.read_csv('a.csv')\ndf.head()", False),
        ("import numpy as np", False),
        ("%time acc = f(x)", None),  # IPython syntax: the adapter translates it first
        ("%time x = 1", False),  # no word of interest: answered without parsing
    ],
)
def test_the_choice(source: str, expected: bool | None) -> None:
    assert wants_run(source) is expected
