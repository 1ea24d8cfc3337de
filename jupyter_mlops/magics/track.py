"""``%%track`` and ``%mlops_experiment``: the IPython side of ``core.tracking``.

The magic parses its flags, runs the cell itself (like ``%%time``, so the cell's exception
propagates and ``nbconvert --execute`` stops), and hands the namespace to the core tracker.
"""

from __future__ import annotations

import ast
import contextlib
import os
import sys
import threading
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display
from traitlets import Bool, Float, Unicode

from jupyter_mlops.core import active, contracts
from jupyter_mlops.core.errors import MlopsError, UsageProblem
from jupyter_mlops.core.tracking import cellrun as tracking
from jupyter_mlops.core.tracking import journal
from jupyter_mlops.core.tracking.writer import valid_key
from jupyter_mlops.magics.arguments import pairs, parse
from jupyter_mlops.magics.autotrack import transform_body
from jupyter_mlops.magics.reproduce import attach_slice, execution_count, running_cell_id


class _Summary:
    """One line after a tracked cell: HTML in a notebook, text in a terminal."""

    def __init__(self, result: tracking.TrackResult) -> None:
        self.result = result

    def _repr_html_(self) -> str:
        return self.result.html()

    def __repr__(self) -> str:
        return self.result.text()


def _kernel_connection_file() -> str | None:
    """The connection file of the ipykernel running this shell (None in a plain shell)."""
    kernelapp = sys.modules.get("ipykernel.kernelapp")  # only if the kernel imported it
    app_class = getattr(kernelapp, "IPKernelApp", None)
    if app_class is None or not app_class.initialized():
        return None
    return str(app_class.instance().connection_file or "") or None


