"""Pipeline steps: each loads its inputs, computes, and records one MLflow run.

The CLI and the MLproject entry points call these functions and map their errors to exit codes.
Names are imported on first use, so a command loads only the steps it runs (``promote`` never
imports Optuna).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlflow_retrain._lazy import lazy_namespace

if TYPE_CHECKING:
    from mlflow_retrain.pipeline.compare import CompareResult, run_compare
    from mlflow_retrain.pipeline.drift import (
        ProfileResult,
        load_reference,
        run_drift,
        run_profile,
    )
    from mlflow_retrain.pipeline.retrain import (
        RetrainResult,
        fit_best,
        run_retrain,
        run_tune_worker,
    )
    from mlflow_retrain.pipeline.steps import step_run

_MODULES = {
    "CompareResult": "mlflow_retrain.pipeline.compare",
    "run_compare": "mlflow_retrain.pipeline.compare",
    "ProfileResult": "mlflow_retrain.pipeline.drift",
    "load_reference": "mlflow_retrain.pipeline.drift",
    "run_drift": "mlflow_retrain.pipeline.drift",
    "run_profile": "mlflow_retrain.pipeline.drift",
    "RetrainResult": "mlflow_retrain.pipeline.retrain",
    "fit_best": "mlflow_retrain.pipeline.retrain",
    "run_retrain": "mlflow_retrain.pipeline.retrain",
    "run_tune_worker": "mlflow_retrain.pipeline.retrain",
    "step_run": "mlflow_retrain.pipeline.steps",
}

__all__ = [
    "CompareResult",
    "ProfileResult",
    "RetrainResult",
    "fit_best",
    "load_reference",
    "run_compare",
    "run_drift",
    "run_profile",
    "run_retrain",
    "run_tune_worker",
    "step_run",
]


__getattr__, __dir__ = lazy_namespace(__name__, _MODULES, globals())
