"""The Optuna objective: cross-validated score of one sampled pipeline.

A trial samples an estimator and its parameters (:func:`~mlflow_retrain.tuning.space.suggest`),
fits one pipeline per validation fold, reports each fold's score to Optuna (so the pruner can
stop a hopeless trial early) and returns the mean fold score in the metric's own direction
(the study's direction is :func:`make_study_direction`).

A trial *fails* (``TrialFailedError``, with the reason in the trial's ``fail_reason`` user
attribute) when a fit does not converge (scikit-learn's ``ConvergenceWarning`` is escalated to
an error), a fit or score raises, or a score is NaN or infinite. A model that did not converge
is not a model we want to register, so its score must not compete.

When ``window_fractions`` is given the trial also samples ``window_fraction``, the share of
recent history to train on: each fold's model is fitted on the most recent share of that
fold's training rows, and only the most recent (last) fold is evaluated, since the question
"how much history helps" is about predicting the near future.

With ``n_threads`` each trial runs under a native thread limit (OpenMP, BLAS; see
:mod:`mlflow_retrain.tuning.threads`), entered per trial so libraries loaded by an earlier
trial are limited too.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NoReturn

import numpy as np
import optuna
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from mlflow_retrain.exceptions import InvalidInputError, MlflowRetrainError
from mlflow_retrain.tuning.factory import (
    Catalog,
    FeatureColumns,
    ModelSource,
    ModelSourceError,
    weight_params,
)
from mlflow_retrain.tuning.metrics import Metric, predict_scores, score
from mlflow_retrain.tuning.threads import limit_threads, native_threads

__all__ = [
    "ESTIMATOR_ATTR",
    "FAIL_REASON_ATTR",
    "FIT_SECONDS_ATTR",
    "FOLD_SCORES_ATTR",
    "NATIVE_THREADS_ATTR",
    "VALIDATED_FOLDS_ATTR",
    "WINDOW_FRACTION_PARAM",
    "Objective",
    "TrialFailedError",
    "make_study_direction",
    "most_recent",
]

logger = logging.getLogger(__name__)

#: Trial user attribute: why the trial failed (one line).
FAIL_REASON_ATTR = "fail_reason"
#: Trial user attribute: the score of each evaluated fold, in order.
FOLD_SCORES_ATTR = "fold_scores"
#: Trial user attribute: seconds spent fitting each evaluated fold.
FIT_SECONDS_ATTR = "fit_seconds"
#: Trial user attribute: the estimator family of the trial.
ESTIMATOR_ATTR = "estimator"
#: Trial user attribute: indices (into ``splits``) of the evaluated folds.
VALIDATED_FOLDS_ATTR = "validated_folds"
#: Trial user attribute: the most native (OpenMP, BLAS) threads a library could use in the
#: trial, as threadpoolctl reports it inside the trial.
NATIVE_THREADS_ATTR = "native_threads"
#: Trial parameter: share of the most recent training rows used (window tuning).
WINDOW_FRACTION_PARAM = "window_fraction"

_FIT_ERRORS: tuple[type[BaseException], ...] = (ValueError, ArithmeticError, np.linalg.LinAlgError)


class TrialFailedError(MlflowRetrainError):
    """A trial produced no usable score: the fit did not converge, raised, or scored NaN.

    Attributes:
        reason: The one-line reason (also in the trial's ``fail_reason`` user attribute).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def make_study_direction(metric: Metric) -> Literal["maximize", "minimize"]:
    """Return the Optuna study direction of a metric (``maximize`` for AUC, ``minimize`` for
    RMSE)."""
    return metric.direction


class Objective:
    """Optuna objective: the mean validation score of one sampled pipeline.

    Warning handling uses ``warnings.catch_warnings``, which changes process-global state: run
    trials in parallel with processes (workers sharing a storage), not with Optuna's
    ``n_jobs`` threads, or a thread may see another's filter.

    Args:
        X: Feature rows (positional indices in ``splits`` refer to them).
        y: Targets, aligned with ``X``.
        numeric: Numeric feature columns.
        categorical: Categorical feature columns.
        task: ``classification`` or ``regression``.
        metric: The optimised metric.
        splits: Validation folds as ``(train_indices, validation_indices)``; the last must be
            the most recent, and training indices in time order.
        sample_weight: Per-row weights for fitting (``half_life`` windows), or ``None``.
        estimators: Estimator families to search (built-in names and declarative
            entries); ignored when ``source`` is given.
        overrides: ``tuning.space`` range overrides; ignored when ``source`` is given.
        window_fractions: Shares of recent history to choose from, or ``None`` to train on
            every fold's full history.
        random_state: Seed of the models.
        n_threads: Native (OpenMP, BLAS) threads a trial's fits and scoring may use, or
            ``None`` for the libraries' defaults (one per core).
        source: Where each trial's model comes from (a factory, say); by default the
            catalogue of ``estimators``.

    Raises:
        InvalidInputError: If the inputs disagree in length, there is no fold, a window
            share is outside (0, 1], or ``n_threads`` is below 1.
        InvalidConfigError: If an estimator or ``tuning.space`` override is invalid.
    """

    def __init__(
        self,
        X: pd.DataFrame,
        y: pd.Series,
        *,
        numeric: Sequence[str],
        categorical: Sequence[str],
        task: str,
        metric: Metric,
        splits: Sequence[tuple[np.ndarray, np.ndarray]],
        sample_weight: np.ndarray | None = None,
        estimators: Sequence[str | Mapping[str, Any]] = (),
        overrides: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
        window_fractions: Sequence[float] | None = None,
        random_state: int = 0,
        n_threads: int | None = None,
        source: ModelSource | None = None,
    ) -> None:
        if len(X) != len(y):
            raise InvalidInputError(
                f"X has {len(X)} rows but y has {len(y)}. Pass targets aligned with the features."
            )
        if sample_weight is not None and len(sample_weight) != len(X):
            raise InvalidInputError(
                f"sample_weight has {len(sample_weight)} values for {len(X)} rows. Pass one "
                "weight per row."
            )
        if not splits:
            raise InvalidInputError("The objective needs at least one validation fold.")
        if metric.task != task:
            raise InvalidInputError(
                f"Metric '{metric.name}' is for {metric.task} but the task is {task}. Pick the "
                "metric with get_metric(task=...)."
            )
        if window_fractions is not None:
            if not window_fractions:
                raise InvalidInputError("window_fractions must list at least one share.")
            bad = [f for f in window_fractions if not 0.0 < f <= 1.0]
            if bad:
                raise InvalidInputError(
                    f"Window shares must be in (0, 1], got {bad[0]!r}. Fix window.tune_fractions."
                )
        if n_threads is not None and (
            isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 1
        ):
            raise InvalidInputError(
                f"n_threads must be a whole number >= 1 or None, got {n_threads!r}."
            )
        if source is None:
            if not estimators:
                raise InvalidInputError("The objective needs estimators or a model source.")
            source = Catalog(
                estimators,
                overrides=overrides,
                task=task,
                columns=FeatureColumns(tuple(numeric), tuple(categorical)),
                needs_proba=metric.needs_proba,
                random_state=random_state,
            )
        self.source = source
        self.X = X
        self.y = y
        self.numeric = tuple(numeric)
        self.categorical = tuple(categorical)
        self.task = task
        self.metric = metric
        self.splits = list(splits)
        self.sample_weight = sample_weight
        self.window_fractions = None if window_fractions is None else tuple(window_fractions)
        self.random_state = random_state
        self.n_threads = n_threads

    @property
    def direction(self) -> Literal["maximize", "minimize"]:
        """The study direction this objective needs."""
        return make_study_direction(self.metric)

    def __call__(self, trial: optuna.Trial) -> float:
        """Run one trial and return its mean validation score.

        Raises:
            optuna.TrialPruned: If the pruner stops the trial after a fold.
            TrialFailedError: If a fit does not converge or fails, or a score is not finite.
        """
        with limit_threads(self.n_threads):
            trial.set_user_attr(NATIVE_THREADS_ATTR, native_threads())
            return self._run(trial)

    def _run(self, trial: optuna.Trial) -> float:
        estimator, model = self.source.build(trial)
        trial.set_user_attr(ESTIMATOR_ATTR, estimator)
        fraction = 1.0
        folds = list(enumerate(self.splits))
        if self.window_fractions is not None:
            fraction = float(
                trial.suggest_categorical(WINDOW_FRACTION_PARAM, list(self.window_fractions))
            )
            folds = folds[-1:]
        trial.set_user_attr(VALIDATED_FOLDS_ATTR, [k for k, _ in folds])
        scores: list[float] = []
        seconds: list[float] = []
        for step, (fold, (train_idx, valid_idx)) in enumerate(folds):
            train_idx = most_recent(np.asarray(train_idx), fraction)
            value, fit_time = self._fit_and_score(
                trial, estimator, _fresh(model), train_idx, np.asarray(valid_idx), fold=fold
            )
            scores.append(value)
            seconds.append(fit_time)
            trial.set_user_attr(FOLD_SCORES_ATTR, scores)
            trial.set_user_attr(FIT_SECONDS_ATTR, seconds)
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned(
                    f"Trial {trial.number} pruned after fold {fold} ({self.metric.name} "
                    f"{value:.4g})."
                )
        return float(np.mean(scores))

    def _fit_and_score(
        self,
        trial: optuna.Trial,
        estimator: str,
        model: Any,
        train_idx: np.ndarray,
        valid_idx: np.ndarray,
        *,
        fold: int,
    ) -> tuple[float, float]:
        X_train, y_train = self.X.iloc[train_idx], self.y.iloc[train_idx]
        if self.task == "classification" and y_train.nunique() < 2:
            self._fail(
                trial,
                f"Fold {fold}: the {len(train_idx)} training rows hold a single class; lower "
                "window.tune_fractions or tuning.cv_folds.",
            )
        weights = None if self.sample_weight is None else self.sample_weight[train_idx]
        fit_params = weight_params(model, weights)
        # The user's estimators may raise anything; the built-ins only numerical errors.
        errors = (Exception,) if self.source.user_code else _FIT_ERRORS
        start = time.perf_counter()
        try:
            # Process-global filter (see the class docstring): a non-converged fit fails.
            with warnings.catch_warnings():
                warnings.simplefilter("error", ConvergenceWarning)
                model.fit(X_train, y_train, **fit_params)
        except ConvergenceWarning as warning:
            message = str(warning).strip().splitlines()[0] if str(warning).strip() else ""
            self._fail(
                trial,
                f"{estimator} did not converge on fold {fold} (ConvergenceWarning: {message}). "
                "Raise max_iter or narrow the regularisation range in tuning.space.",
                warning,
            )
        except errors as err:
            self._fail(
                trial,
                f"{estimator} failed to fit on fold {fold}: {type(err).__name__}: "
                f"{_one_line(err)}",
                err,
            )
        fit_time = time.perf_counter() - start
        X_valid, y_valid = self.X.iloc[valid_idx], self.y.iloc[valid_idx]
        if self.metric.name == "roc_auc" and y_valid.nunique() < 2:
            self._fail(
                trial,
                f"Fold {fold}: the {len(valid_idx)} validation rows hold a single class, so "
                "ROC AUC is undefined; lower tuning.cv_folds or optimise accuracy or log_loss.",
            )
        try:
            predicted = predict_scores(model, X_valid, metric=self.metric)
            value = score(self.metric, y_valid, predicted, labels=getattr(model, "classes_", None))
        except errors as err:
            self._fail(
                trial,
                f"{self.metric.name} could not be computed on fold {fold}: "
                f"{type(err).__name__}: {_one_line(err)}",
                err,
            )
        if not math.isfinite(value):
            self._fail(
                trial,
                f"{estimator} scored {self.metric.name} = {value} on fold {fold} (not finite). "
                "Check the data for extreme values or narrow tuning.space.",
            )
        return value, fit_time

    @staticmethod
    def _fail(trial: optuna.Trial, reason: str, cause: BaseException | None = None) -> NoReturn:
        trial.set_user_attr(FAIL_REASON_ATTR, reason)
        logger.info("Trial %d failed: %s", trial.number, reason)
        raise TrialFailedError(reason) from cause


def _fresh(model: Any) -> Any:
    """An unfitted copy of the trial's model for one fold.

    Raises:
        ModelSourceError: If the model cannot be cloned (it has no ``get_params``).
    """
    from sklearn.base import clone

    try:
        return clone(model)
    except (TypeError, RuntimeError) as err:
        raise ModelSourceError(
            f"{type(model).__name__} cannot be cloned ({_one_line(err)}). Give it "
            "scikit-learn's get_params/set_params (subclass sklearn.base.BaseEstimator)."
        ) from err


def most_recent(train_idx: np.ndarray, fraction: float) -> np.ndarray:
    """The most recent ``fraction`` of a fold's training rows (its tail), at least one row.

    Rounds like the refit on the full window does, so tuning and refit agree.
    """
    if fraction >= 1.0:
        return train_idx
    keep = max(1, round(len(train_idx) * fraction))
    return train_idx[len(train_idx) - keep :]


def _one_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else err.__class__.__name__
