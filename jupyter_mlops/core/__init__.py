"""Pure core of jupyter-mlops: plain Python over MLflow and DVC, no IPython, widgets or tornado."""
