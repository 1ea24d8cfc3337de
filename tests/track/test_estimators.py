"""scikit-learn fits in tracked cells: params, training metrics and tags as MLflow's autolog
names them, captured by our wrapper instead of MLflow's sklearn autolog (real shell, real
sqlite store; MLflow's own autolog is run beside it as the reference)."""

from __future__ import annotations

import inspect

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from jupyter_mlops.core.mlflow_internals import autolog_config
from jupyter_mlops.core.tracking import autolog, estimators

SETUP = """
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
X, y = load_iris(return_X_y=True)
Xr, yr = load_diabetes(return_X_y=True)
"""
CLASSIFIER = "model = LogisticRegression(C=0.5, max_iter=300).fit(X, y)\n"
REGRESSOR = "model = LinearRegression().fit(Xr, yr)\n"


def _mlflow_autolog_reference(shell, cell: str) -> dict[str, float]:
    """The metrics MLflow's own sklearn autolog logs for ``cell`` (outside our tracking)."""
    mlflow.sklearn.autolog(log_models=False, log_datasets=False, silent=True)
    try:
        with mlflow.start_run() as run:
            assert shell.run_cell(cell).success
    finally:
        mlflow.sklearn.autolog(disable=True, silent=True)
    return MlflowClient().get_run(run.info.run_id).data


@pytest.mark.slow
def test_classifier_fit_logs_mlflow_autolog_params_metrics_and_tags(shell, tracked) -> None:
    # Given iris and a classifier fitted in a tracked cell
    assert shell.run_cell(SETUP).success
    tracked.cell(CLASSIFIER + "accuracy = model.score(X, y)\n")
    ours = tracked.last().data
    # When MLflow's own autolog logs the same fit
    reference = _mlflow_autolog_reference(shell, CLASSIFIER)
    # Then params, training metrics and estimator tags are the ones MLflow logs, value for value
    for key, value in reference.params.items():
        assert ours.params[key] == value
    training = {k: v for k, v in reference.metrics.items() if k.startswith("training_")}
    assert set(training) == {
        "training_score",
        "training_accuracy_score",
        "training_precision_score",
        "training_recall_score",
        "training_f1_score",
        "training_log_loss",
        "training_roc_auc",
    }
    for key, value in training.items():
        assert ours.metrics[key] == pytest.approx(value, rel=1e-12)
    assert ours.metrics["accuracy"] == pytest.approx(training["training_score"])
    assert ours.tags["estimator_name"] == "LogisticRegression"
    assert ours.tags["estimator_class"] == reference.tags["estimator_class"]


@pytest.mark.slow
def test_regressor_fit_logs_mlflow_autolog_regression_metrics(shell, tracked) -> None:
    assert shell.run_cell(SETUP).success
    tracked.cell(REGRESSOR)
    ours = tracked.last().data
    reference = _mlflow_autolog_reference(shell, REGRESSOR)
    training = {k: v for k, v in reference.metrics.items() if k.startswith("training_")}
    assert "training_root_mean_squared_error" in training and "training_r2_score" in training
    for key, value in training.items():
        assert ours.metrics[key] == pytest.approx(value, rel=1e-12)
    assert {k: ours.params[k] for k in reference.params} == dict(reference.params)


def test_no_mlflow_sklearn_autolog_and_no_plot_or_html_artifacts(shell, tracked) -> None:
    # Given a tracked classifier fit (autolog on by default)
    assert shell.run_cell(SETUP).success
    tracked.cell(CLASSIFIER)
    run = tracked.last()
    # Then MLflow's sklearn autolog was never switched on, so no confusion matrix or HTML
    config = autolog_config("sklearn")
    assert config is None or config["disable"]
    assert "sklearn" in autolog.COVERED_FRAMEWORKS
    assert "sklearn" not in autolog.mlflow_flavors()
    paths = tracked.artifact_paths(run)
    assert not [p for p in paths if p.endswith((".png", ".html")) and "training" in p]
    assert "estimator.html" not in paths
    assert run.data.metrics["training_accuracy_score"] > 0.9


def test_cell_literal_wins_over_estimator_param_and_no_autolog_captures_nothing(
    shell, tracked
) -> None:
    assert shell.run_cell(SETUP).success
    # Given a literal C that differs from the estimator's C
    tracked.cell("C = 2.0\nmodel = LogisticRegression(C=1.0, max_iter=300).fit(X, y)\n")
    assert tracked.last().data.params["C"] == "2.0"
    assert tracked.last().data.params["solver"] == "lbfgs"
    # When --no-autolog is given, no estimator is captured
    tracked.cell(CLASSIFIER, "--no-autolog")
    data = tracked.last().data
    assert "solver" not in data.params and "training_score" not in data.metrics


