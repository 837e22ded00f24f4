"""The drift package's public names."""

from __future__ import annotations

import mlflow_retrain.drift


def test_drift_package_exports_exactly_its_public_names() -> None:
    assert sorted(mlflow_retrain.drift.__all__) == [
        "CategoricalSummary",
        "CategoricalTest",
        "DriftReport",
        "FeatureDrift",
        "NumericSummary",
        "NumericTest",
        "ReferenceProfile",
        "SkippedColumn",
        "build_profile",
        "categorical_test",
        "detect_drift",
        "infer_kind",
        "merge_profiles",
        "missing_rate_test",
        "numeric_test",
        "reference_profile",
    ]


def test_every_exported_name_resolves() -> None:
    for name in mlflow_retrain.drift.__all__:
        assert getattr(mlflow_retrain.drift, name) is not None
