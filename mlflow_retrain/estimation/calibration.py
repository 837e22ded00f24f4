"""Calibration of a classifier's probabilities on labelled reference rows, and its check."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from mlflow_retrain.exceptions import InvalidInputError

__all__ = ["ECE_THRESHOLD", "CalibrationCheck", "Calibrator", "expected_calibration_error"]

#: Expected calibration error (on the reference, after calibration) above which estimates are
#: flagged as unreliable.
ECE_THRESHOLD = 0.05
#: Equal-width probability bins of the expected calibration error.
ECE_BINS = 10


def expected_calibration_error(y: np.ndarray, p: np.ndarray, *, bins: int = ECE_BINS) -> float:
    """Expected calibration error of positive-class probabilities ``p`` for 0/1 labels ``y``.

    The row-weighted mean, over ``bins`` equal-width bins of ``p``, of the gap between the
    bin's mean probability and its share of positives (Naeini, Cooper and Hauskrecht 2015).
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if len(y) == 0:
        return float("nan")
    index = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            total += mask.sum() * abs(p[mask].mean() - y[mask].mean())
    return total / len(y)


@dataclass(frozen=True)
class CalibrationCheck:
    """How well calibrated the probabilities are on the reference.

    Attributes:
        ece_before: Expected calibration error of the model's own probabilities (the worst
            class, one-vs-rest).
        ece_after: ... of the calibrated probabilities, in 2-fold cross-fitting (each half
            calibrated on the other), so it is not flattered by fitting.
        poor: ``ece_after`` is above the threshold: the estimates are unreliable.
        threshold: The threshold used.
    """

    ece_before: float
    ece_after: float
    poor: bool
    threshold: float

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "ece_before": self.ece_before,
            "ece_after": self.ece_after,
            "poor": self.poor,
            "threshold": self.threshold,
        }


