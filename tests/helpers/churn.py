"""A synthetic churn data set and logistic models of known quality, registered as versions.

``label`` depends on ``x1`` and ``x2`` equally; ``noise`` carries no signal. So a model on
``x1`` and ``x2`` beats one on ``x1`` alone, which beats one on ``noise``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from mlflow_retrain import lineage

MODEL = "churn"
FEATURES = ["x1", "x2", "noise"]
#: The tags ``retrain`` leaves on a classifier's version: its target and task.
CLASSIFIER_TAGS = {lineage.TAG_TARGET: "label", lineage.TAG_TASK: "classification"}


def churn_data(seed: int, n: int = 4000) -> pd.DataFrame:
    """``n`` rows of ``x1``, ``x2``, ``noise`` and the binary ``label``."""
    rng = np.random.default_rng(seed)
    x1, x2, noise = rng.normal(size=(3, n))
    logit = 1.2 * x1 + 1.2 * x2
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"x1": x1, "x2": x2, "noise": noise, "label": y})


def churn_model(columns: Sequence[str], train: pd.DataFrame) -> Pipeline:
    """A logistic regression on ``columns`` of ``train``, taking all ``FEATURES`` as input."""
    pipeline = Pipeline(
        [
            ("pick", ColumnTransformer([("keep", "passthrough", list(columns))])),
            ("model", LogisticRegression()),
        ]
    )
    return pipeline.fit(train[FEATURES], train["label"])


def register_churn(
    client: MlflowClient,
    model: Any,
    *,
    name: str = MODEL,
    tags: Mapping[str, str] = CLASSIFIER_TAGS,
) -> str:
    """Log ``model`` in a new run of the active experiment; register it as a version of ``name``.

    The version is created with ``tags`` and its logged model's id, as ``retrain`` creates
    one: a tracking server refuses a ``models:/<id>`` source without its id, and a gate that
    guards tags sees them in the create call.

    Args:
        client: The registry's client.
        model: A fitted scikit-learn estimator (``churn_model``'s, or any other).
        name: The registered model, created if it does not exist.
        tags: The version's tags.

    Returns:
        The version's number.
    """
    import mlflow

    with mlflow.start_run():
        # Naming the requirements skips MLflow's slow inference of them (a subprocess).
        info = mlflow.sklearn.log_model(
            model, name="model", serialization_format="cloudpickle",
            pip_requirements=["scikit-learn"],
        )  # fmt: skip
        run_id = mlflow.active_run().info.run_id
    with contextlib.suppress(mlflow.exceptions.MlflowException):
        client.create_registered_model(name)
    version = client.create_model_version(
        name, info.model_uri, run_id=run_id, tags=dict(tags), model_id=info.model_id
    )
    return str(version.version)
