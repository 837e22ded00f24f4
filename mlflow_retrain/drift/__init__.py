"""Drift detection: reference profiles, per-column tests, and the dataset decision.

Pure numpy/scipy/pandas; the MLflow step that logs a report lives in
:mod:`mlflow_retrain.pipeline`.
"""

from __future__ import annotations

from mlflow_retrain.column_types import infer_kind
from mlflow_retrain.drift.columns import (
    CategoricalTest,
    NumericTest,
    categorical_test,
    missing_rate_test,
    numeric_test,
)
from mlflow_retrain.drift.detect import detect_drift, reference_profile
from mlflow_retrain.drift.profile import (
    CategoricalSummary,
    NumericSummary,
    ReferenceProfile,
    build_profile,
    merge_profiles,
)
from mlflow_retrain.drift.report import DriftReport, FeatureDrift, SkippedColumn

__all__ = [
    "CategoricalSummary",
    "CategoricalTest",
    "DriftReport",
    "FeatureDrift",
    "NumericSummary",
    "NumericTest",
    "ReferenceProfile",
    "SkippedColumn",
    "build_profile",
    "categorical_test",
    "detect_drift",
    "infer_kind",
    "merge_profiles",
    "missing_rate_test",
    "numeric_test",
    "reference_profile",
]
