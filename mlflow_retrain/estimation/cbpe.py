"""Confidence-based performance estimation (CBPE) of classifiers, with sampling intervals.

With calibrated probabilities ``p`` a batch's labels are, as far as the model can tell,
independent draws ``y_i ~ p_i``. Then:

* the **expected confusion matrix** at the model's decisions (the arg-max class, or
  ``p >= threshold`` for binary models) gives accuracy, precision, recall and F1 as NannyML's
  CBPE computes them: expected true positives over expected predicted positives, and so on;
* **ROC AUC** is the area under the expected ROC curve: rows ranked by their calibrated
  probability, each contributing ``p`` to the true-positive and ``1 - p`` to the
  false-positive count (NannyML's ``estimate_roc_auc``); one-vs-rest and macro-averaged for
  several classes.

The **interval** of an estimate is the spread of the metric a batch of exactly these rows
realises when its labels are drawn from the calibrated probabilities (``n_draws`` draws,
percentile interval), each draw through one of ``n_boot`` calibration maps fitted on bootstrap
resamples of the reference: the sampling error of a batch of its size and the calibration's
variance. It covers the realised
metric at its nominal rate where calibration holds (tests/unit/estimation); under concept
shift it does not, which is why estimates never replace realised metrics once labels arrive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from mlflow_retrain.estimation.calibration import ECE_THRESHOLD, CalibrationCheck, Calibrator
from mlflow_retrain.exceptions import InvalidInputError

__all__ = ["BINARY_METRICS", "CBPE", "MULTICLASS_METRICS", "Estimate"]

#: What CBPE estimates for a binary classifier.
BINARY_METRICS = ("roc_auc", "accuracy", "f1", "precision", "recall")
#: ... and for several classes (F1 and ROC AUC macro-averaged, one-vs-rest).
MULTICLASS_METRICS = ("accuracy", "f1", "roc_auc")


@dataclass(frozen=True)
class Estimate:
    """One estimated metric of one batch.

    Attributes:
        metric: ``roc_auc``, ``accuracy``, ``f1``, ``precision`` or ``recall``.
        value: The estimate (expected-confusion-matrix value, or the expected ROC AUC).
        ci_low: Lower bound of the batch's sampling interval.
        ci_high: Upper bound.
        n: Rows of the batch.
    """

    metric: str
    value: float
    ci_low: float
    ci_high: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {"metric": self.metric, "value": self.value, "ci_low": self.ci_low,
                "ci_high": self.ci_high, "n": self.n}  # fmt: skip


class CBPE:
    """Estimate a classifier's performance on unlabelled batches from its probabilities.

    Args:
        calibration: ``isotonic``, ``sigmoid``, or ``none`` (the probabilities are taken as
            calibrated).
        threshold: Binary models: the probability at or above which the model predicts the
            positive class (the second class).
        confidence: Coverage of the intervals.
        n_draws: Label draws per interval.
        n_boot: Calibration maps fitted on bootstrap resamples of the reference; the draws
            cycle through them, so an interval carries the calibration's own uncertainty as
            well as the batch's sampling error (0: the sampling error only).
        seed: Seeds the draws and the resamples.
        ece_threshold: Calibration error on the reference above which the check is poor.
    """

    def __init__(
        self,
        *,
        calibration: Literal["isotonic", "sigmoid", "none"] = "isotonic",
        threshold: float = 0.5,
        confidence: float = 0.95,
        n_draws: int = 1000,
        n_boot: int = 50,
        seed: int = 0,
        ece_threshold: float = ECE_THRESHOLD,
    ) -> None:
        if not 0.5 <= confidence < 1.0:
            raise InvalidInputError(f"confidence must be in [0.5, 1), got {confidence!r}.")
        if n_draws < 100:
            raise InvalidInputError(f"n_draws must be at least 100, got {n_draws!r}.")
        self.calibration = calibration
        self.threshold = threshold
        self.confidence = confidence
        self.n_draws = n_draws
        self.n_boot = n_boot
        self.seed = seed
        self.calibrator: Calibrator | None = None
        if calibration != "none":
            self.calibrator = Calibrator(calibration, threshold=ece_threshold)
        self.classes: np.ndarray = np.array([])

    @property
    def check(self) -> CalibrationCheck | None:
        """The calibration check on the reference (``None`` without calibration)."""
        return None if self.calibrator is None else self.calibrator.check

    def fit(self, y_true: Sequence[Any] | np.ndarray, proba: np.ndarray,
            classes: Sequence[Any]) -> CBPE:  # fmt: skip
        """Fit the calibration on labelled reference rows (the champion's gate split).

        Raises:
            InvalidInputError: A single class in the reference, shapes that disagree, labels
                that are not classes.
        """
        self.classes = np.asarray(classes)
        if len(self.classes) < 2:
            raise InvalidInputError("CBPE needs a classifier of at least two classes.")
        if self.calibrator is not None:
            self.calibrator.fit(y_true, proba, classes, n_boot=self.n_boot, seed=self.seed)
        return self

    def calibrated(self, proba: np.ndarray) -> np.ndarray:
        """The batch's calibrated probabilities, ``(n, k)``."""
        if self.calibrator is not None:
            return self.calibrator.transform(proba)
        proba = np.asarray(proba, dtype=float)
        return np.column_stack([1 - proba, proba]) if proba.ndim == 1 else proba

    def estimate(
        self,
        proba: np.ndarray,
        metrics: Sequence[str] | None = None,
        *,
        predictions: Sequence[Any] | np.ndarray | None = None,
    ) -> dict[str, Estimate]:
        """Estimate ``metrics`` on one unlabelled batch from the model's probabilities.

        Args:
            proba: The model's (uncalibrated) probabilities on the batch, ``(n, k)``.
            metrics: Default: :data:`BINARY_METRICS` or :data:`MULTICLASS_METRICS`.
            predictions: The model's predicted labels, when its decisions are not the
                arg-max (or ``p >= threshold``) of ``proba``.

        Raises:
            InvalidInputError: An unknown metric, an empty batch, or bad probabilities.
        """
        if not len(self.classes):
            raise InvalidInputError("CBPE is not fitted: call fit() on the reference.")
        binary = len(self.classes) == 2
        known = BINARY_METRICS if binary else MULTICLASS_METRICS
        metrics = tuple(metrics or known)
        unknown = [m for m in metrics if m not in known]
        if unknown:
            kind = "binary" if binary else "multiclass"
            raise InvalidInputError(
                f"CBPE cannot estimate '{unknown[0]}' for a {kind} classifier. Estimable: "
                f"{', '.join(known)}."
            )
        raw = np.asarray(proba, dtype=float)
        p = self.calibrated(raw)
        n = len(p)
        if n == 0:
            raise InvalidInputError("The batch has no rows to estimate on.")
        raw = np.column_stack([1 - raw, raw]) if raw.ndim == 1 else raw
        if predictions is not None:
            decided = _class_index(np.asarray(predictions), self.classes)
        elif binary:
            decided = (raw[:, 1] >= self.threshold).astype(int)
        else:
            decided = raw.argmax(axis=1)
        resampled = (
            self.calibrator.transform_resampled(raw) if self.calibrator is not None else p[None]
        )
        draws = _draw_labels(resampled, self.n_draws, self.seed)
        alpha = (1 - self.confidence) / 2
        found: dict[str, Estimate] = {}
        for metric in metrics:
            value = _expected(metric, p, decided, binary=binary)
            realised = _realised(metric, draws, raw, decided, binary=binary)
            realised = realised[np.isfinite(realised)]
            low, high = (
                (float(np.quantile(realised, alpha)), float(np.quantile(realised, 1 - alpha)))
                if len(realised) else (float("nan"), float("nan"))
            )  # fmt: skip
            found[metric] = Estimate(metric, value, low, high, n)
        return found


def _class_index(labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The column of each predicted label in ``classes``.

    Raises:
        InvalidInputError: If a prediction is not a class.
    """
    index = {str(c): j for j, c in enumerate(classes.tolist())}
    unknown = sorted({str(v) for v in labels.tolist()} - set(index))
    if unknown:
        raise InvalidInputError(
            f"Predictions {unknown[:5]} are not classes of the model ({classes.tolist()[:10]})."
        )
    return np.array([index[str(v)] for v in labels.tolist()], dtype=int)


def _draw_labels(resampled: np.ndarray, n_draws: int, seed: int) -> np.ndarray:
    """``(n_draws, n)`` class indices drawn row by row from calibrated probabilities; draw
    ``d`` uses calibration map ``d mod n_maps`` of ``resampled`` (``(n_maps, n, k)``)."""
    rng = np.random.default_rng(seed)
    maps, n, _ = resampled.shape
    cumulative = np.cumsum(resampled, axis=2)
    cumulative[:, :, -1] = 1.0
    out = np.empty((n_draws, n), dtype=np.int16)
    for start in range(0, n_draws, 50):  # bounded memory: 50 draws x rows x classes at once
        count = min(50, n_draws - start)
        which = np.arange(start, start + count) % maps
        u = rng.random((count, n))
        out[start : start + count] = (u[:, :, None] > cumulative[which]).sum(axis=2)
    return out


def _expected(metric: str, p: np.ndarray, decided: np.ndarray, *, binary: bool) -> float:
    if metric == "accuracy":
        return float(p[np.arange(len(p)), decided].mean())
    if metric == "roc_auc":
        classes = [1] if binary else range(p.shape[1])
        return float(np.nanmean([_expected_auc(p[:, j]) for j in classes]))
    classes = [1] if binary else range(p.shape[1])
    values = []
    for j in classes:
        tp = p[decided == j, j].sum()
        fp = (1 - p[decided == j, j]).sum()
        fn = p[decided != j, j].sum()
        values.append(_ratio(metric, tp, fp, fn))
    return float(np.nanmean(values))


def _ratio(metric: str, tp: float, fp: float, fn: float) -> float:
    if metric == "precision":
        return tp / (tp + fp) if tp + fp > 0 else float("nan")
    if metric == "recall":
        return tp / (tp + fn) if tp + fn > 0 else float("nan")
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else float("nan")


def _expected_auc(score: np.ndarray) -> float:
    """Area under the expected ROC curve: rows ranked by calibrated probability, each adding
    ``p`` expected positives and ``1 - p`` expected negatives; ties form one step."""
    order = np.argsort(-score, kind="stable")
    s = score[order]
    tp = np.cumsum(s)
    fp = np.cumsum(1 - s)
    last = np.r_[s[1:] != s[:-1], True]  # the end of each run of tied scores
    tp, fp = np.r_[0.0, tp[last]], np.r_[0.0, fp[last]]
    if tp[-1] <= 0 or fp[-1] <= 0:
        return float("nan")
    x, y = fp / fp[-1], tp / tp[-1]
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))  # the trapezoid rule


def _realised(
    metric: str, draws: np.ndarray, p: np.ndarray, decided: np.ndarray, *, binary: bool
) -> np.ndarray:
    """The metric each drawn labelling of the batch realises (one value per draw)."""
    if metric == "accuracy":
        return (draws == decided[None, :]).mean(axis=1)
    classes = [1] if binary else list(range(p.shape[1]))
    per_class = []
    for j in classes:
        y = draws == j
        if metric == "roc_auc":
            per_class.append(_auc_rows(p[:, j], y))
            continue
        predicted = decided[None, :] == j
        tp = (y & predicted).sum(axis=1).astype(float)
        fp = (~y & predicted).sum(axis=1).astype(float)
        fn = (y & ~predicted).sum(axis=1).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            if metric == "precision":
                per_class.append(tp / (tp + fp))
            elif metric == "recall":
                per_class.append(tp / (tp + fn))
            else:
                per_class.append(2 * tp / (2 * tp + fp + fn))
    with np.errstate(invalid="ignore"):
        return np.nanmean(np.vstack(per_class), axis=0) if len(per_class) > 1 else per_class[0]


def _auc_rows(score: np.ndarray, y: np.ndarray) -> np.ndarray:
    """ROC AUC of fixed ``score`` against each row of labels ``y`` (Mann-Whitney, mid-ranks)."""
    from scipy.stats import rankdata

    ranks = rankdata(score)
    n1 = y.sum(axis=1).astype(float)
    n0 = y.shape[1] - n1
    with np.errstate(invalid="ignore", divide="ignore"):
        return (y @ ranks - n1 * (n1 + 1) / 2) / (n1 * n0)