def test_pipeline_logs_outer_estimator_with_deep_params_once(shell, tracked) -> None:
    assert shell.run_cell(SETUP).success
    tracked.cell("pipe = make_pipeline(StandardScaler(), LogisticRegression(C=0.3)).fit(X, y)\n")
    data = tracked.last().data
    assert data.tags["estimator_name"] == "Pipeline"
    assert data.params["logisticregression__C"] == "0.3"
    assert data.params["standardscaler__with_mean"] == "True"
    history = tracked.client.get_metric_history(tracked.last().info.run_id, "training_score")
    assert len(history) == 1  # the inner fits were not captured separately


def test_grid_search_logs_search_params_best_params_and_cv_results(shell, tracked) -> None:
    assert shell.run_cell(SETUP).success
    tracked.cell(
        "search = GridSearchCV(LogisticRegression(max_iter=300), {'C': [0.1, 1.0]}, cv=3)\n"
        "search = search.fit(X, y)\n"
    )
    run = tracked.last()
    assert run.data.tags["estimator_name"] == "GridSearchCV"
    assert run.data.params["cv"] == "3"
    assert "estimator__C" not in run.data.params  # shallow params, as MLflow logs a search
    assert run.data.params["best_C"] in {"0.1", "1.0"}
    assert 0 < run.data.metrics["best_cv_score"] <= 1
    assert "training_accuracy_score" in run.data.metrics
    assert "mean_test_score" in tracked.artifact_text(run, "cv_results.csv")


def test_wrapper_is_transparent_and_idle_outside_tracked_cells(shell) -> None:
    assert shell.run_cell(SETUP).success
    from sklearn.linear_model import LogisticRegression

    estimators.wrap_loaded_estimators()
    assert getattr(LogisticRegression.fit, "_jupyter_mlops_fit", False)
    assert list(inspect.signature(LogisticRegression.fit).parameters)[:3] == ["self", "X", "y"]
    assert shell.run_cell(CLASSIFIER).success  # untracked: nothing is noted
    assert estimators.end() == []
    estimators.begin()
    assert shell.run_cell(CLASSIFIER).success
    (fit,) = estimators.end()
    assert fit.estimator is shell.user_ns["model"] and fit.y is shell.user_ns["y"]


def test_track_twin_captures_each_runs_own_fits_when_nested(project, tracking_uri) -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    from jupyter_mlops import track, wait_for_delivery

    X, y = load_iris(return_X_y=True)
    with track(run_name="outer", quiet=True):
        LogisticRegression(max_iter=300).fit(X, y)
        with track(run_name="inner", nested=True, quiet=True):
            DecisionTreeClassifier(max_depth=2).fit(X, y)
    assert wait_for_delivery(60)  # the journal delivers both runs in the background
    client = MlflowClient(tracking_uri)
    runs = {r.info.run_name: r.data for r in client.search_runs(["0"])}
    assert runs["outer"].tags["estimator_name"] == "LogisticRegression"
    assert runs["inner"].tags["estimator_name"] == "DecisionTreeClassifier"
    assert runs["inner"].params["max_depth"] == "2" and "max_depth" not in runs["outer"].params


FRESH = r"""
import json
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config
from mlflow.tracking import MlflowClient
cfg = Config()
cfg.HistoryManager.enabled = False
shell = InteractiveShell.instance(config=cfg)
shell.run_line_magic("load_ext", "jupyter_mlops")
assert shell.run_cell(
    "%%track --quiet\n"
    "from sklearn.datasets import load_iris\n"
    "from sklearn.naive_bayes import GaussianNB\n"
    "X, y = load_iris(return_X_y=True)\n"
    "model = GaussianNB().fit(X, y)\n"
).success
from jupyter_mlops import wait_for_delivery
assert wait_for_delivery(60)
(run,) = MlflowClient().search_runs(["0"])
print(json.dumps({"tags": run.data.tags, "metrics": run.data.metrics}))
"""


@pytest.mark.slow
def test_first_cell_importing_scikit_learn_itself_is_captured(project, tracking_uri) -> None:
    # Given a fresh interpreter where scikit-learn was never imported, When the first tracked
    # cell imports its estimator and fits it, Then the fit is captured
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", FRESH], capture_output=True, text=True, timeout=300, check=True
    )
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["tags"]["estimator_name"] == "GaussianNB"
    assert found["metrics"]["training_accuracy_score"] > 0.9
