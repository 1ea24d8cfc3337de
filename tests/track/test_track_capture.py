"""%%track captures params, metrics, artifacts, code and context with no logging calls."""

from __future__ import annotations

import subprocess
import warnings
from pathlib import Path

import mlflow
import pytest

from jupyter_mlops.core import contracts as c


def test_literal_assignments_become_params(tracked):
    # Given a cell binding literals of every kind, and some computed values
    tracked.cell(
        "lr = 0.001\nepochs = 10\nname = 'resnet'\nuse_bn = True\nseed = None\n"
        "layers = [64, 32]\nopt = {'beta': 0.9}\nshift = -3\ncomputed = epochs * 2\n",
        "--no-autolog",
    )
    params = tracked.last().data.params
    # Then exactly the literals are params
    assert params == {
        "lr": "0.001",
        "epochs": "10",
        "name": "resnet",
        "use_bn": "True",
        "seed": "None",
        "layers": "[64, 32]",
        "opt": "{'beta': 0.9}",
        "shift": "-3",
    }


def test_numbers_bound_at_top_level_become_metrics(tracked):
    tracked.shell.user_ns["already_there"] = 5.0
    tracked.cell(
        "import numpy as np\n"
        "accuracy = 0.25 * 3\n"
        "f1 = np.float64(0.5)\n"
        "count = np.int64(7)\n"
        "flag = True\n"
        "for step in range(3):\n    inner = step * 1.5\n"
        "def helper():\n    hidden = 1.0\n    return hidden\n"
        "squares = [i * 1.0 for i in range(3)]\n"
        "read_only = already_there + 1\n"
        "if accuracy > 0:\n    in_if = accuracy * 2\n"
        "total = 0\ntotal += 4\n",
        "--no-autolog",
    )
    run = tracked.last()
    assert run.data.metrics == {
        "accuracy": 0.75,
        "f1": 0.5,
        "count": 7.0,
        "read_only": 6.0,
        "in_if": 1.5,
        "total": 4.0,
        "squares": 2.0,  # a list of floats is a history; its latest value shows here
    }
    assert run.data.params == {"flag": "True"}  # a literal bool is a param, never a metric
    # loop variables, function locals, comprehension variables, bools and only-read names: none
    for absent in ("step", "inner", "hidden", "i", "flag", "already_there"):
        assert absent not in run.data.metrics


def test_lists_and_float_arrays_become_histories_with_steps(tracked):
    tracked.cell(
        "import numpy as np\nlosses = []\nfor e in range(4):\n    losses.append(1.0 / (e + 1))\n"
        "val = np.array([0.5, 0.6, 0.7])\nlabels = np.array([0, 1, 1])\n"
        "X, y = np.zeros((3, 2)), np.array([0.1, 0.2, 0.3])\n",
        "--no-autolog",
    )
    run = tracked.last()
    history = tracked.client.get_metric_history(run.info.run_id, "losses")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.5), (2, 1 / 3), (3, 0.25)]
    assert [m.value for m in tracked.client.get_metric_history(run.info.run_id, "val")] == [
        0.5,
        0.6,
        0.7,
    ]
    # a mutated literal is a history, not a param; labels and unpacked data are not metrics
    assert "losses" not in run.data.params
    assert "labels" not in run.data.metrics and "y" not in run.data.metrics


def test_non_finite_metrics_are_skipped_and_reported(tracked, capsys):
    tracked.cell("good = 3 * 0.5\nbad = float('nan')\nworse = float('inf')\n", "--no-autolog")
    run = tracked.last()
    assert run.data.metrics == {"good": 1.5}
    assert "not logged (not finite): bad, worse" in capsys.readouterr().err


def test_a_named_metric_that_never_appears_is_reported(tracked, capsys):
    # Given --metric names a variable the cell never binds, and one it binds to a string
    flags = "--no-autolog --metric nosuch --metric label"
    tracked.cell("score = 2 * 0.25\nlabel = str(1)\n", flags)
    # Then the run holds the real metric and one line names both missing ones
    assert tracked.last().data.metrics == {"score": 0.5}
    err = capsys.readouterr().err
    assert "--metric not logged: nosuch, label" in err
    assert err.count("--metric not logged") == 1


def test_written_and_named_files_become_artifacts(tracked, project):
    (project / "untouched.txt").write_text("old")
    (project / "outputs").mkdir()
    tracked.cell(
        "from pathlib import Path\n"
        "Path('model.txt').write_text('weights')\n"
        "Path('outputs/report.csv').write_text('a,b')\n"
        "Path('untouched.txt').read_text()\n"
        "Path('un' + 'named.txt').write_text('x')\n",
        "--no-autolog",
    )
    paths = tracked.artifact_paths(tracked.last())
    assert "model.txt" in paths and "outputs/report.csv" in paths
    assert "untouched.txt" not in paths and "unnamed.txt" not in paths


