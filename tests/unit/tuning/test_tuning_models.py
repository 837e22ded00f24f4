"""Pipelines take raw mixed columns, tolerate NaN and unseen levels, and pickle."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from _tuning_frames import CATEGORICAL, NUMERIC, mixed_frame, unseen_batch

from mlflow_retrain.exceptions import InvalidInputError
from mlflow_retrain.tuning import build_pipeline
from mlflow_retrain.tuning.models import categories_as_text, numbers_as_float

ESTIMATORS = ["hist_gradient_boosting", "random_forest", "linear"]
SMALL = {"random_forest": {"n_estimators": 20}, "hist_gradient_boosting": {"max_iter": 20}}


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_pipeline_predicts_unseen_levels_and_missing_values(estimator: str, task: str) -> None:
    data = mixed_frame(task=task)
    model = build_pipeline(
        estimator,
        SMALL.get(estimator, {}),
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        task=task,
        random_state=0,
    )
    model.fit(data, data["y"])
    batch = unseen_batch()
    predictions = model.predict(batch)
    assert len(predictions) == len(batch)
    if task == "classification":
        proba = model.predict_proba(batch)
        assert np.allclose(proba.sum(axis=1), 1.0)
        assert set(predictions) <= {"yes", "no"}
    else:
        assert np.all(np.isfinite(predictions.astype(float)))


def test_hist_gradient_boosting_declares_categoricals_after_the_numeric_columns() -> None:
    data = mixed_frame()
    model = build_pipeline(
        "hist_gradient_boosting",
        {"max_iter": 5},
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        task="classification",
    ).fit(data, data["y"])
    names = list(model.named_steps["preprocess"].get_feature_names_out())
    assert names == NUMERIC + CATEGORICAL
    assert list(model.named_steps["model"].is_categorical_) == [False, False, True, True, True]


@pytest.mark.parametrize(("numeric", "categorical"), [(NUMERIC, []), ([], CATEGORICAL)])
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_pipeline_fits_with_one_kind_of_column(
    estimator: str, numeric: list[str], categorical: list[str]
) -> None:
    data = mixed_frame()
    model = build_pipeline(
        estimator,
        SMALL.get(estimator, {}),
        numeric=numeric,
        categorical=categorical,
        task="classification",
    )
    assert len(model.fit(data, data["y"]).predict(unseen_batch())) == 3


def test_sample_weights_reach_the_model() -> None:
    data = mixed_frame(task="regression")
    model = build_pipeline(
        "linear", {"alpha": 1e-3}, numeric=NUMERIC, categorical=[], task="regression"
    )
    plain = model.fit(data, data["y"]).predict(data)
    ones = model.fit(data, data["y"], model__sample_weight=np.ones(len(data))).predict(data)
    recent = np.where(np.arange(len(data)) < len(data) // 2, 0.0, 1.0)
    weighted = model.fit(data, data["y"], model__sample_weight=recent).predict(data)
    assert np.allclose(ones, plain)
    assert not np.allclose(weighted, plain)


def test_fitted_pipeline_pickles() -> None:
    data = mixed_frame()
    model = build_pipeline(
        "random_forest", {"n_estimators": 10}, numeric=NUMERIC, categorical=CATEGORICAL,
        task="classification",
    ).fit(data, data["y"])  # fmt: skip
    clone = pickle.loads(pickle.dumps(model))
    assert np.array_equal(clone.predict_proba(unseen_batch()), model.predict_proba(unseen_batch()))


def test_build_pipeline_rejects_an_unknown_estimator() -> None:
    with pytest.raises(InvalidInputError, match=r"Unknown estimator 'xgboost'.*random_forest"):
        build_pipeline("xgboost", {}, numeric=NUMERIC, categorical=[], task="classification")


def test_build_pipeline_rejects_an_unknown_parameter() -> None:
    with pytest.raises(InvalidInputError, match=r"does not take parameters \['depth'\]"):
        build_pipeline(
            "random_forest", {"depth": 3}, numeric=NUMERIC, categorical=[], task="regression"
        )


def test_build_pipeline_needs_a_feature_column() -> None:
    with pytest.raises(InvalidInputError, match="no feature column"):
        build_pipeline("linear", {}, numeric=[], categorical=[], task="regression")


def test_categories_as_text_unifies_missing_markers_and_number_forms() -> None:
    frame = pd.DataFrame(
        {
            "n": pd.Series([3.0, np.nan, 2.5, 3.0]),
            "b": pd.Series([True, None, False, pd.NA], dtype=object),
            "s": pd.Series(["a", None, "b", "a"], dtype="str"),
        }
    )
    out = categories_as_text(frame)
    assert list(out[:, 0]) == ["3", out[1, 0], "2.5", "3"]
    assert [pd.isna(v) for v in out[1]] == [True, True, True]
    assert out[0, 1] == "True"
    assert pd.isna(out[3, 1])
    assert list(out[[0, 2], 2]) == ["a", "b"]


def test_numbers_as_float_turns_non_numbers_into_nan() -> None:
    frame = pd.DataFrame({"a": pd.Series([1, None, 3], dtype="Int64"), "b": ["1.5", "n/a", "2"]})
    out = numbers_as_float(frame)
    assert out.dtype == float
    assert np.array_equal(out, [[1.0, 1.5], [np.nan, np.nan], [3.0, 2.0]], equal_nan=True)
