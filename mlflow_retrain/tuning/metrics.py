"""Metrics the tuner optimises, and how the task (classification or regression) is inferred.

The metrics themselves, their directions and their conventions (multiclass ROC AUC is
one-vs-rest macro, as scikit-learn's default) are defined once in :mod:`mlflow_retrain.metrics`,
which the comparison, the policy and shadow mode read too: the tuner optimises the number the
gate judges. This module picks the ones the tuner offers and the task's default, and
re-exports :class:`Metric` and :func:`score`.
"""

from __future__ import annotations

import difflib
from typing import Any

import numpy as np
import pandas as pd

from mlflow_retrain.exceptions import InvalidConfigError
from mlflow_retrain.metrics import METRICS, Metric, Task, score

__all__ = [
    "CLASSIFICATION_METRICS",
    "MAX_CLASSIFICATION_LEVELS",
    "REGRESSION_METRICS",
    "Metric",
    "Task",
    "get_metric",
    "infer_task",
    "predict_scores",
    "score",
]

#: An integer target with at most this many distinct values is treated as class labels.
MAX_CLASSIFICATION_LEVELS = 20


#: The metrics the tuner offers, in the order error messages list them (from the registry).
CLASSIFICATION_METRICS: dict[str, Metric] = {
    name: METRICS[name] for name in ("roc_auc", "accuracy", "f1", "log_loss")
}
REGRESSION_METRICS: dict[str, Metric] = {name: METRICS[name] for name in ("rmse", "mae", "r2")}
_BY_TASK: dict[str, dict[str, Metric]] = {
    "classification": CLASSIFICATION_METRICS,
    "regression": REGRESSION_METRICS,
}


def infer_task(y: pd.Series) -> Task:
    """Infer the learning task from the target column.

    Classification when the target is text, boolean or categorical, or integer-valued (an
    integer dtype, or floats that are all whole numbers) with at most
    :data:`MAX_CLASSIFICATION_LEVELS` distinct values; regression otherwise.

    Args:
        y: The target column (missing values are ignored).

    Returns:
        ``classification`` or ``regression``.
    """
    dtype = y.dtype
    if (
        pd.api.types.is_bool_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
        or not pd.api.types.is_numeric_dtype(dtype)
    ):
        return "classification"
    values = y.dropna().to_numpy(dtype=float)
    if values.size == 0 or not np.all(np.isfinite(values)):
        return "regression"
    integral = bool(np.all(values == np.round(values)))
    if integral and np.unique(values).size <= MAX_CLASSIFICATION_LEVELS:
        return "classification"
    return "regression"


def get_metric(name: str | None, *, task: str, n_classes: int = 0) -> Metric:
    """Look up a metric, or pick the task's default.

    Defaults: ``roc_auc`` for binary classification, ``accuracy`` for multiclass, ``rmse``
    for regression.

    Args:
        name: The metric's name (case-insensitive), or ``None`` for the default.
        task: ``classification`` or ``regression``.
        n_classes: Number of classes (classification only; more than 2 means multiclass).

    Returns:
        The metric.

    Raises:
        InvalidConfigError: If the task is unknown, or the metric is unknown or not valid for
            the task. The message lists the valid metrics.
    """
    if task not in _BY_TASK:
        raise InvalidConfigError(
            f"Task must be 'classification' or 'regression', got {task!r}. Set tuning.task."
        )
    valid = _BY_TASK[task]
    if name is None:
        if task == "regression":
            return valid["rmse"]
        return valid["accuracy"] if n_classes > 2 else valid["roc_auc"]
    key = name.strip().lower()
    if key in valid:
        return valid[key]
    options = ", ".join(valid)
    other = "regression" if task == "classification" else "classification"
    if key in _BY_TASK[other]:
        raise InvalidConfigError(
            f"Metric '{name}' is a {other} metric but the task is {task}. Set tuning.metric to "
            f"one of: {options} (or fix tuning.task)."
        )
    close = difflib.get_close_matches(key, [*CLASSIFICATION_METRICS, *REGRESSION_METRICS], n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise InvalidConfigError(
        f"Unknown metric '{name}'.{hint} Set tuning.metric to one of: {options} (for {task})."
    )


def predict_scores(model: Any, X: pd.DataFrame, *, metric: Metric) -> np.ndarray:
    """Return what ``metric`` scores: ``predict_proba(X)`` or ``predict(X)``.

    Args:
        model: A fitted estimator or pipeline.
        X: Feature rows.
        metric: The metric.

    Returns:
        Class probabilities (``n_rows x n_classes``) or predictions (``n_rows``).
    """
    if metric.needs_proba:
        return np.asarray(model.predict_proba(X))
    return np.asarray(model.predict(X))
