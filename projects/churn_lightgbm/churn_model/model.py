"""The factory ``tuning.model: churn_model.model:build`` names: the team's own pipeline."""

from __future__ import annotations

from typing import Any

from lightgbm import LGBMClassifier
from sklearn.pipeline import Pipeline

from churn_model.features import ChurnFeatures


def build(trial: Any, *, task: str, columns: Any) -> Pipeline:
    """Return an unfitted pipeline whose parameters are sampled from the Optuna ``trial``.

    Args:
        trial: The Optuna trial (``suggest_*`` defines the search space).
        task: ``classification`` (this model predicts churn; it serves no other task).
        columns: The feature columns (``columns.numeric``, ``columns.categorical``).
    """
    if task != "classification":
        raise ValueError(f"the churn model is a classifier, not a {task} model")
    model = LGBMClassifier(
        n_estimators=trial.suggest_int("n_estimators", 50, 300, log=True),
        learning_rate=trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
        num_leaves=trial.suggest_int("num_leaves", 8, 64, log=True),
        min_child_samples=trial.suggest_int("min_child_samples", 10, 80, log=True),
        reg_lambda=trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
        subsample=0.8,
        subsample_freq=1,
        n_jobs=1,  # parallelism is across trials (tuning.workers)
        random_state=0,
        verbose=-1,
    )
    return Pipeline([("features", ChurnFeatures()), ("model", model)])
