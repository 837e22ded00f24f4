"""The tuning package's public names, and its independence from MLflow."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mlflow_retrain.tuning as tuning

PURE_MODULES = ["metrics", "models", "objective", "space", "splits", "threads"]


def test_public_names_are_exported() -> None:
    expected = {
        "ESTIMATORS", "Metric", "Objective", "ParamRange", "TrialFailedError", "apply_window",
        "build_pipeline", "cv_splits", "default_space", "get_metric", "infer_task",
        "make_study_direction", "params_from_trial", "parse_times", "predict_scores",
        "resolve_space", "score", "space_summary", "split_columns", "split_gate", "suggest",
        "validate_overrides", "available_cores", "limit_threads", "native_threads",
        "resolve_threads",
    }  # fmt: skip
    assert expected <= set(tuning.__all__)
    for name in tuning.__all__:
        assert hasattr(tuning, name), name


@pytest.mark.parametrize("module", PURE_MODULES)
def test_core_modules_do_not_import_mlflow(module: str) -> None:
    path = Path(tuning.__file__).with_name(f"{module}.py")
    imported: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.append(node.module)
    assert not [m for m in imported if m == "mlflow" or m.startswith("mlflow.")]


def test_trial_failed_error_is_a_retrain_error() -> None:
    from mlflow_retrain.exceptions import MlflowRetrainError

    err = tuning.TrialFailedError("linear did not converge on fold 0")
    assert isinstance(err, MlflowRetrainError)
    assert err.reason == "linear did not converge on fold 0"
