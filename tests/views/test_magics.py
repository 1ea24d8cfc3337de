"""%mlops_compare and %mlops_registry in a real InteractiveShell, over runs made by %%track."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError
from mlflow.tracking import MlflowClient

from jupyter_mlops.widgets.compare import CompareRuns
from jupyter_mlops.widgets.registry import RegistryWidget

TRAIN = """
import numpy as np
from sklearn.linear_model import LogisticRegression
X = np.random.default_rng(0).random((30, 3))
y = (X[:, 0] > 0.5).astype(int)
C = {c}
model = LogisticRegression(C=C).fit(X, y)
accuracy = round({acc} + 0 * model.score(X, y), 3)  # computed -> metric
"""

pytestmark = pytest.mark.slow  # %%track cells and MLflow model logging/loading


@pytest.fixture
def tracked_shell(shell):
    """Two %%track cells in experiment 'views', each logging a model."""
    shell.run_line_magic("mlops_experiment", "views")
    for c, acc in ((1.0, 0.81), (2.0, 0.87)):
        result = shell.run_cell(
            "%%track --no-autolog --log-model model\n" + TRAIN.format(c=c, acc=acc)
        )
        assert result.success, result.error_in_exec
    return shell


def test_compare_magic_shows_the_tracked_runs_of_the_current_experiment(
    tracked_shell, tracking_uri
):
    widget = tracked_shell.run_line_magic("mlops_compare", "")
    assert isinstance(widget, CompareRuns)
    assert widget.page.total == 2 and widget.primary_metric.value == "accuracy"
    assert widget.best.metrics["accuracy"] == pytest.approx(0.87)
    assert widget.page.runs[0].params["C"] == "2.0"
    widget.select([r.run_id for r in widget.page.runs])
    assert "param: C" in widget.diff.value
    assert 'background:#fff4ce;color:#1f1f1f">C = ' in widget.diff.value  # changed code line
    narrowed = tracked_shell.run_line_magic("mlops_compare", "views --filter \"params.C = '1.0'\"")
    assert narrowed.page.total == 1


def test_compare_magic_bad_input_is_one_usage_error(tracked_shell):
    with pytest.raises(UsageError, match="no experiment named 'nope'"):
        tracked_shell.run_line_magic("mlops_compare", "nope")
    with pytest.raises(UsageError, match="bad filter"):
        tracked_shell.run_line_magic("mlops_compare", "views --filter 'metrics.accuracy >> 1'")
    with pytest.raises(UsageError, match="--max-runs"):
        tracked_shell.run_line_magic("mlops_compare", "--max-runs 0")
    with pytest.raises(UsageError) as bad_flag:
        tracked_shell.run_line_magic("mlops_compare", "--bogus")
    assert type(bad_flag.value) is UsageError


def test_registry_magic_registers_promotes_and_tries(tracked_shell, tracking_uri):
    from jupyter_mlops import promote, register

    client = MlflowClient(tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name("views").experiment_id])
    for run in runs:
        register(run.info.run_id, "clf")
    promote("clf", 2)
    view = tracked_shell.run_line_magic("mlops_registry", "clf --sample X")
    assert isinstance(view, RegistryWidget) and view.holder("champion").version == "2"
    assert list(view.try_it()) == list(
        tracked_shell.user_ns["model"].predict(tracked_shell.user_ns["X"])
    )
    with pytest.raises(UsageError, match="no registered model named 'nope'"):
        tracked_shell.run_line_magic("mlops_registry", "nope")
    with pytest.raises(UsageError, match="no variable named 'missing'"):
        tracked_shell.run_line_magic("mlops_registry", "clf --sample missing")


def test_compare_and_registry_with_the_tracking_server_down_say_one_line(shell):
    # Given a tracking URI where no server listens (a killed server looks the same)
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    shell.run_line_magic("config", f"MlopsMagics.tracking_uri = 'http://127.0.0.1:{port}'")
    # When the views are asked for; Then each says so in one UsageError line, no traceback
    for line in ("mlops_compare", "mlops_registry"):
        with pytest.raises(UsageError) as info:
            shell.run_line_magic(line, "")
        message = str(info.value)
        assert "did not answer" in message and f"127.0.0.1:{port}" in message
        assert "\n" not in message and "Traceback" not in message
