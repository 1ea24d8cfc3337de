"""The reproduction result: metric rows, tolerance, package differences, exit codes, rendering."""

from __future__ import annotations

from jupyter_mlops.core.contracts import EXIT_GATE_FAILED, EXIT_NOTEBOOK_FAILED, EXIT_OK
from jupyter_mlops.core.reproduce.comparison import (
    ReproduceResult,
    compare_metrics,
    is_better,
    package_differences,
    primary_metric,
)
from jupyter_mlops.core.reproduce.rerun import tag_tracked_cell


def test_metrics_are_compared_within_tolerance_absolute_or_relative():
    rows = compare_metrics(
        {"accuracy": 0.9, "loss": 1000.0, "gone": 1.0},
        {"accuracy": 0.9 + 1e-12, "loss": 1000.0 + 1e-7, "new": 3.0},
        tolerance=1e-9,
    )
    by_name = {r.name: r for r in rows}
    assert by_name["accuracy"].within_tolerance and by_name["loss"].within_tolerance
    assert not by_name["gone"].within_tolerance and by_name["gone"].new is None
    assert by_name["new"].within_tolerance and by_name["new"].original is None


def test_exit_codes_follow_the_cli_contract():
    result = ReproduceResult("r1", "r2", "same", 1e-9)
    result.metrics = compare_metrics({"a": 1.0}, {"a": 1.0}, 1e-9)
    assert result.exit_code == EXIT_OK
    result.metrics = compare_metrics({"a": 1.0}, {"a": 1.1}, 1e-9)
    assert result.exit_code == EXIT_GATE_FAILED
    result.gates_passed = True  # gates decide when given
    assert result.exit_code == EXIT_OK
    result.failure = "the slice raised in execution 3"
    assert result.exit_code == EXIT_NOTEBOOK_FAILED


def test_package_differences_list_changed_added_and_removed_distributions():
    old = "numpy==1.26.0\nscikit_learn==1.4.0\npandas==2.2.0\n"
    new = "numpy==1.26.0\nscikit-learn==1.5.0\nrich==13.0\n"
    found = [(p.name, p.original, p.new) for p in package_differences(old, new)]
    assert found == [
        ("pandas", "2.2.0", None),
        ("rich", None, "13.0"),
        ("scikit-learn", "1.4.0", "1.5.0"),
    ]


def test_primary_metric_and_direction():
    assert primary_metric(["f1", "zeta"], ["zeta"]) == "zeta"
    assert primary_metric(["b", "accuracy"], []) == "accuracy"
    assert is_better("val_loss", 0.1, 0.2) and not is_better("accuracy", 0.1, 0.2)


def test_html_escapes_run_supplied_text():
    result = ReproduceResult("<b>id</b>", None, "<script>", 1e-9, failure="<img src=x>")
    html = result._repr_html_()
    assert "<script>" not in html and "<img" not in html and "&lt;script&gt;" in html


def test_the_tracked_cell_is_tagged_with_the_run_it_reproduces():
    cell = "\n%%track -n x --no-autolog\nacc = 1"
    assert tag_tracked_cell(cell, "abc").splitlines()[1] == (
        "%%track --tag jupyter_mlops.reproduces=abc -n x --no-autolog"
    )


def test_an_auto_tracked_cell_gets_a_track_line_to_reproduce_it():
    assert tag_tracked_cell("model = m.fit(X, y)\nacc = 1", "abc") == (
        "%%track --tag jupyter_mlops.reproduces=abc\nmodel = m.fit(X, y)\nacc = 1"
    )
    assert tag_tracked_cell("%%time\nacc = 1", "abc") == "%%time\nacc = 1"
