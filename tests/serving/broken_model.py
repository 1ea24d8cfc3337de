"""A models-from-code pyfunc whose loading fails (missing weights)."""

import mlflow.pyfunc
from mlflow.models import set_model


class BrokenModel(mlflow.pyfunc.PythonModel):
    """Raises while loading."""

    def load_context(self, context):
        raise RuntimeError("weights file is missing")

    def predict(self, context, model_input, params=None):
        return model_input


set_model(BrokenModel())
