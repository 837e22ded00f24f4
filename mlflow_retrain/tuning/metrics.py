"""Metrics the tuner optimises, and how the task (classification or regression) is inferred.

Pure scikit-learn/numpy/pandas. Every metric is computed with scikit-learn's own function, so
values match ``sklearn.metrics`` exactly; the binary/multiclass conventions are:

* ``roc_auc``: binary uses the probability of the greater class (``classes_[1]``, the class
  scikit-learn treats as positive); multiclass is one-vs-rest, weighted by class support.
* ``f1``: binary F1 of the greater class; multiclass macro-averaged F1.
* ``log_loss``: over the model's classes (``labels``), so a fold without some class still scores.
* ``rmse``, ``mae``, ``r2``: as in :mod:`sklearn.metrics`.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from mlflow_retrain.exceptions import InvalidConfigError, InvalidInputError

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

Task = Literal["classification", "regression"]
Direction = Literal["maximize", "minimize"]

#: An integer target with at most this many distinct values is treated as class labels.
MAX_CLASSIFICATION_LEVELS = 20


@dataclass(frozen=True)
class Metric:
    """A score the tuner optimises.

    Attributes:
        name: ``roc_auc``, ``accuracy``, ``f1``, ``log_loss``, ``rmse``, ``mae`` or ``r2``.
        direction: ``maximize`` or ``minimize`` (the Optuna study direction).
        needs_proba: Whether the metric scores class probabilities (``predict_proba``) rather
            than predictions.
        task: ``classification`` or ``regression``.
    """

    name: str
    direction: Direction
    needs_proba: bool
    task: Task

    @property
    def greater_is_better(self) -> bool:
        """Whether a larger value is a better model."""
        return self.direction == "maximize"

    def score(
        self,
        y_true: Sequence[Any] | np.ndarray | pd.Series,
        y_score: np.ndarray,
        *,
        labels: Sequence[Any] | np.ndarray | None = None,
    ) -> float:
        """Score predictions (see :func:`score`)."""
        return score(self, y_true, y_score, labels=labels)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "name": self.name,
            "direction": self.direction,
            "needs_proba": self.needs_proba,
            "task": self.task,
        }


CLASSIFICATION_METRICS: dict[str, Metric] = {
    "roc_auc": Metric("roc_auc", "maximize", True, "classification"),
    "accuracy": Metric("accuracy", "maximize", False, "classification"),
    "f1": Metric("f1", "maximize", False, "classification"),
    "log_loss": Metric("log_loss", "minimize", True, "classification"),
}
REGRESSION_METRICS: dict[str, Metric] = {
    "rmse": Metric("rmse", "minimize", False, "regression"),
    "mae": Metric("mae", "minimize", False, "regression"),
    "r2": Metric("r2", "maximize", False, "regression"),
}
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


def score(
    metric: Metric,
    y_true: Sequence[Any] | np.ndarray | pd.Series,
    y_score: np.ndarray,
    *,
    labels: Sequence[Any] | np.ndarray | None = None,
) -> float:
    """Compute ``metric`` on predictions, exactly as :mod:`sklearn.metrics` does.

    Three positional arguments, like scikit-learn's scorers ``scorer(estimator, X, y)``; also
    available as :meth:`Metric.score`.

    Args:
        metric: The metric.
        y_true: True targets.
        y_score: Class probabilities with one column per entry of ``labels`` (for
            ``needs_proba`` metrics), else predictions.
        labels: The model's classes in column order (``model.classes_``); defaults to the
            sorted distinct values of ``y_true`` (and of ``y_score`` for label predictions).

    Returns:
        The metric's value (in its own direction: higher AUC is better, lower RMSE is better).

    Raises:
        InvalidInputError: If the metric is unknown, or the probabilities' shape does not
            match the classes.
        ValueError: From scikit-learn for inputs it rejects (e.g. labels outside ``labels``).
            An undefined value (ROC AUC of rows holding a single class) is NaN, with
            scikit-learn's ``UndefinedMetricWarning``.
    """
    truth = np.asarray(y_true)
    pred = np.asarray(y_score)
    name = metric.name
    if metric.task == "regression":
        if name == "rmse":
            return float(skm.root_mean_squared_error(truth, pred))
        if name == "mae":
            return float(skm.mean_absolute_error(truth, pred))
        if name == "r2":
            return float(skm.r2_score(truth, pred))
    else:
        classes = _classes(truth, pred, labels=labels, proba=metric.needs_proba)
        if name == "accuracy":
            return float(skm.accuracy_score(truth, pred))
        if name == "f1":
            if len(classes) <= 2:
                return float(skm.f1_score(truth, pred, pos_label=classes[-1], average="binary"))
            return float(skm.f1_score(truth, pred, labels=classes, average="macro"))
        if metric.needs_proba and (pred.ndim != 2 or pred.shape[1] != len(classes)):
            raise InvalidInputError(
                f"Metric '{name}' needs one probability column per class ({len(classes)}), got "
                f"an array of shape {pred.shape}. Pass predict_proba output and labels="
                "model.classes_."
            )
        if name == "log_loss":
            return float(skm.log_loss(truth, pred, labels=classes))
        if name == "roc_auc":
            if len(classes) == 2:
                return float(skm.roc_auc_score(truth == classes[1], pred[:, 1]))
            return float(
                skm.roc_auc_score(
                    truth, pred, multi_class="ovr", average="weighted", labels=classes
                )
            )
    raise InvalidInputError(
        f"Metric '{name}' is not a known {metric.task} metric. Build it with get_metric()."
    )


def _classes(
    truth: np.ndarray,
    pred: np.ndarray,
    *,
    labels: Sequence[Any] | np.ndarray | None,
    proba: bool,
) -> list[Any]:
    if labels is not None:
        return list(labels)
    seen = truth if proba else np.concatenate([truth, pred])
    return list(np.unique(seen))
