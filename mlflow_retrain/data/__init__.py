"""Data loading (local paths, S3, MLflow artifacts), tables handed between steps, and batch
validation (the circuit breaker).

Names are imported on first use: reading a file does not load the drift statistics that
validation needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlflow_retrain._lazy import lazy_namespace

if TYPE_CHECKING:
    from mlflow_retrain.data.io import describe_uri, load_table, read_bytes
    from mlflow_retrain.data.table import Table, as_table
    from mlflow_retrain.data.validate import (
        ValidationReport,
        validate_batch,
        validate_reference,
    )

_MODULES = {
    "describe_uri": "mlflow_retrain.data.io",
    "load_table": "mlflow_retrain.data.io",
    "read_bytes": "mlflow_retrain.data.io",
    "Table": "mlflow_retrain.data.table",
    "as_table": "mlflow_retrain.data.table",
    "ValidationReport": "mlflow_retrain.data.validate",
    "validate_batch": "mlflow_retrain.data.validate",
    "validate_reference": "mlflow_retrain.data.validate",
}

__all__ = [
    "Table",
    "ValidationReport",
    "as_table",
    "describe_uri",
    "load_table",
    "read_bytes",
    "validate_batch",
    "validate_reference",
]


__getattr__, __dir__ = lazy_namespace(__name__, _MODULES, globals())