def test_explicit_artifact_and_cap_and_gitignore(tracked, project):
    (project / ".gitignore").write_text("ignored.bin\n")
    (project / "given.txt").write_text("given")
    tracked.shell.run_line_magic("config", "MlopsMagics.max_artifact_mb = 0.001")
    tracked.cell(
        "open('big.bin', 'wb').write(b'x' * 5000)\nopen('ignored.bin', 'w').write('i')\n",
        "--no-autolog --artifact given.txt",
    )
    paths = tracked.artifact_paths(tracked.last())
    assert "given.txt" in paths
    assert "big.bin" not in paths and "ignored.bin" not in paths


def test_matplotlib_figures_are_saved_as_png(tracked):
    pytest.importorskip("matplotlib")
    tracked.shell.run_cell(
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt"
    )
    tracked.cell("fig = plt.figure()\nplt.plot([1, 2, 3])\nfig2 = plt.figure()\n", "--no-autolog")
    run = tracked.last()
    assert [p for p in tracked.artifact_paths(run) if p.startswith("figures/")] == [
        "figures/1.png",
        "figures/2.png",
    ]
    png = Path(tracked.client.download_artifacts(run.info.run_id, "figures/1.png")).read_bytes()
    assert png.startswith(b"\x89PNG")


def test_code_and_context_are_recorded(tracked, project):
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()
    body = "a = 1\nb = a + 0.5\n"
    shell = tracked.shell
    assert shell.run_cell("warm = 1", store_history=True).success  # In [1]
    result = shell.run_cell(f"%%track --no-autolog -n my-run --tag team=vision\n{body}", True)
    run = tracked.last()
    tags = run.data.tags
    assert run.info.run_name == "my-run"
    assert tags[c.TAG_SOURCE_TYPE] == "NOTEBOOK"
    assert tags[c.TAG_GIT_COMMIT] == head
    assert tags[c.TAG_GIT_DIRTY] in {"true", "false"}
    assert tags["team"] == "vision"
    assert len(tags[c.TAG_CELL_HASH]) == 16
    assert tags[c.TAG_CELL_EXECUTION_COUNT] == str(result.execution_count) == "2"  # In [2]
    assert tags[c.TAG_KERNEL_PID].isdigit()
    assert tracked.artifact_text(run, c.ART_CELL_SOURCE) == body
    assert "mlflow==" in tracked.artifact_text(run, c.ART_REQUIREMENTS)
    assert "Python" in tracked.artifact_text(run, c.ART_PYTHON) or "3." in tracked.artifact_text(
        run, c.ART_PYTHON
    )


def test_dirty_tree_logs_the_git_diff(tracked, project):
    (project / "README.md").write_text("changed line\n")
    tracked.cell("x = 2.0\n", "--no-autolog")
    run = tracked.last()
    assert run.data.tags[c.TAG_GIT_DIRTY] == "true"
    assert "changed line" in tracked.artifact_text(run, c.ART_GIT_DIFF)


def test_secrets_are_neither_params_nor_in_logged_source(tracked):
    tracked.cell("api_key = 'sk-live-123'\ndb_password = 'hunter2'\nlr = 0.1\n", "--no-autolog")
    run = tracked.last()
    assert run.data.params == {"lr": "0.1"}
    source = tracked.artifact_text(run, c.ART_CELL_SOURCE)
    assert "sk-live-123" not in source and "hunter2" not in source
    assert "lr = 0.1" in source


def test_autolog_logs_fit_params_but_no_model_and_stops_after_the_cell(tracked):
    tracked.cell(
        "from sklearn.datasets import load_iris\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "X, y = load_iris(return_X_y=True)\nclf = LogisticRegression(max_iter=300).fit(X, y)\n"
    )
    run = tracked.last()
    assert run.data.params.get("max_iter") == "300"
    assert any(k.startswith("training_") for k in run.data.metrics)
    assert not [p for p in tracked.artifact_paths(run) if p.startswith("model")]
    before = len(tracked.runs())
    tracked.shell.run_cell("LogisticRegression(max_iter=50).fit(X, y)")
    assert len(tracked.runs()) == before  # an untracked fit creates no run
    # scikit-learn is captured by our estimator wrapper: MLflow's sklearn autolog stays off
    from mlflow.utils.autologging_utils import AUTOLOGGING_INTEGRATIONS

    assert AUTOLOGGING_INTEGRATIONS.get("sklearn", {}).get("disable", True) is True


