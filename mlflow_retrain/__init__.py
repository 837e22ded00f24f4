"""mlflow-retrain: keep production models fresh without letting a bad model through.

The public API: configuration, data loading and validation, drift detection with reference
profiles, and the pipeline steps the ``mlflow-retrain`` CLI and MLproject entry points run.
"""

from __future__ import annotations

from mlflow_retrain._version import __version__
from mlflow_retrain.config import RetrainConfig, load_config
from mlflow_retrain.data import ValidationReport, load_table, validate_batch
from mlflow_retrain.drift import (
    DriftReport,
    FeatureDrift,
    ReferenceProfile,
    build_profile,
    detect_drift,
    merge_profiles,
)
from mlflow_retrain.exceptions import (
    CircuitBreakerOpen,
    InvalidConfigError,
    InvalidInputError,
    MlflowRetrainError,
    PromotionRejected,
)
from mlflow_retrain.pipeline import RetrainResult, run_drift, run_profile, run_retrain

__all__ = [
    "CircuitBreakerOpen",
    "DriftReport",
    "FeatureDrift",
    "InvalidConfigError",
    "InvalidInputError",
    "MlflowRetrainError",
    "PromotionRejected",
    "ReferenceProfile",
    "RetrainConfig",
    "RetrainResult",
    "ValidationReport",
    "__version__",
    "build_profile",
    "detect_drift",
    "load_config",
    "load_table",
    "merge_profiles",
    "run_drift",
    "run_profile",
    "run_retrain",
    "validate_batch",
]
