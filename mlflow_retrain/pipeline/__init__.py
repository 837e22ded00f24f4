"""Pipeline steps: each loads its inputs, computes, and records one MLflow run.

The CLI and the MLproject entry points call these functions and map their errors to exit codes.
"""

from __future__ import annotations

from mlflow_retrain.pipeline.compare import CompareResult, run_compare
from mlflow_retrain.pipeline.drift import ProfileResult, load_reference, run_drift, run_profile
from mlflow_retrain.pipeline.retrain import RetrainResult, fit_best, run_retrain, run_tune_worker
from mlflow_retrain.pipeline.steps import step_run

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
