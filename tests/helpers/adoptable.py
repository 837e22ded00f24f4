"""A model a team registered by hand: a pyfunc that no mlflow-retrain command trained.

``register_pyfunc`` fits a logistic regression on the numeric columns of the credit-default
example and logs it as a custom ``mlflow.pyfunc.PythonModel`` whose ``predict`` returns the
class probabilities as a DataFrame with one column per class (or labels only, with
``proba=False``), then registers it with the stock MLflow client.
"""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

#: The inputs of the hand-made model (a subset of the example's columns).
COLUMNS = ["age", "income", "utilization", "debt_ratio", "credit_lines", "late_payments"]


class ProbabilityModel(mlflow.pyfunc.PythonModel):
    """Predicts a DataFrame of class probabilities (columns: the classes), or labels."""

    def __init__(self, model: Any, *, proba: bool) -> None:
        self.model = model
        self.proba = proba

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        X = model_input[COLUMNS]
        if not self.proba:
            return pd.Series(self.model.predict(X))
        return pd.DataFrame(self.model.predict_proba(X), columns=list(self.model.classes_))


def register_pyfunc(name: str, train: pd.DataFrame, *, target: str, proba: bool = True) -> str:
    """Fit, log and register the hand-made model; return its version."""
    model = make_pipeline(SimpleImputer(), LogisticRegression(max_iter=1000))
    model.fit(train[COLUMNS], train[target])
    with mlflow.start_run(run_name="hand-made"):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=ProbabilityModel(model, proba=proba),
            input_example=train[COLUMNS].head(3),
        )
    version = mlflow.register_model(info.model_uri, name)
    return str(version.version)


def probabilities(model: Any, rows: pd.DataFrame) -> np.ndarray:
    """The hand-made model's positive-class probabilities (for checking the adopted metrics)."""
    return np.asarray(model.predict(rows)[1])
