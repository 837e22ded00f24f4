"""mlflow-retrain: keep production models fresh without letting a bad model through.

The public API: configuration, data loading and validation, drift detection with reference
profiles, and the pipeline steps the ``mlflow-retrain`` CLI and MLproject entry points run.

Names are imported on first use (PEP 562): ``mlflow-retrain`` starts without loading
scikit-learn, Optuna or matplotlib until a command needs them, so a CLI call that fails on its
input fails in about the time it takes to import MLflow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlflow_retrain._lazy import lazy_namespace
from mlflow_retrain._version import __version__

if TYPE_CHECKING:
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

#: Where each public name lives.
_MODULES = {
    "Evidence": "mlflow_retrain.comparison",
    "compare_models": "mlflow_retrain.comparison",
    "RetrainConfig": "mlflow_retrain.config",
    "load_config": "mlflow_retrain.config",
    "ValidationReport": "mlflow_retrain.data",
    "load_table": "mlflow_retrain.data",
    "validate_batch": "mlflow_retrain.data",
    "DriftReport": "mlflow_retrain.drift",
    "FeatureDrift": "mlflow_retrain.drift",
    "ReferenceProfile": "mlflow_retrain.drift",
    "build_profile": "mlflow_retrain.drift",
    "detect_drift": "mlflow_retrain.drift",
    "merge_profiles": "mlflow_retrain.drift",
    "CircuitBreakerOpen": "mlflow_retrain.exceptions",
    "InvalidConfigError": "mlflow_retrain.exceptions",
    "InvalidInputError": "mlflow_retrain.exceptions",
    "MlflowRetrainError": "mlflow_retrain.exceptions",
    "PromotionRejected": "mlflow_retrain.exceptions",
    "CompareResult": "mlflow_retrain.pipeline",
    "RetrainResult": "mlflow_retrain.pipeline",
    "run_compare": "mlflow_retrain.pipeline",
    "run_drift": "mlflow_retrain.pipeline",
    "run_profile": "mlflow_retrain.pipeline",
    "run_retrain": "mlflow_retrain.pipeline",
    "PromotionPolicy": "mlflow_retrain.policy",
}

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


__getattr__, __dir__ = lazy_namespace(__name__, _MODULES, globals())
