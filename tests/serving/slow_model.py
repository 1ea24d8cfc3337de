"""A models-from-code pyfunc that sleeps before answering like the first classifier would."""

import time

import mlflow.pyfunc
from mlflow.models import set_model


class SlowModel(mlflow.pyfunc.PythonModel):
    """Predicts ``x0 > 0.5`` after sleeping 200 ms (a slow challenger)."""

    def predict(self, context, model_input, params=None):
        time.sleep(0.2)
        return (model_input["x0"] > 0.5).astype(int).to_numpy()


set_model(SlowModel())
