"""Quality gates against a real sqlite MLflow store: parsing, metric lookup, champion, CLI."""

from __future__ import annotations

import time

import pytest
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from jupyter_mlops.cli import main
from jupyter_mlops.core.contracts import EXIT_GATE_FAILED, EXIT_OK, EXIT_USAGE, TAG_PARENT_RUN_ID
from jupyter_mlops.core.errors import UsageProblem
from jupyter_mlops.core.pipeline.gates import (
    Gate,
    check_run,
    evaluate_gates,
    find_champion,
    metric_value,
    parse_gate,
    parse_gates,
)


@pytest.fixture
def client(tracking_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=tracking_uri)


@pytest.fixture
def experiment_id(client: MlflowClient, tmp_path) -> str:
    return client.create_experiment("gates", artifact_location=(tmp_path / "art").as_uri())


def _run(client: MlflowClient, exp: str, parent: str | None = None, **metrics: float) -> str:
    tags = {TAG_PARENT_RUN_ID: parent} if parent else {}
    run_id = client.create_run(exp, tags=tags).info.run_id
    now = int(time.time() * 1000)
    if metrics:
        client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()])
    client.set_terminated(run_id)
    time.sleep(0.01)  # distinct start times order the children
    return run_id


def _champion(client: MlflowClient, exp: str, name: str, **metrics: float) -> tuple[str, str]:
    run_id = _run(client, exp, **metrics)
    client.create_registered_model(name)
    version = client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
    client.set_registered_model_alias(name, "champion", version.version)
    return run_id, str(version.version)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("accuracy>=0.9", Gate("accuracy", ">=", 0.9, 0.0, "accuracy>=0.9")),
        (" loss < 1e-2 ", Gate("loss", "<", 0.01, 0.0, "loss < 1e-2")),
        ("f1==1", Gate("f1", "==", 1.0, 0.0, "f1==1")),
        ("val.acc > .5", Gate("val.acc", ">", 0.5, 0.0, "val.acc > .5")),
        ("rmse<=-3", Gate("rmse", "<=", -3.0, 0.0, "rmse<=-3")),
        ("accuracy>=champion", Gate("accuracy", ">=", None, 0.0, "accuracy>=champion")),
        (
            "accuracy>=champion-0.01",
            Gate("accuracy", ">=", None, -0.01, "accuracy>=champion-0.01"),
        ),
        ("loss <= champion + 0.5", Gate("loss", "<=", None, 0.5, "loss <= champion + 0.5")),
    ],
)
def test_parse_gate_accepts_the_documented_forms(text: str, expected: Gate) -> None:
    assert parse_gate(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "accuracy",
        "accuracy=>0.9",
        "accuracy>=",
        ">=0.9",
        "accuracy!=0.9",
        "accuracy>=high",
        "accuracy>=champion*2",
        "accuracy>=0.9>=0.8",
    ],
)
def test_parse_gate_rejects_malformed_text_with_one_line(text: str) -> None:
    with pytest.raises(UsageProblem) as info:
        parse_gate(text)
    assert "\n" not in str(info.value)
    assert "METRIC OP VALUE" in str(info.value)


def test_champion_gate_without_model_is_a_usage_problem() -> None:
    with pytest.raises(UsageProblem, match="--model"):
        parse_gates(["accuracy>=champion-0.01"])
    assert parse_gates(["accuracy>=champion"], model="m")[0].uses_champion


def test_metric_comes_from_parent_else_latest_child_that_logged_it(client, experiment_id):
    parent = _run(client, experiment_id, loss=0.3)
    _run(client, experiment_id, parent, accuracy=0.7)
    _run(client, experiment_id, parent, accuracy=0.8)
    _run(client, experiment_id, parent, f1=0.5)  # latest child, but without accuracy
    _run(client, experiment_id, None, accuracy=0.99)  # not a child

    assert metric_value(client, parent, "loss") == pytest.approx(0.3)
    assert metric_value(client, parent, "accuracy") == pytest.approx(0.8)
    assert metric_value(client, parent, "precision") is None


