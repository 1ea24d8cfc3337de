"""``jupyter mlops run``: real kernels (nbclient), a real sqlite MLflow store, real exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from mlflow.tracking import MlflowClient

from jupyter_mlops.cli import main
from jupyter_mlops.core.contracts import (
    ENV_EXPERIMENT,
    ENV_NOTEBOOK_PATH,
    ENV_PARENT_RUN_ID,
    EXIT_GATE_FAILED,
    EXIT_NOTEBOOK_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    TAG_PARENT_RUN_ID,
    TAG_PIPELINE_RUN_ID,
    TAG_SOURCE_NAME,
)
from jupyter_mlops.core.errors import UsageProblem
from jupyter_mlops.core.pipeline.parameters import (
    collect_parameters,
    inject_parameters,
    notebook_experiment,
    parse_parameter,
    python_literal,
)

ENV_SHOWN = [ENV_PARENT_RUN_ID, ENV_NOTEBOOK_PATH, ENV_EXPERIMENT, "MLFLOW_TRACKING_URI"]


def _notebook(folder: Path) -> Path:
    """alpha/label/fail parameters; a tracked cell logs accuracy=alpha; fail=True raises."""
    params = nbformat.v4.new_code_cell('alpha = 0.5\nlabel = "base"\nfail = False')
    params.metadata["tags"] = ["parameters"]
    cells = [
        nbformat.v4.new_markdown_cell("# a pipeline notebook"),
        params,
        nbformat.v4.new_code_cell(
            "import json, os\n%load_ext jupyter_mlops\n%mlops_experiment notebook-exp\n"
            f"print(json.dumps({{k: os.environ.get(k) for k in {ENV_SHOWN!r}}}))"
        ),
        nbformat.v4.new_code_cell("%%track\naccuracy = alpha\ntag_label = label"),
        nbformat.v4.new_code_cell('if fail:\n    raise ValueError("boom " + label)'),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = folder / "notebooks" / "train.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def _runs(client: MlflowClient, experiment: str) -> list:
    exp = client.get_experiment_by_name(experiment)
    return [] if exp is None else client.search_runs([exp.experiment_id])


def _parent(client: MlflowClient) -> object:
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string=f"tags.`{TAG_PIPELINE_RUN_ID}` LIKE '%'",
    )
    parents = [r for r in runs if r.data.tags[TAG_PIPELINE_RUN_ID] == r.info.run_id]
    assert len(parents) == 1
    return parents[0]


# ---- parameters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lr=0.01", ("lr", 0.01)),
        ("epochs=10", ("epochs", 10)),
        ("flag=true", ("flag", True)),
        ("flag=False", ("flag", False)),
        ("x=None", ("x", None)),
        ("name=resnet", ("name", "resnet")),
        ("name='a b'", ("name", "a b")),
        ("layers=[64, 32]", ("layers", [64, 32])),
        ("expr=a=b", ("expr", "a=b")),
    ],
)
def test_parse_parameter_types_values_like_python_literals(text, expected):
    assert parse_parameter(text) == expected


@pytest.mark.parametrize("text", ["lr", "=3", "1x=3", "a b=3", "a-b=1"])
def test_parse_parameter_rejects_bad_syntax(text):
    with pytest.raises(UsageProblem, match="NAME=VALUE"):
        parse_parameter(text)


def test_parameter_file_is_merged_and_pairs_win(tmp_path):
    file = tmp_path / "params.yaml"
    file.write_text("alpha: 0.25\nlabel: from-file\n")
    assert collect_parameters(["alpha=0.9"], [file]) == {"alpha": 0.9, "label": "from-file"}
    (tmp_path / "bad.yaml").write_text("- a\n- b\n")
    with pytest.raises(UsageProblem, match="mapping"):
        collect_parameters([], [tmp_path / "bad.yaml"])
    with pytest.raises(UsageProblem, match="not found"):
        collect_parameters([], [tmp_path / "missing.yaml"])


def test_values_that_are_not_python_literals_are_injected_as_text():
    import datetime

    assert python_literal(datetime.date(2024, 1, 2)) == "'2024-01-02'"  # YAML dates
    assert python_literal(float("nan")) == "'nan'"
    assert python_literal({"a": [1, 2.5, None], "b": True}) == "{'a': [1, 2.5, None], 'b': True}"
    assert python_literal('say "hi"') == """'say "hi"'"""


def test_injection_follows_the_parameters_cell_and_replaces_an_old_injection(tmp_path):
    nb = nbformat.read(_notebook(tmp_path), as_version=4)
    once = inject_parameters(nb, {"alpha": 0.75})
    twice = inject_parameters(once, {"alpha": 0.125, "label": "x"})
    tags = [c.metadata.get("tags", []) for c in twice.cells]
    assert tags[1] == ["parameters"]
    assert tags[2] == ["injected-parameters"]
    assert sum("injected-parameters" in t for t in tags) == 1
    assert "alpha = 0.125" in twice.cells[2].source
    assert "label = 'x'" in twice.cells[2].source
    assert notebook_experiment(twice) == "notebook-exp"


# ---- whole runs in real kernels -------------------------------------------------------------


@pytest.mark.slow
def test_run_passes_gates_and_links_parent_children_params_and_artifacts(
    project, tracking_uri, capsys
):
    nb_path = _notebook(project)
    params_file = project / "params.yaml"
    params_file.write_text("alpha: 0.25\nlabel: from-file\n")
    out = project / "out" / "train.out.ipynb"

    code = main(
        ["run", str(nb_path), "-f", str(params_file), "-p", "alpha=0.8",
         "--experiment", "pipeline-exp", "--gate", "accuracy>=0.75", "-o", str(out), "--progress"]
    )  # fmt: skip

    captured = capsys.readouterr()
    assert code == EXIT_OK, captured
    assert "gate passed: accuracy 0.800 >= 0.750" in captured.out
    assert "5/5" in captured.err  # four code cells + the injected one
    client = MlflowClient(tracking_uri)
    parent = _parent(client)
    assert client.get_experiment(parent.info.experiment_id).name == "pipeline-exp"
    assert parent.info.status == "FINISHED"
    assert parent.data.params == {"alpha": "0.8", "label": "from-file"}
    assert parent.data.tags[TAG_SOURCE_NAME] == "notebooks/train.ipynb"
    children = [r for r in _runs(client, "pipeline-exp") if r.info.run_id != parent.info.run_id]
    assert len(children) == 1
    assert children[0].data.tags[TAG_PARENT_RUN_ID] == parent.info.run_id
    assert children[0].data.metrics["accuracy"] == pytest.approx(0.8)
    assert _runs(client, "notebook-exp") == []  # --experiment won over %mlops_experiment
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "notebook")}
    assert artifacts == {"notebook/train.ipynb", "notebook/train.html"}

    executed = nbformat.read(out, as_version=4)
    assert executed.cells[2].metadata["tags"] == ["injected-parameters"]
    assert "alpha = 0.8" in executed.cells[2].source
    printed = "".join(o.get("text", "") for o in executed.cells[3].outputs).splitlines()
    env = json.loads(next(line for line in printed if line.startswith("{")))
    assert env[ENV_PARENT_RUN_ID] == parent.info.run_id
    assert env[ENV_NOTEBOOK_PATH] == "notebooks/train.ipynb"
    assert env[ENV_EXPERIMENT] == "pipeline-exp"
    assert env["MLFLOW_TRACKING_URI"] == tracking_uri


@pytest.mark.slow
def test_failed_gate_exits_1_with_one_line_per_gate(project, tracking_uri, capsys):
    example = Path(__file__).resolve().parents[2] / "notebooks" / "pipeline.ipynb"

    code = main(["run", str(example), "-p", f"demo_dir={project / 'demo'}", "-p", "C=0.5",
                 "--gate", "accuracy>=0.5", "--gate", "f1<0.5", "--gate", "loss<1"])  # fmt: skip

    out = capsys.readouterr().out.splitlines()
    assert code == EXIT_GATE_FAILED
    client = MlflowClient(tracking_uri)
    parent = _parent(client)
    assert client.get_experiment(parent.info.experiment_id).name == "pipeline-example"
    (child,) = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.`{TAG_PARENT_RUN_ID}` = '{parent.info.run_id}'",
    )
    assert parent.data.params == {"demo_dir": str(project / "demo"), "C": "0.5"}
    accuracy, f1 = child.data.metrics["accuracy"], child.data.metrics["f1"]
    assert [line for line in out if line.startswith("gate ")] == [
        f"gate passed: accuracy {accuracy:.3f} >= 0.500",
        f"gate FAILED: f1 {f1:.3f} >= 0.500",
        f"gate FAILED: loss never logged in run {parent.info.run_id} or its child runs "
        "(gate loss<1)",
    ]


@pytest.mark.slow
def test_notebook_error_exits_2_naming_the_cell_through_the_real_command(project, tracking_uri):
    nb_path = _notebook(project)
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}

    proc = subprocess.run(
        [Path(sys.executable).parent / "jupyter", "mlops", "run", str(nb_path),
         "-p", "fail=True", "-p", "label=xyz", "--gate", "accuracy>=0"],
        capture_output=True, text=True, env=env, cwd=project, timeout=300, check=False,
    )  # fmt: skip

    assert proc.returncode == EXIT_NOTEBOOK_FAILED, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("jupyter mlops:")]
    assert errors == [
        "jupyter mlops: error: notebook raised in cell 6 "
        f"(id {_cell_id(nb_path, 4)}) `if fail:`: ValueError: boom xyz"
    ]
    assert "gate" not in proc.stdout  # gates are not checked after a failure
    assert "Traceback" not in proc.stderr
    # the kernel's sockets are CurveZMQ-encrypted where supported: no plain-TCP warning
    assert "without encryption" not in proc.stderr
    client = MlflowClient(tracking_uri)
    parent = _parent(client)
    assert parent.info.status == "FAILED"
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "notebook")}
    assert "notebook/train.ipynb" in artifacts  # the failed notebook is kept for inspection


def _cell_id(path: Path, index: int) -> str:
    return nbformat.read(path, as_version=4).cells[index]["id"]


def test_usage_errors_exit_64_before_any_run_is_created(project, tracking_uri, capsys):
    nb_path = _notebook(project)
    (project / "broken.ipynb").write_text("{not json")

    codes = [
        main(["run", str(project / "missing.ipynb")]),
        main(["run", str(nb_path), "-p", "no value"]),
        main(["run", str(nb_path), "--gate", "accuracy=>0.9"]),
        main(["run", str(nb_path), "--gate", "accuracy>=champion"]),
        main(["run", str(nb_path), "-f", str(project / "nope.yaml")]),
        main(["run", str(project / "broken.ipynb")]),
        main(["run", str(nb_path), "--kernel", "no-such-kernel"]),
    ]

    assert codes == [EXIT_USAGE] * 7
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 7
    assert err[-1] == "jupyter mlops: error: no Jupyter kernel named 'no-such-kernel' is installed"
    assert all(line.startswith("jupyter mlops: error: ") for line in err)
    client = MlflowClient(tracking_uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert runs == []


@pytest.mark.slow
def test_kernel_without_jupyter_mlops_still_gets_a_parent_run(
    project, tracking_uri, tmp_path, monkeypatch
):
    """The runner makes the parent run itself when the kernel cannot import jupyter_mlops."""
    shadow = tmp_path / "shadow" / "jupyter_mlops"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('not installed in this kernel')\n")
    monkeypatch.setenv("PYTHONPATH", str(shadow.parent))  # the kernel inherits it; we do not
    cell = (
        "import os, mlflow\n"
        "parent = os.environ['JUPYTER_MLOPS_PARENT_RUN_ID']\n"
        "with mlflow.start_run(tags={'mlflow.parentRunId': parent}):\n"
        "    mlflow.log_metric('accuracy', 0.93)\n"
        "try:\n    import jupyter_mlops\nexcept ImportError as exc:\n    print('kernel:', exc)"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = project / "plain.ipynb"
    nbformat.write(nb, path)
    out = project / "plain.out.ipynb"

    code = main(["run", str(path), "--gate", "accuracy>=0.9", "-o", str(out)])

    assert code == EXIT_OK
    printed = "".join(o.get("text", "") for o in nbformat.read(out, as_version=4).cells[0].outputs)
    assert "kernel: not installed in this kernel" in printed
    client = MlflowClient(tracking_uri)
    parent = _parent(client)
    (child,) = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.`{TAG_PARENT_RUN_ID}` = '{parent.info.run_id}'",
    )
    assert child.data.metrics["accuracy"] == pytest.approx(0.93)