@magics_class
class MlopsMagics(Magics):
    """Tracked cells. Defaults are set with ``%config MlopsMagics.<trait> = ...``."""

    tracking_uri = Unicode(
        "", help="MLflow tracking URI; empty: MLFLOW_TRACKING_URI, else <project root>/mlflow.db"
    ).tag(config=True)
    autolog = Bool(True, help="Turn on MLflow autologging inside tracked cells").tag(config=True)
    quiet = Bool(False, help="Hide the one-line summary after tracked cells").tag(config=True)
    max_artifact_mb = Float(100.0, help="Files larger than this are not uploaded").tag(config=True)

    def pre_run_cell(self, info: Any) -> None:
        """A cell starts: the journal's worker holds back while it runs (its cell id is learnt
        by ``magics.reproduce``'s hook)."""
        journal.cell_started()

    def post_run_cell(self, result: Any) -> None:
        """The cell ended: the journal's worker may deliver again."""
        journal.cell_finished()

    @magic_arguments()
    @argument("-e", "--experiment", help="MLflow experiment (default: %%mlops_experiment's)")
    @argument("-n", "--run-name", dest="run_name", help="name of the run")
    @argument("--param", action="append", metavar="K=V", help="extra param (repeatable)")
    @argument("--metric", action="append", metavar="NAME", help="also log this variable")
    @argument("--artifact", action="append", metavar="PATH", help="also upload this file")
    @argument("--tag", action="append", metavar="K=V", help="extra tag (repeatable)")
    @argument("--log-model", dest="log_model", metavar="VAR", help="log VAR as an MLflow model")
    @argument("--register", metavar="NAME", help="register the --log-model model as NAME")
    @argument(
        "--continue",
        dest="continue_run",
        action="store_true",
        help="log into the previous tracked run",
    )
    @argument("--nested", action="store_true", help="make a child of the active MLflow run")
    @argument(
        "--no-autolog",
        dest="no_autolog",
        action="store_true",
        help="no framework autologging in this cell",
    )
    @argument("--quiet", action="store_true", help="no summary line")
    @cell_magic
    def track(self, line: str, cell: str) -> Any:
        """Run the cell as an MLflow run capturing params, metrics, artifacts, code and context.

        Literal assignments become params, numbers assigned at the top level become metrics
        (lists/1-d arrays become histories), files the cell writes and names become artifacts.
        """
        if contracts.tracking_disabled():
            return self._execute(cell)
        if not cell.strip():
            raise UsageError("%%track: the cell is empty")
        args = parse(self.track, line)
        cell_id = running_cell_id(self.shell)
        if args.register and not args.log_model:
            raise UsageError("--register needs --log-model VAR")
        options = tracking.TrackOptions(
            experiment=args.experiment,
            run_name=args.run_name,
            params=pairs(args.param, "--param", valid_key),
            metric_names=list(args.metric or []),
            artifacts=list(args.artifact or []),
            tags=pairs(args.tag, "--tag", valid_key),
            log_model=args.log_model,
            register=args.register,
            continue_run=args.continue_run,
            nested=args.nested,
            autolog=self.autolog and not args.no_autolog,
            tracking_uri=self.tracking_uri or None,
            max_artifact_mb=self.max_artifact_mb,
            cell_id=cell_id,
            execution_count=execution_count(self.shell),
            kernel_connection_file=_kernel_connection_file(),
        )
        if args.log_model:
            self._check_model_var(args.log_model, cell)
        source = transform_body(self.shell, cell)
        run = tracking.CellRun(source, options)
        run.source = cell  # the user's text is what gets hashed, diffed and stored
        try:
            run.start()
        except (UsageProblem, MlopsError) as exc:
            raise UsageError(str(exc)) from None
        error: BaseException | None = None
        value = None
        try:
            value = self._execute(cell, transformed=source)
        except BaseException as exc:
            error = exc
        attach_slice(self.shell, run.record, cell_id)  # cell/slice.py, cell/slice.json
        result = run.finish(self.shell.user_ns, error)
        self._report(result, quiet=args.quiet or self.quiet)
        if error is not None:
            raise error.with_traceback(error.__traceback__)
        return value

    def _check_model_var(self, name: str, cell: str) -> None:
        """Refuse ``--log-model`` of a name the cell never binds and that does not exist."""
        ns = self.shell.user_ns
        try:
            bound = tracking.capture.analyse_cell(transform_body(self.shell, cell)).assigned
        except Exception:
            bound = []
        if name not in ns and name not in bound and f"{name} =" not in cell:
            raise UsageError(f"--log-model: no variable named {name!r} (the cell never assigns it)")
        if name in ns and name not in bound:
            from jupyter_mlops.core.models.flavors import detect_flavor

            try:
                detect_flavor(ns[name])
            except UsageProblem as exc:
                raise UsageError(f"--log-model {name}: {exc}") from None

    def _report(self, result: tracking.TrackResult, quiet: bool) -> None:
        for message in result.messages:
            print(f"jupyter-mlops: {message}", file=sys.stderr)
        if not quiet:
            display(_Summary(result))

    def _execute(self, cell: str, transformed: str | None = None) -> Any:
        """Run the cell in the user namespace; its exception propagates; returns its value."""
        __tracebackhide__ = True
        shell = self.shell
        source = transformed if transformed is not None else transform_body(shell, cell)
        number = execution_count(shell) or 0  # tracebacks name the cell as its prompt does
        filename = shell.compile.cache(source, number, raw_code=cell)
        tree = shell.compile.ast_parse(source, filename=filename)
        tree = shell.transform_ast(tree)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = tree.body.pop()
        glob, loc = shell.user_global_ns, shell.user_ns
        exec(shell.compile(tree, filename, "exec"), glob, loc)
        if last is None:
            return None
        expression = ast.Expression(last.value)
        value = eval(shell.compile(expression, filename, "eval"), glob, loc)
        with contextlib.suppress(Exception):  # a trailing ';' hides the value, as untracked
            if shell.displayhook.semicolon_at_end_of_expression(source):
                return None
        return value

    @magic_arguments()
    @argument("name", nargs="*", help="experiment name (quote it, or words joined by a space)")
    @line_magic
    def mlops_experiment(self, line: str) -> None:
        """Set the experiment of the tracked cells that follow: ``%mlops_experiment NAME``."""
        name = " ".join(parse(self.mlops_experiment, line).name)
        try:
            active.set_default_experiment(name)
        except UsageProblem as exc:
            raise UsageError(f"%mlops_experiment: {exc}") from None
        runner = os.environ.get(contracts.ENV_EXPERIMENT, "").strip()
        if runner and runner != name:
            print(f"jupyter-mlops: this pipeline run logs to experiment {runner!r} (--experiment)")
            return
        print(f"jupyter-mlops: tracked cells now log to experiment {name!r}")


def _reconcile_in_background(magics: MlopsMagics) -> None:
    def work() -> None:
        try:
            from jupyter_mlops.core import store
            from jupyter_mlops.core.tracking import journal, liveness, warmup

            warmup.wait_for_imports()  # two threads importing mlflow at once can deadlock
            uri = store.resolve_tracking_uri(magics.tracking_uri or None)
            journal.resume(uri)  # deliver what a kernel that died left in the journal
            if store.sqlite_path(uri) is not None and not store.sqlite_path(uri).exists():
                return
            liveness.reconcile_orphans(store.get_client(uri), user=store.current_user())
        except Exception:
            return

    threading.Thread(target=work, name="jupyter-mlops-reconcile", daemon=True).start()


def on_load(ipython: Any) -> None:
    """After registration: tell the journal when cells run, and mark runs of dead kernels
    KILLED."""
    magics = ipython.magics_manager.registry.get("MlopsMagics")
    if magics is None:
        return
    on_unload(ipython)
    ipython.events.register("pre_run_cell", magics.pre_run_cell)
    ipython.events.register("post_run_cell", magics.post_run_cell)
    _reconcile_in_background(magics)


def on_unload(ipython: Any) -> None:
    """Stop following cells."""
    magics = ipython.magics_manager.registry.get("MlopsMagics")
    if magics is not None:
        for event, callback in (
            ("pre_run_cell", magics.pre_run_cell),
            ("post_run_cell", magics.post_run_cell),
        ):
            try:
                ipython.events.unregister(event, callback)
            except ValueError:
                pass
