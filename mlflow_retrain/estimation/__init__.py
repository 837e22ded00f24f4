"""Estimated performance while labels are missing: confidence-based performance estimation.

A classifier's calibrated probabilities say how often it is right: where the model says 0.8,
it is right four times in five. CBPE (NannyML's confidence-based performance estimation)
turns a batch's calibrated probabilities into the *expected* confusion matrix, and from it
the expected metrics, before a single label arrives. It holds under covariate shift (the
inputs change, P(y | x) does not) and breaks under concept shift, where only labels tell.

Pure numpy, scipy and scikit-learn: no MLflow.

* :class:`~mlflow_retrain.estimation.calibration.Calibrator`: isotonic (default) or sigmoid
  calibration fitted on labelled reference rows, one-vs-rest for several classes, with the
  reference's expected calibration error as the check.
* :class:`~mlflow_retrain.estimation.cbpe.CBPE`: ROC AUC, accuracy, F1, precision and recall
  for binary classifiers; accuracy, macro F1 and one-vs-rest ROC AUC for multiclass ones.
  Each estimate has an interval for a batch of its size: the spread of the metric a batch of
  those rows would realise if the calibrated probabilities are right (labels drawn from them,
  through bootstrap resamples of the calibration).
"""

from __future__ import annotations

from mlflow_retrain.estimation.calibration import (
    ECE_THRESHOLD,
    CalibrationCheck,
    Calibrator,
    expected_calibration_error,
)
from mlflow_retrain.estimation.cbpe import (
    BINARY_METRICS,
    CBPE,
    MULTICLASS_METRICS,
    Estimate,
)

__all__ = [
    "BINARY_METRICS",
    "CBPE",
    "ECE_THRESHOLD",
    "MULTICLASS_METRICS",
    "CalibrationCheck",
    "Calibrator",
    "Estimate",
    "expected_calibration_error",
]
