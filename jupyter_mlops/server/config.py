"""``c.JupyterMlops.*``: the server extension's settings, built once from the server's config."""

from __future__ import annotations

from traitlets import Int, Unicode
from traitlets.config import Configurable


class JupyterMlops(Configurable):
    """Settings of the jupyter-mlops server extension (``c.JupyterMlops.tracking_uri`` ...)."""

    tracking_uri = Unicode(
        "",
        help=(
            "MLflow tracking URI the sidebar reads. Empty: MLFLOW_TRACKING_URI, else "
            "sqlite:///<project root>/mlflow.db for the server's root directory."
        ),
    ).tag(config=True)

    read_uri = Unicode(
        "",
        help=(
            "Team mode: the tracking server's own database (e.g. postgresql+psycopg2://reader:"
            "...@db/mlflow), read-only, so run pages and keys come by SQL instead of the "
            "server's search. Each experiment is still fetched through the tracking server "
            "with the user's credentials first (its READ permission applies). Empty: "
            "JUPYTER_MLOPS_READ_URI, else none."
        ),
    ).tag(config=True)

    max_page_size = Int(200, help="Largest page of runs one request may ask for.").tag(config=True)

    max_artifact_bytes = Int(
        5 * 1024 * 1024, help="Largest artifact file (text or image) served to the sidebar."
    ).tag(config=True)

    max_artifact_entries = Int(
        2000, help="Most artifact entries listed for one run (deeper entries are cut off)."
    ).tag(config=True)

    worker_threads = Int(4, help="Threads that run blocking tracking-store calls.").tag(config=True)
