"""Serving registered models from the notebook: MLflow's scoring app, measured and followed."""