class Calibrator:
    """Calibrate class probabilities on labelled reference rows.

    Binary: one map of the positive class's probability. Several classes: one map per class
    (one-vs-rest), the results renormalised to sum to 1.

    Args:
        method: ``isotonic`` (the default; monotone, no shape assumed) or ``sigmoid``
            (Platt scaling; steadier on few rows).
        threshold: Expected calibration error above which the check flags the reference.

    Attributes:
        classes: The class labels, in the probability columns' order.
        check: The calibration check on the reference (after :meth:`fit`).
    """

    def __init__(
        self,
        method: Literal["isotonic", "sigmoid"] = "isotonic",
        *,
        threshold: float = ECE_THRESHOLD,
    ) -> None:
        if method not in ("isotonic", "sigmoid"):
            raise InvalidInputError(
                f"Calibration must be 'isotonic' or 'sigmoid', got {method!r}."
            )
        self.method = method
        self.threshold = threshold
        self.classes: np.ndarray = np.array([])
        self.check: CalibrationCheck | None = None
        self._maps: list[Any] = []
        self._boot: list[list[Any]] = []

    def fit(
        self,
        y_true: Sequence[Any] | np.ndarray,
        proba: np.ndarray,
        classes: Sequence[Any],
        *,
        n_boot: int = 0,
        seed: int = 0,
    ) -> Calibrator:
        """Fit the calibration on the reference's labels and the model's probabilities.

        Args:
            y_true: Reference labels.
            proba: The model's probabilities, ``(n, k)`` in ``classes`` order.
            classes: The classes of the columns.
            n_boot: Also fit this many maps on bootstrap resamples of the reference: the
                calibration's own uncertainty (:meth:`transform_resampled`).
            seed: Seeds the resamples.

        Raises:
            InvalidInputError: If the shapes disagree, or the reference holds a single class
                (nothing to calibrate against), or a label is not a class.
        """
        y = np.asarray(y_true)
        proba = _as_matrix(proba, len(classes))
        if len(y) != len(proba):
            raise InvalidInputError(
                f"{len(y)} reference labels for {len(proba)} rows of probabilities. Pass one "
                "label per row."
            )
        self.classes = np.asarray(classes)
        unknown = sorted({str(v) for v in np.unique(y)} - {str(c) for c in self.classes})
        if unknown:
            raise InvalidInputError(
                f"Reference labels {unknown[:5]} are not classes of the model "
                f"({self.classes.tolist()[:10]}). Check the target column."
            )
        present = np.unique(y)
        if len(present) < 2:
            raise InvalidInputError(
                f"The reference rows hold a single class ({present.tolist()}): there is no "
                "calibration to fit. Use reference rows with both outcomes (a longer period)."
            )
        onehot = np.column_stack([(y == c).astype(float) for c in self.classes])
        columns = [1] if len(self.classes) == 2 else list(range(len(self.classes)))
        self._maps = [self._fit_one(proba[:, j], onehot[:, j]) for j in columns]
        self.check = self._check(proba, onehot, columns)
        rng = np.random.default_rng(seed)
        self._boot = []
        for _ in range(n_boot):
            rows = rng.integers(0, len(proba), len(proba))
            if any(onehot[rows, j].min() == onehot[rows, j].max() for j in columns):
                continue  # a resample without a class: skipped
            self._boot.append([self._fit_one(proba[rows, j], onehot[rows, j]) for j in columns])
        return self

    def transform_resampled(self, proba: np.ndarray) -> np.ndarray:
        """The batch's probabilities under each bootstrap map, ``(n_boot, n, k)``; the fitted
        map alone (``(1, n, k)``) when :meth:`fit` made none."""
        if not self._boot:
            return self.transform(proba)[None]
        proba = _as_matrix(proba, len(self.classes))
        return np.stack([self._apply(maps, proba) for maps in self._boot])

    def transform(self, proba: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, ``(n, k)`` in :attr:`classes` order, rows summing to 1.

        Raises:
            InvalidInputError: If not fitted, or the columns are not the fitted classes.
        """
        if not self._maps:
            raise InvalidInputError("The calibrator is not fitted: call fit() on the reference.")
        proba = _as_matrix(proba, len(self.classes))
        return self._apply(self._maps, proba)

    def _apply(self, maps: list[Any], proba: np.ndarray) -> np.ndarray:
        if len(self.classes) == 2:
            positive = np.clip(self._predict(maps[0], proba[:, 1]), 0.0, 1.0)
            return np.column_stack([1.0 - positive, positive])
        columns = np.column_stack(
            [np.clip(self._predict(m, proba[:, j]), 0.0, 1.0) for j, m in enumerate(maps)]
        )
        sums = columns.sum(axis=1, keepdims=True)
        uniform = np.full_like(columns, 1.0 / columns.shape[1])
        return np.where(sums > 0, columns / np.where(sums > 0, sums, 1.0), uniform)

    def _fit_one(self, p: np.ndarray, y: np.ndarray) -> Any:
        if self.method == "isotonic":
            return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)
        return LogisticRegression(C=1e6).fit(_logit(p)[:, None], y.astype(int))

    def _predict(self, fitted: Any, p: np.ndarray) -> np.ndarray:
        if isinstance(fitted, IsotonicRegression):
            return np.asarray(fitted.predict(p), dtype=float)
        return np.asarray(fitted.predict_proba(_logit(p)[:, None])[:, 1], dtype=float)

    def _check(
        self, proba: np.ndarray, onehot: np.ndarray, columns: list[int]
    ) -> CalibrationCheck:
        before = max(expected_calibration_error(onehot[:, j], proba[:, j]) for j in columns)
        # 2-fold cross-fitting: each half calibrated by a map fitted on the other half.
        rng = np.random.default_rng(0)
        half = rng.permutation(len(proba)) % 2 == 0
        after_rows = np.empty_like(proba)
        for part in (half, ~half):
            other = ~part
            if len(np.unique(onehot[other].argmax(axis=1))) < 2 or not part.any():
                after_rows[part] = proba[part]
                continue
            maps = [self._fit_one(proba[other, j], onehot[other, j]) for j in columns]
            after_rows[part] = self._apply(maps, proba[part])
        after = max(expected_calibration_error(onehot[:, j], after_rows[:, j]) for j in columns)
        return CalibrationCheck(before, after, after > self.threshold, self.threshold)


def _as_matrix(proba: np.ndarray, k: int) -> np.ndarray:
    proba = np.asarray(proba, dtype=float)
    if proba.ndim == 1 and k == 2:
        proba = np.column_stack([1.0 - proba, proba])
    if proba.ndim != 2 or proba.shape[1] != k:
        raise InvalidInputError(
            f"Probabilities of shape {proba.shape} for {k} classes. Pass one column per class "
            "(predict_proba's output)."
        )
    if not np.all(np.isfinite(proba)):
        raise InvalidInputError("The probabilities hold NaN or infinite values.")
    return proba


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))
