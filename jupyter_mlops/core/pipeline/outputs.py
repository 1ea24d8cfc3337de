"""What a pipeline run leaves behind: the ``-o`` copy, and the executed notebook + its HTML
logged as ``notebook/<name>.ipynb`` / ``.html`` (widgets replaced by their static summaries).

``check_output_path`` runs before the notebook does, so a bad ``-o`` never costs a whole run.
"""

from __future__ import annotations

import copy
import errno
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_mlops.core.contracts import ART_NOTEBOOK_DIR
from jupyter_mlops.core.errors import MlopsError, UsageProblem
from jupyter_mlops.core.store import redact_uri
from jupyter_mlops.core.tracking.secrets import mask_files

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient
    from nbformat import NotebookNode

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def check_output_path(output: str | os.PathLike[str]) -> Path:
    """``output`` if the executed notebook can be written there, else UsageProblem (one line)."""
    try:
        return _writable_file(Path(output))
    except OSError as exc:  # a name too long for the file system, a loop of links, ...
        raise UsageProblem(f"-o {str(output)[:200]!r}: {exc.strerror or exc}") from None


def _writable_file(target: Path) -> Path:
    """``target`` if a file can be written there; UsageProblem naming why not.

    Probed for real (we may run as root, where ``os.access`` says yes to everything): an existing
    file must be a regular file opened for appending (nothing truncated); a new one is tried as a
    temporary file in its nearest existing folder, removed at once.
    """
    if not str(target).strip() or str(target) == ".":
        raise UsageProblem("-o/--output is empty")
    if target.is_dir():
        raise UsageProblem(f"-o {target}: is a folder, expected a file such as {target}/out.ipynb")
    if target.is_symlink() and not target.exists():
        raise UsageProblem(f"-o {target}: is a dangling symbolic link")
    if target.exists():
        if not target.is_file():
            raise UsageProblem(f"-o {target}: exists and is not a regular file")
        try:
            with open(target, "ab"):
                pass
        except OSError as exc:
            raise UsageProblem(f"-o {target}: cannot be written ({exc.strerror})") from None
        return target
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise UsageProblem(f"-o {target}: {folder} is not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".jupyter-mlops-probe-"):
            pass
    except OSError as exc:
        reason = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
        raise UsageProblem(f"-o {target}: cannot write in {folder} ({reason})") from None
    return target


def static_copy(nb: NotebookNode) -> NotebookNode:
    """``nb`` without live widget views where a static summary travels beside them.

    An HTML page has no kernel and, offline, no widget JavaScript: it would show blank
    outputs. Our widgets carry ``text/html``, which the page then shows instead.
    """
    static = copy.deepcopy(nb)
    static.metadata.pop("widgets", None)
    for cell in static.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data and ("text/html" in data or "text/plain" in data):
                del data[WIDGET_VIEW]
    return static


def warm_html_exporter() -> None:
    """Import nbconvert's HTML exporter and load its templates (a first render is slow)."""
    import nbformat
    from nbconvert import HTMLExporter

    try:
        HTMLExporter().from_notebook_node(nbformat.v4.new_notebook())
    except Exception:  # best effort: the real rendering reports any problem
        return


def render_html(nb: NotebookNode) -> str:
    """The executed notebook as one HTML page (static widget summaries)."""
    from nbconvert import HTMLExporter

    try:
        return HTMLExporter().from_notebook_node(static_copy(nb))[0]
    except Exception as exc:  # templates missing, a broken output: one line, not a traceback
        raise MlopsError(f"could not render the executed notebook as HTML: {exc}") from exc


def save_outputs(
    client: MlflowClient,
    run_id: str,
    nb: NotebookNode,
    name: str,
    output: str | os.PathLike[str] | None,
) -> Path | None:
    """Write ``-o`` and log the executed notebook + its HTML as ``notebook/<name>.*``."""
    import nbformat

    written = None
    if output is not None:
        written = Path(output)
        try:
            written.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, written)
        except OSError as exc:  # changed since check_output_path: still one line
            raise MlopsError(f"could not write -o {written}: {exc.strerror or exc}") from exc
    with tempfile.TemporaryDirectory(prefix="jupyter-mlops-") as tmp:
        files = [Path(tmp) / f"{name}.ipynb"]
        nbformat.write(nb, files[0])
        try:
            html = render_html(nb)
            files.append(Path(tmp) / f"{name}.html")
            files[1].write_text(html, encoding="utf-8")
        finally:  # the executed notebook is logged even when its HTML cannot be rendered
            _log_files(client, run_id, files)
    return written


def _log_files(client: MlflowClient, run_id: str, files: list[Path]) -> None:
    try:
        mask_files(files)
        for file in files:
            client.log_artifact(run_id, str(file), ART_NOTEBOOK_DIR)
    except Exception as exc:  # artifact stores raise many types (OSError, MlflowException, boto)
        raise MlopsError(f"could not log the executed notebook to run {run_id}: {exc}") from exc


def browse_hint(uri: str) -> str:
    """How to look at the runs of ``uri``: an ``mlflow ui`` command or the server's address."""
    shown = redact_uri(uri)
    if uri.startswith(("http://", "https://")):
        return f"browse the runs at {shown}"
    return f"browse the runs: mlflow ui --backend-store-uri {shown}"
