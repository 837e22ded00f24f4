"""The top-level public surface is pinned: changing it is a deliberate, visible act."""

from __future__ import annotations

import mlflow_retrain


def test_top_level_all_is_pinned() -> None:
    assert sorted(mlflow_retrain.__all__) == sorted(
        [
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
    )


def test_every_public_name_resolves() -> None:
    for name in mlflow_retrain.__all__:
        assert getattr(mlflow_retrain, name) is not None


def test_errors_subclass_mlflow_exception_so_the_server_maps_them() -> None:
    from mlflow.exceptions import MlflowException

    assert issubclass(mlflow_retrain.MlflowRetrainError, MlflowException)
    assert issubclass(mlflow_retrain.InvalidInputError, ValueError)
    err = mlflow_retrain.PromotionRejected("no evidence")
    assert err.get_http_status_code() == 400