def test_autolog_and_log_model_leave_the_cell_output_clean(tracked, capfd):
    """MLflow's autolog trips scikit-learn 1.9's y_pred FutureWarning and MLflow warns on every
    pickled sklearn model; neither is the user's doing, so neither reaches the cell."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tracked.cell(
            "from sklearn.datasets import load_iris\n"
            "from sklearn.linear_model import LogisticRegression\n"
            "X, y = load_iris(return_X_y=True)\n"
            "model = LogisticRegression(max_iter=300).fit(X, y)\n",
            "--log-model model",
        )
    run = tracked.last()
    assert "training_log_loss" in run.data.metrics  # the metric behind the warning was logged
    assert not [w for w in caught if "y_proba" in str(w.message)]
    assert "cloudpickle" not in capfd.readouterr().err
    assert mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model") is not None


def test_no_autolog_flag(tracked):
    tracked.cell(
        "from sklearn.datasets import load_iris\nfrom sklearn.tree import DecisionTreeClassifier\n"
        "X, y = load_iris(return_X_y=True)\nclf = DecisionTreeClassifier(max_depth=2).fit(X, y)\n",
        "--no-autolog",
    )
    assert "max_depth" not in tracked.last().data.params


def test_log_model_and_register(tracked):
    tracked.cell(
        "from sklearn.datasets import load_iris\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "X, y = load_iris(return_X_y=True)\nmodel = LogisticRegression(max_iter=300).fit(X, y)\n",
        "--no-autolog --log-model model --register iris-model",
    )
    run = tracked.last()
    loaded = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    assert list(loaded.predict(tracked.shell.user_ns["X"][:3])) == [0, 0, 0]
    versions = tracked.client.search_model_versions("name='iris-model'")
    assert [v.run_id for v in versions] == [run.info.run_id]


def test_json_and_text_summary_line(tracked, capsys):
    result = tracked.cell("z = 7 / 2\n", "--no-autolog -n summary-run")
    assert result.error_in_exec is None
    out = capsys.readouterr().out
    assert "summary-run" in out and "1 metrics" in out


def test_quiet_hides_the_summary(tracked, capsys):
    tracked.cell("z = 3.5\n", "--no-autolog --quiet -n hidden-run")
    assert "hidden-run" not in capsys.readouterr().out


def test_last_expression_value_is_the_cell_result(tracked):
    result = tracked.cell("a = 2\na * 21\n", "--no-autolog")
    assert result.result == 42


def test_experiment_magic_and_flag(tracked):
    tracked.shell.run_line_magic("mlops_experiment", "sentiment")
    tracked.cell("a = 1.0\n", "--no-autolog")
    assert tracked.client.get_experiment(tracked.last().info.experiment_id).name == "sentiment"
    tracked.cell("a = 1.0\n", "--no-autolog -e other")
    assert tracked.client.get_experiment(tracked.last().info.experiment_id).name == "other"


def test_artifacts_live_beside_the_sqlite_store_not_the_kernel_folder(tracked, tracking_uri):
    db_dir = Path(tracking_uri.removeprefix("sqlite:///")).parent
    tracked.cell("v = 1.0 * 2\n", "--no-autolog -e beside")
    artifact_uri = tracked.last().info.artifact_uri
    assert artifact_uri.startswith((db_dir / "mlruns" / "exp-beside").as_uri())


def test_log_model_of_a_tree_ensemble(tracked):
    tracked.cell(
        "from sklearn.datasets import load_iris\n"
        "from sklearn.ensemble import RandomForestClassifier\n"
        "X, y = load_iris(return_X_y=True)\n"
        "forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)\n",
        "--no-autolog --log-model forest",
    )
    run = tracked.last()
    loaded = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    assert len(loaded.predict(tracked.shell.user_ns["X"][:4])) == 4


def test_a_trailing_semicolon_hides_the_value_as_without_tracking(tracked):
    # Given a cell whose last expression ends with ';' (plt.plot(...); in a notebook)
    hidden = tracked.cell("a = 1\n[a, 2];  # no Out[] line\n", "--quiet --no-autolog")
    shown = tracked.cell("a = 1\n[a, 2]\n", "--quiet --no-autolog")
    # Then its value is not displayed, and without the ';' it is
    assert hidden.success and hidden.result is None
    assert shown.success and shown.result == [1, 2]
