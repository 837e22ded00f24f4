"""mlflow-retrain (public API being assembled)."""

from __future__ import annotations

from mlflow_retrain._version import __version__
from mlflow_retrain.config import RetrainConfig, load_config
from mlflow_retrain.exceptions import (
    CircuitBreakerOpen,
    InvalidConfigError,
    InvalidInputError,
    MlflowRetrainError,
    PromotionRejected,
)

__all__ = [
    "CircuitBreakerOpen",
    "InvalidConfigError",
    "InvalidInputError",
    "MlflowRetrainError",
    "PromotionRejected",
    "RetrainConfig",
    "__version__",
    "load_config",
]
