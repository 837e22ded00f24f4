"""Data loading (local paths, S3, MLflow artifacts) and batch validation (the circuit breaker)."""

from __future__ import annotations

from mlflow_retrain.data.io import describe_uri, load_table, read_bytes
from mlflow_retrain.data.validate import ValidationReport, validate_batch, validate_reference

__all__ = [
    "ValidationReport",
    "describe_uri",
    "load_table",
    "read_bytes",
    "validate_batch",
    "validate_reference",
]
