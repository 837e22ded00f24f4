"""Optuna-tuned scikit-learn pipelines: the pure core of the ``retrain`` step.

Metrics and task inference, search spaces, pipelines (preprocessing included, so a logged model
takes the raw columns), the gate split, training windows, validation folds, the Optuna
objective and the native thread limits of its trials are pure (no MLflow import); ``study``
and ``tracking`` run the study and log its trials to MLflow. The step itself lives in
:mod:`mlflow_retrain.pipeline.retrain`.
"""

from __future__ import annotations

from mlflow_retrain.tuning.metrics import (
    Metric,
    get_metric,
    infer_task,
    predict_scores,
    score,
)
from mlflow_retrain.tuning.models import build_pipeline
from mlflow_retrain.tuning.objective import (
    Objective,
    TrialFailedError,
    make_study_direction,
)
from mlflow_retrain.tuning.space import (
    ESTIMATORS,
    ParamRange,
    default_space,
    params_from_trial,
    resolve_space,
    space_summary,
    suggest,
    validate_overrides,
)
from mlflow_retrain.tuning.splits import (
    apply_window,
    cv_splits,
    parse_times,
    split_columns,
    split_gate,
)
from mlflow_retrain.tuning.study import (
    PreparedData,
    TuningResult,
    TuningSpec,
    load_spec,
    make_objective,
    open_study,
    prepare_data,
    run_trials,
    spawn_workers,
    summarize,
)
from mlflow_retrain.tuning.threads import (
    available_cores,
    limit_threads,
    native_threads,
    resolve_threads,
)
from mlflow_retrain.tuning.tracking import MlflowTrialLogger, trial_status

__all__ = [
    "ESTIMATORS",
    "Metric",
    "MlflowTrialLogger",
    "Objective",
    "ParamRange",
    "PreparedData",
    "TrialFailedError",
    "TuningResult",
    "TuningSpec",
    "apply_window",
    "available_cores",
    "build_pipeline",
    "cv_splits",
    "default_space",
    "get_metric",
    "infer_task",
    "limit_threads",
    "load_spec",
    "make_objective",
    "make_study_direction",
    "native_threads",
    "open_study",
    "params_from_trial",
    "parse_times",
    "predict_scores",
    "prepare_data",
    "resolve_space",
    "resolve_threads",
    "run_trials",
    "score",
    "space_summary",
    "spawn_workers",
    "split_columns",
    "split_gate",
    "suggest",
    "summarize",
    "trial_status",
    "validate_overrides",
]
