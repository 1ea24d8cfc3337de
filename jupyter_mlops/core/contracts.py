"""Shared names (the Contracts of docs/architecture.md): tags, artifact paths, env vars, exit codes.

Every other module imports these constants instead of spelling the strings again.
"""

from __future__ import annotations

# --- run tags (MLflow's own) -------------------------------------------------------------
TAG_RUN_NAME = "mlflow.runName"
TAG_SOURCE_NAME = "mlflow.source.name"
TAG_SOURCE_TYPE = "mlflow.source.type"
TAG_GIT_COMMIT = "mlflow.source.git.commit"
TAG_PARENT_RUN_ID = "mlflow.parentRunId"
TAG_USER = "mlflow.user"
SOURCE_TYPE_NOTEBOOK = "NOTEBOOK"

# --- run tags (ours) ---------------------------------------------------------------------
PREFIX = "jupyter_mlops."
TAG_CELL_HASH = PREFIX + "cell.hash"
TAG_CELL_ID = PREFIX + "cell.id"
TAG_CELL_EXECUTION_COUNT = PREFIX + "cell.execution_count"
TAG_CELL_PREVIOUS_RUN_ID = PREFIX + "cell.previous_run_id"
TAG_GIT_DIRTY = PREFIX + "git.dirty"
TAG_KERNEL_ID = PREFIX + "kernel.id"
TAG_KERNEL_HOST = PREFIX + "kernel.host"
TAG_KERNEL_PID = PREFIX + "kernel.pid"
TAG_HEARTBEAT = PREFIX + "heartbeat"
TAG_PIPELINE_RUN_ID = PREFIX + "pipeline.run_id"
TAG_SPOOL_ID = PREFIX + "spool.id"  # the spool entry a replayed run came from
TAG_MONITOR_MODEL = PREFIX + "monitor.model"
TAG_MONITOR_MODEL_VERSION = PREFIX + "monitor.model_version"
TAG_MONITOR_MODEL_URI = PREFIX + "monitor.model_uri"
TAG_AUTOTRACKED = PREFIX + "autotracked"  # "true" on a run %mlops_autotrack made
# MLflow sklearn autolog's own tag names, set by our estimator capture (core/tracking/estimators)
TAG_ESTIMATOR_NAME = "estimator_name"
TAG_ESTIMATOR_CLASS = "estimator_class"
TAG_DATA_CONTEXT = "mlflow.data.context"  # MLflow's input tag: snapshot | cell
# registered-model tags: one per promotion, <prefix><20-digit ns>-<6 hex>
TAG_PROMOTION_PREFIX = PREFIX + "promotion."

# --- default experiment names ------------------------------------------------------------
DEFAULT_EXPERIMENT = "Default"  # tracked cells and pipelines that name none
DRIFT_EXPERIMENT = "drift"  # a drift report logged outside any run
MONITOR_EXPERIMENT = "monitoring"  # Monitor runs
TAG_REPRODUCES = PREFIX + "reproduces"  # on a re-run: the id of the run it reproduces

# --- artifact paths ----------------------------------------------------------------------
ART_CELL_SOURCE = "cell/source.py"
ART_CELL_DIFF = "cell/diff.patch"
ART_CELL_TRACEBACK = "cell/traceback.txt"
ART_CELL_SLICE = "cell/slice.py"  # the session executions that fed the run, in run order
ART_CELL_SLICE_JSON = "cell/slice.json"  # per entry: count, cell id, hash, defines, reads
ART_CV_RESULTS = "cv_results.csv"  # a parameter search's cv_results_ (MLflow autolog's name)
ART_GIT_DIFF = "git/diff.patch"
ART_REQUIREMENTS = "environment/requirements.txt"
ART_PYTHON = "environment/python.txt"
ART_FIGURES_DIR = "figures"  # figures/<n>.png
ART_MODEL_DIR = "model"
ART_NOTEBOOK_DIR = "notebook"  # notebook/<name>.ipynb, notebook/<name>.html
ART_DRIFT_REPORT = "drift/report.json"
ART_MONITOR_DIR = "monitor"  # monitor/batch-<k>.json

# --- environment variables ---------------------------------------------------------------
ENV_DISABLE = "JUPYTER_MLOPS_DISABLE"
ENV_NOTEBOOK_PATH = "JUPYTER_MLOPS_NOTEBOOK_PATH"
ENV_PARENT_RUN_ID = "JUPYTER_MLOPS_PARENT_RUN_ID"
ENV_TRACKING_URI = "MLFLOW_TRACKING_URI"
ENV_EXPERIMENT = "JUPYTER_MLOPS_EXPERIMENT"  # set by `jupyter mlops run --experiment`
ENV_SPOOL_DIR = "JUPYTER_MLOPS_SPOOL_DIR"  # the journal (tracked runs not delivered yet)
# credentials MLflow's client reads itself (basic auth; a token is sent as a Bearer header)
ENV_TRACKING_USERNAME = "MLFLOW_TRACKING_USERNAME"
ENV_TRACKING_PASSWORD = "MLFLOW_TRACKING_PASSWORD"
ENV_TRACKING_TOKEN = "MLFLOW_TRACKING_TOKEN"
ENV_AUTH_CONFIG = "MLFLOW_AUTH_CONFIG_PATH"  # the auth app's ini (set by `server --auth`)
# a tracking server's database, read-only, for fast run pages (c.JupyterMlops.read_uri wins)
ENV_READ_URI = "JUPYTER_MLOPS_READ_URI"
ENV_NO_WARMUP = "JUPYTER_MLOPS_NO_WARMUP"  # 1: %load_ext does not warm MLflow and the store
ENV_DELIVERY_TIMEOUT = "JUPYTER_MLOPS_DELIVERY_TIMEOUT"  # seconds `run`/`gate` wait for delivery
ENV_JOURNAL_FSYNC = "JUPYTER_MLOPS_JOURNAL_FSYNC"  # `cell`: fsync inside the cell (default worker)

# --- CLI exit codes ----------------------------------------------------------------------
EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_NOTEBOOK_FAILED = 2
EXIT_USAGE = 64
EXIT_DATA_SKIPPED = 65  # `sync`: spooled entries had to be skipped (sysexits EX_DATAERR)
EXIT_UNAVAILABLE = 69  # the tracking store could not be reached (sysexits EX_UNAVAILABLE)
EXIT_NOPERM = 77  # the tracking server refused the credentials or permission (EX_NOPERM)


def tracking_disabled() -> bool:
    """True when ``JUPYTER_MLOPS_DISABLE=1``: every magic passes its cell through untracked."""
    import os

    return os.environ.get(ENV_DISABLE, "").strip().lower() in {"1", "true", "yes"}