def test_failing_gate_line_shows_the_actual_relation(client, experiment_id):
    run = _run(client, experiment_id, accuracy=0.912)
    results = evaluate_gates(client, run, parse_gates(["accuracy>=0.95", "accuracy>0.9"]))

    assert [r.passed for r in results] == [False, True]
    assert results[0].line == "accuracy 0.912 < 0.950"
    assert results[1].line == "accuracy 0.912 > 0.900"
    assert results[0].actual == pytest.approx(0.912)


def test_metric_never_logged_fails_the_gate(client, experiment_id):
    run = _run(client, experiment_id, accuracy=0.9)
    (result,) = evaluate_gates(client, run, parse_gates(["recall>=0.5"]))
    assert not result.passed
    assert "recall never logged" in result.line


def test_champion_gate_uses_the_champion_runs_metric_with_tolerance(client, experiment_id):
    _, version = _champion(client, experiment_id, "clf", accuracy=0.95)
    assert find_champion(client, "clf").version == version
    worse = _run(client, experiment_id, accuracy=0.912)
    close = _run(client, experiment_id, accuracy=0.945)

    (fail,) = evaluate_gates(client, worse, parse_gates(["accuracy>=champion"], "clf"), "clf")
    (ok,) = evaluate_gates(client, close, parse_gates(["accuracy>=champion-0.01"], "clf"), "clf")

    assert not fail.passed
    assert fail.line == f"accuracy 0.912 < 0.950 (champion v{version})"
    assert ok.passed
    assert ok.threshold == pytest.approx(0.94)
    assert ok.line == f"accuracy 0.945 >= 0.940 (champion v{version}, -0.01)"


def test_champion_gate_fails_when_there_is_no_champion(client, experiment_id):
    client.create_registered_model("empty-model")
    run = _run(client, experiment_id, accuracy=0.9)
    gates = parse_gates(["accuracy>=champion"], "empty-model")
    (result,) = evaluate_gates(client, run, gates, "empty-model")
    assert not result.passed
    assert "no @champion" in result.line
    assert find_champion(client, "no-such-model") is None


def test_check_run_rejects_an_unknown_run(client):
    with pytest.raises(UsageProblem, match="no run 'deadbeef'"):
        check_run(client, "deadbeef", ["accuracy>=0.5"])


def test_gate_command_exit_codes_and_lines(client, experiment_id, capsys):
    _, version = _champion(client, experiment_id, "clf", accuracy=0.95)
    run = _run(client, experiment_id, accuracy=0.96)

    passing = ["--gate", "accuracy>=0.9", "--gate", "accuracy>=champion", "--model", "clf"]
    assert main(["gate", run, *passing]) == EXIT_OK
    passed = capsys.readouterr().out.splitlines()
    assert passed == [
        "gate passed: accuracy 0.960 >= 0.900",
        f"gate passed: accuracy 0.960 >= 0.950 (champion v{version})",
    ]

    failing = ["--gate", "accuracy>=champion+0.05", "--gate", "loss<1", "--model", "clf"]
    assert main(["gate", run, *failing]) == EXIT_GATE_FAILED
    failed = capsys.readouterr().out.splitlines()
    assert failed[0] == f"gate FAILED: accuracy 0.960 < 1.000 (champion v{version}, +0.05)"
    assert failed[1].startswith("gate FAILED: loss never logged")


def test_gate_command_usage_errors_exit_64_with_one_line(client, experiment_id, capsys):
    run = _run(client, experiment_id, accuracy=0.96)
    assert main(["gate", run, "--gate", "accuracy>>0.9"]) == EXIT_USAGE
    assert main(["gate", "no-such-run", "--gate", "accuracy>=0.9"]) == EXIT_USAGE
    assert main(["gate", run, "--gate", "accuracy>=champion"]) == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3
    assert all(line.startswith("jupyter mlops: error: ") for line in err)
    assert main(["gate", run]) == EXIT_USAGE  # --gate is required: one line, no usage block
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("jupyter mlops gate: error: the following arguments are required")
