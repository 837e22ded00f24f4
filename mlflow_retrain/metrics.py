"""One metric vocabulary: what the tuner optimises is what the gate, the triggers and shadow judge.

Every metric is defined once, here: its name, task, direction, whether it scores class
probabilities, the per-row loss it summarises (where it is a summary of per-row values), and
the paired test the promotion gate uses for it by default. Tuning (:mod:`mlflow_retrain.tuning`),
the comparison (:mod:`mlflow_retrain.comparison`), the policy (:mod:`mlflow_retrain.policy`),
the loop's decay trigger, shadow mode and the paired bootstrap
(:func:`mlflow_retrain.stats.paired_bootstrap_test`) all read it, so a metric has one value
whichever path computes it.

Conventions, scikit-learn's defaults (checked against scikit-learn 1.9):

* ``roc_auc``: binary uses the probability of the greater class (``classes[1]``, the class
  scikit-learn treats as positive); multiclass is one-vs-rest, **macro**-averaged
  (``roc_auc_score(..., multi_class="ovr")``, whose default ``average`` is ``"macro"``): every
  class counts the same, however rare.
* ``brier``: ``brier_score_loss`` with its default ``scale_by_half="auto"``: binary is the mean
  of ``(p - y)**2`` for the positive class, in [0, 1] (equivalently, half the sum over both
  classes); multiclass (three or more probability columns) is the mean over rows of the sum
  over classes of ``(p_k - y_k)**2``, in [0, 2], not halved.
* ``log_loss``: ``-log`` of the probability given to the true class, clipped to
  ``[eps, 1 - eps]`` (``eps`` of float64), over the model's classes.
* ``f1``: binary F1 of the greater class; multiclass macro-averaged F1.
* ``accuracy``: the share of rows predicted right, ``1 - mean(zero_one)``.
* ``rmse`` is the square root of the mean ``squared_error``; ``mae`` the mean
  ``absolute_error``; ``r2`` as :func:`sklearn.metrics.r2_score`.

Per-row losses (:data:`LOSSES`, :func:`row_losses`): ``zero_one``, ``log_loss``, ``brier``
(classification), ``squared_error``, ``absolute_error`` (regression); lower is better.

Pure: numpy and scikit-learn, no mlflow. scikit-learn is imported inside :func:`score`, the one
function that needs it, so :mod:`mlflow_retrain.stats`, which takes its per-row losses from
here, stays numpy/scipy only.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from mlflow_retrain import _errors as errors

__all__ = [
    "DEFINITIONS_VERSION",
    "LOSSES",
    "METRICS",
    "Direction",
    "Loss",
    "Metric",
    "PairedTestName",
    "RowSummary",
    "Task",
    "lookup_metric",
    "resampled_scores",
    "row_losses",
    "score",
]

#: Bumped whenever a metric's definition changes, so a value stored under an older definition
#: (the champion's cached decay reference) is computed again. 2: multiclass ROC AUC became
#: macro-averaged and binary Brier the mean of ``(p - y)**2`` (half the old value).
DEFINITIONS_VERSION = 2

Task = Literal["classification", "regression"]
Direction = Literal["maximize", "minimize"]
#: How a metric summarises its per-row losses: their mean, one minus their mean (accuracy from
#: the zero-one loss), or the square root of their mean (RMSE from the squared error).
RowSummary = Literal["mean", "one_minus_mean", "root_mean"]
#: The paired tests of the promotion gate (see :mod:`mlflow_retrain.stats`).
#: ``auto`` is the paired t-test, or the bootstrap-t where the loss differences' skew would put
#: the t-test off its level (:func:`mlflow_retrain.comparison.choose_loss_test`).
PairedTestName = Literal[
    "mcnemar", "delong", "bootstrap", "t", "bootstrap-t", "auto", "wilcoxon", "diebold-mariano"
]


@dataclass(frozen=True)
class Loss:
    """A per-row loss (lower is better).

    Attributes:
        name: ``zero_one``, ``log_loss``, ``brier``, ``squared_error`` or ``absolute_error``.
        task: ``classification`` or ``regression``.
        needs_proba: Whether it scores class probabilities rather than predictions.
    """

    name: str
    task: Task
    needs_proba: bool


@dataclass(frozen=True)
class Metric:
    """A model metric, as the tuner optimises it and the gate judges it.

    Attributes:
        name: ``accuracy``, ``roc_auc``, ``f1``, ``log_loss``, ``brier``, ``rmse``, ``mae`` or
            ``r2``.
        direction: ``maximize`` or ``minimize`` (the Optuna study direction).
        needs_proba: Whether the metric scores class probabilities (``predict_proba``) rather
            than predictions.
        task: ``classification`` or ``regression``.
        row_loss: The per-row loss the metric summarises (see ``row_summary``), or ``None``
            when the metric is not a summary of per-row values (``roc_auc``, ``f1``, ``r2``).
        row_summary: How the metric follows from the mean of ``row_loss``.
        default_test: The paired test the promotion gate uses unless the policy names another.
    """

    name: str
    direction: Direction
    needs_proba: bool
    task: Task
    row_loss: str | None = None
    row_summary: RowSummary | None = None
    default_test: PairedTestName = "bootstrap"

    @property
    def greater_is_better(self) -> bool:
        """Whether a larger value is a better model."""
        return self.direction == "maximize"

    def score(
        self,
        y_true: ArrayLike,
        y_score: ArrayLike,
        *,
        labels: Sequence[Any] | np.ndarray | None = None,
    ) -> float:
        """Score predictions (see :func:`score`)."""
        return score(self, y_true, y_score, labels=labels)

    def from_row_losses(self, losses: np.ndarray) -> float:
        """The metric's value from its per-row losses (``row_loss``) on the same rows.

        Raises:
            InvalidInputError: If the metric is not a summary of per-row losses.
        """
        mean = float(np.mean(losses))
        if self.row_summary == "mean":
            return mean
        if self.row_summary == "one_minus_mean":
            return 1.0 - mean
        if self.row_summary == "root_mean":
            return mean**0.5
        raise errors.InvalidInputError(
            f"Metric '{self.name}' is not a mean of per-row losses. Compute it with score()."
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "name": self.name,
            "direction": self.direction,
            "needs_proba": self.needs_proba,
            "task": self.task,
        }


#: Every per-row loss, by name.
LOSSES: Mapping[str, Loss] = MappingProxyType(
    {
        "brier": Loss("brier", "classification", True),
        "log_loss": Loss("log_loss", "classification", True),
        "zero_one": Loss("zero_one", "classification", False),
        "squared_error": Loss("squared_error", "regression", False),
        "absolute_error": Loss("absolute_error", "regression", False),
    }
)

#: Every metric, by name (classification first, then regression).
METRICS: Mapping[str, Metric] = MappingProxyType(
    {
        "accuracy": Metric(
            "accuracy", "maximize", False, "classification",
            row_loss="zero_one", row_summary="one_minus_mean", default_test="mcnemar",
        ),
        "roc_auc": Metric("roc_auc", "maximize", True, "classification", default_test="delong"),
        "f1": Metric("f1", "maximize", False, "classification"),
        "log_loss": Metric(
            "log_loss", "minimize", True, "classification",
            row_loss="log_loss", row_summary="mean", default_test="auto",
        ),
        "brier": Metric(
            "brier", "minimize", True, "classification",
            row_loss="brier", row_summary="mean", default_test="auto",
        ),
        "rmse": Metric(
            "rmse", "minimize", False, "regression",
            row_loss="squared_error", row_summary="root_mean", default_test="auto",
        ),
        "mae": Metric(
            "mae", "minimize", False, "regression",
            row_loss="absolute_error", row_summary="mean", default_test="auto",
        ),
        "r2": Metric("r2", "maximize", False, "regression"),
    }
)  # fmt: skip


def lookup_metric(name: str) -> Metric:
    """The metric called ``name``.

    Raises:
        InvalidInputError: If there is no such metric; the message lists them.
    """
    if name in METRICS:
        return METRICS[name]
    close = difflib.get_close_matches(str(name), list(METRICS), n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise errors.InvalidInputError(
        f"Unknown metric '{name}'.{hint} Use one of: {', '.join(METRICS)}."
    )


def score(
    metric: Metric,
    y_true: ArrayLike,
    y_score: ArrayLike,
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
    from sklearn import metrics as skm

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
            raise errors.InvalidInputError(
                f"Metric '{name}' needs one probability column per class ({len(classes)}), got "
                f"an array of shape {pred.shape}. Pass predict_proba output and labels="
                "model.classes_."
            )
        if name == "log_loss":
            return float(skm.log_loss(truth, pred, labels=classes))
        if name == "brier":
            # scale_by_half="auto": halved for two classes, the plain sum over 3+ classes.
            return float(skm.brier_score_loss(truth, pred, labels=classes))
        if name == "roc_auc":
            if len(classes) == 2:
                return float(skm.roc_auc_score(truth == classes[1], pred[:, 1]))
            return float(
                skm.roc_auc_score(truth, pred, multi_class="ovr", average="macro", labels=classes)
            )
    raise errors.InvalidInputError(
        f"Metric '{name}' is not a known {metric.task} metric. Build it with get_metric()."
    )


def resampled_scores(
    metric: Metric,
    y_true: np.ndarray,
    y_score: np.ndarray,
    rows: np.ndarray,
    *,
    labels: Sequence[Any] | np.ndarray | None = None,
) -> np.ndarray | None:
    """``metric`` on many resamples at once: what :func:`score` gives on each row of ``rows``.

    ``rows`` is a ``(k, n)`` matrix of row indices (a bootstrap's resamples); entry ``i`` of
    the result equals ``score(metric, y_true[rows[i]], y_score[rows[i]], labels=labels)`` up to
    float rounding, computed from per-row sums in numpy instead of ``k`` scikit-learn calls
    (the gate's R² comparison is 45 times faster on a 2,000-row gate split, 5 times on
    20,000: ``benchmarks/compare_bench.py``). scikit-learn's conventions carry: an ``r2``
    whose resample has constant targets is 1.0 when the predictions are exact, else 0.0
    (``force_finite``); an F1 with nothing to count is 0.0 (``zero_division``).

    Args:
        metric: The metric.
        y_true: True targets, one per row.
        y_score: Predictions, or class probabilities (one column per entry of ``labels``).
        rows: Row indices, one resample per row.
        labels: The model's classes in column order (required for classification).

    Returns:
        One value per resample, or ``None`` where no vectorised form exists (ROC AUC, or
        classification without ``labels``): score each resample with :func:`score` then.
    """
    name = metric.name
    truth = np.asarray(y_true)
    pred = np.asarray(y_score)
    if metric.row_loss is not None and (metric.task == "regression" or labels is not None):
        losses = row_losses(metric.row_loss, truth, pred, labels=labels)
        mean = losses[rows].mean(axis=1)
        if metric.row_summary == "one_minus_mean":
            return 1.0 - mean
        return np.sqrt(mean) if metric.row_summary == "root_mean" else mean
    if name == "r2":
        y = truth.astype(float)
        sse = ((y - pred.astype(float)) ** 2)[rows].sum(axis=1)
        drawn = y[rows]
        sst = ((drawn - drawn.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = 1.0 - sse / sst
        constant = sst == 0
        return np.where(constant, np.where(sse == 0, 1.0, 0.0), r2)
    if name == "f1" and labels is not None:
        classes = list(labels)
        positives = classes[-1:] if len(classes) <= 2 else classes
        per_class = []
        for label in positives:
            is_true, is_pred = truth == label, pred == label
            tp = (is_true & is_pred)[rows].sum(axis=1)
            wrong = (is_true ^ is_pred)[rows].sum(axis=1)  # false positives plus negatives
            denominator = 2 * tp + wrong
            per_class.append(np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0))
        return np.mean(per_class, axis=0)
    return None


def row_losses(
    loss: str,
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    labels: Sequence[Any] | np.ndarray | None = None,
) -> np.ndarray:
    """Each row's loss under ``loss`` (lower is better); their mean gives the metric.

    Args:
        loss: ``zero_one`` (``y_pred`` are labels), ``squared_error``, ``absolute_error``
            (``y_pred`` are predicted values), ``log_loss`` or ``brier`` (``y_pred`` are class
            probabilities: one column per entry of ``labels``, or a 1-D array of the positive
            class's probability with ``y_true`` coded 0/1).
        y_true: True labels or values, one per row.
        y_pred: Predictions or probabilities, one row per row of ``y_true``.
        labels: The classes of the probability columns (``model.classes_``); defaults to the
            sorted distinct values of ``y_true``.

    Returns:
        A float array with one loss per row. ``brier`` follows scikit-learn's
        ``brier_score_loss``: ``(p - y)**2`` of the positive class for two classes, the sum
        over classes for three or more.

    Raises:
        InvalidInputError: If ``loss`` is unknown, the shapes do not match, or a label is not
            one of ``labels``.
    """
    if loss not in LOSSES:
        raise errors.InvalidInputError(
            f"Unknown per-row loss '{loss}'; use one of {', '.join(LOSSES)}."
        )
    truth = np.asarray(y_true)
    pred = np.asarray(y_pred)
    if len(pred) != len(truth):
        raise errors.InvalidInputError(
            f"Loss '{loss}' got {len(pred)} predictions for {len(truth)} rows. Score the model "
            "on the same rows."
        )
    if loss == "zero_one":
        return np.asarray(pred != truth, dtype=float)
    if loss in ("squared_error", "absolute_error"):
        residuals = pred.astype(float) - truth.astype(float)
        return residuals**2 if loss == "squared_error" else np.abs(residuals)
    proba = pred.astype(float)
    eps = np.finfo(float).eps  # scikit-learn's log_loss clips to [eps, 1 - eps]
    if proba.ndim == 1:
        y = truth.astype(float)
        if loss == "brier":
            return (proba - y) ** 2
        p = np.clip(proba, eps, 1 - eps)
        return -(y * np.log(p) + (1 - y) * np.log1p(-p))
    onehot = _one_hot(truth, proba.shape[1], labels)
    if loss == "brier":
        squared = np.sum((proba - onehot) ** 2, axis=1)
        return squared / 2.0 if proba.shape[1] < 3 else squared
    return -np.log(np.clip(proba[onehot.astype(bool)], eps, 1 - eps))


def _one_hot(
    truth: np.ndarray, n_columns: int, labels: Sequence[Any] | np.ndarray | None
) -> np.ndarray:
    classes = np.unique(truth) if labels is None else np.asarray(labels)
    if len(classes) != n_columns:
        raise errors.InvalidInputError(
            f"Probabilities have {n_columns} columns but there are {len(classes)} classes "
            f"({classes.tolist()[:5]}). Pass predict_proba output and labels=model.classes_."
        )
    order = np.argsort(classes, kind="stable")
    ordered = classes[order]
    position = np.clip(np.searchsorted(ordered, truth), 0, len(classes) - 1)
    unseen = ordered[position] != truth
    if np.any(unseen):
        raise errors.InvalidInputError(
            f"Label {truth[np.argmax(unseen)].item()!r} is not one of the model's classes "
            f"{classes.tolist()[:10]}. Score rows whose labels the model was trained on."
        )
    onehot = np.zeros((len(truth), n_columns))
    onehot[np.arange(len(truth)), order[position]] = 1.0
    return onehot


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
