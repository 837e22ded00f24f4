"""mlflow-retrain: keep production models fresh without letting a bad model through.

The public API: configuration, data loading and validation, drift detection with reference
profiles, and the pipeline steps the ``mlflow-retrain`` CLI and MLproject entry points run.
"""

from __future__ import annotations

from mlflow_retrain._version import __version__
from mlflow_retrain.comparison import Evidence, compare_models
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
from mlflow_retrain.pipeline import (
    CompareResult,
    RetrainResult,
    run_compare,
    run_drift,
    run_profile,
    run_retrain,
)
from mlflow_retrain.policy import PromotionPolicy

__all__ = [
    "CircuitBreakerOpen",
    "CompareResult",
    "DriftReport",
    "Evidence",
    "FeatureDrift",
    "InvalidConfigError",
    "InvalidInputError",
    "MlflowRetrainError",
    "PromotionPolicy",
    "PromotionRejected",
    "ReferenceProfile",
    "RetrainConfig",
    "RetrainResult",
    "ValidationReport",
    "__version__",
    "build_profile",
    "compare_models",
    "detect_drift",
    "load_config",
    "load_table",
    "merge_profiles",
    "run_compare",
    "run_drift",
    "run_profile",
    "run_retrain",
    "validate_batch",
]
