"""Model factories for ``tuning.model`` in tests: ``build(trial, *, task, columns)``.

Each is reached by its import path (``helpers.factories:<name>``), as a team's own factory
is, so the tests go through the same import, validation and refit as a user's code.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_info

from mlflow_retrain.tuning.factory import FeatureColumns
from mlflow_retrain.tuning.models import preprocessor

#: Native thread limits seen inside each ``RecordingLogistic.fit``, by library file.
RECORDED: list[dict[str, int]] = []
#: The ``sample_weight`` each ``WeightedLogistic.fit`` received (``None`` when unweighted).
WEIGHTS: list[np.ndarray | None] = []


class RecordingLogistic(LogisticRegression):
    """A logistic regression that records the native thread limits it was fitted under."""

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> RecordingLogistic:
        RECORDED.append({lib["filepath"]: int(lib["num_threads"]) for lib in threadpool_info()})
        WEIGHTS.append(None if sample_weight is None else np.asarray(sample_weight))
        super().fit(X, y, sample_weight=sample_weight)
        return self


class Unweighted(LogisticRegression):
    """A classifier whose ``fit`` takes no ``sample_weight``."""

    def fit(self, X: Any, y: Any) -> Unweighted:  # type: ignore[override]
        WEIGHTS.append(None)
        super().fit(X, y)
        return self


def _pipeline(model: Any, columns: FeatureColumns) -> Pipeline:
    pre = preprocessor("scaled", numeric=columns.numeric, categorical=columns.categorical)
    return Pipeline([("features", pre), ("classifier", model)])


def recording(trial: optuna.Trial, *, task: str, columns: FeatureColumns) -> Pipeline:
    """A tuned logistic regression that records its fits (classification)."""
    C = trial.suggest_float("C", 1e-2, 10.0, log=True)
    return _pipeline(RecordingLogistic(C=C, max_iter=2000), columns)


def unweighted(trial: optuna.Trial, *, task: str, columns: FeatureColumns) -> Pipeline:
    """A classifier that cannot take recency weights."""
    C = trial.suggest_float("C", 1e-2, 10.0, log=True)
    return _pipeline(Unweighted(C=C, max_iter=2000), columns)


def raises(trial: optuna.Trial, *, task: str, columns: FeatureColumns) -> Any:
    """A factory with a bug."""
    raise KeyError("n_leaves")


def not_an_estimator(trial: optuna.Trial, *, task: str, columns: FeatureColumns) -> Any:
    """A factory that returns its parameters instead of a model."""
    return {"C": trial.suggest_float("C", 0.1, 1.0)}


def regressor(trial: optuna.Trial, *, task: str, columns: FeatureColumns) -> Pipeline:
    """A factory that returns a regressor whatever the task."""
    trial.suggest_float("unused", 0.0, 1.0)
    return _pipeline(LinearRegression(), columns)


class Diverging(LogisticRegression):
    """A classifier whose probabilities are NaN when ``C`` is above 1 (a diverged fit)."""

    def predict_proba(self, X: Any) -> np.ndarray:
        proba = super().predict_proba(X)
        return np.full_like(proba, np.nan) if self.C > 1.0 else proba


def diverging(trial: optuna.Trial, *, task: str, columns: FeatureColumns) -> Pipeline:
    """Half the space diverges (``C`` above 1 scores NaN); the rest is a fine model."""
    C = trial.suggest_float("C", 0.01, 100.0, log=True)
    return _pipeline(Diverging(C=C, max_iter=2000), columns)


def weak(trial: optuna.Trial, *, task: str, columns: FeatureColumns) -> Pipeline:
    """A model that ignores its inputs: the class shares (worse than any real model)."""
    from sklearn.dummy import DummyClassifier

    strategy = trial.suggest_categorical("strategy", ["prior"])
    return _pipeline(DummyClassifier(strategy=strategy), columns)
