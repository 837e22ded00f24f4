"""Metrics match scikit-learn; defaults and task inference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from mlflow_retrain.exceptions import InvalidInputError
from mlflow_retrain.tuning import Metric, get_metric, infer_task, make_study_direction, score

RNG = np.random.default_rng(7)
Y_BIN = np.array(["no", "yes"] * 30)
P_BIN = np.column_stack([1 - (p := RNG.uniform(size=60)), p])
Y_MULTI = np.array(["a", "b", "c"] * 20)
P_MULTI = RNG.dirichlet([1.0, 1.0, 1.0], size=60)
Y_REG = RNG.normal(size=50)
P_REG = Y_REG + RNG.normal(scale=0.3, size=50)


@pytest.mark.parametrize(
    ("task", "n_classes", "expected"),
    [
        ("classification", 2, "roc_auc"),
        ("classification", 4, "accuracy"),
        ("regression", 0, "rmse"),
    ],
)
def test_get_metric_picks_the_task_default(task: str, n_classes: int, expected: str) -> None:
    assert get_metric(None, task=task, n_classes=n_classes).name == expected


@pytest.mark.parametrize(
    ("name", "direction", "needs_proba"),
    [("roc_auc", "maximize", True), ("log_loss", "minimize", True), ("f1", "maximize", False)],
)
def test_get_metric_describes_direction_and_inputs(
    name: str, direction: str, needs_proba: bool
) -> None:
    metric = get_metric(name.upper(), task="classification", n_classes=2)
    assert (metric.direction, metric.needs_proba) == (direction, needs_proba)
    assert make_study_direction(metric) == direction
    assert metric.to_dict()["name"] == name


def test_get_metric_rejects_an_unknown_name_listing_the_options() -> None:
    with pytest.raises(InvalidInputError, match=r"Unknown metric 'auc'.*roc_auc, accuracy"):
        get_metric("auc", task="classification", n_classes=2)


def test_get_metric_rejects_a_metric_of_the_other_task() -> None:
    with pytest.raises(InvalidInputError, match=r"'rmse' is a regression metric.*roc_auc"):
        get_metric("rmse", task="classification", n_classes=2)


def _metric(name: str, task: str = "classification") -> Metric:
    return get_metric(name, task=task, n_classes=2)


@pytest.mark.parametrize(
    ("name", "y", "pred", "expected"),
    [
        ("roc_auc", Y_BIN, P_BIN, skm.roc_auc_score(Y_BIN == "yes", P_BIN[:, 1])),
        (
            "roc_auc",
            Y_MULTI,
            P_MULTI,
            skm.roc_auc_score(Y_MULTI, P_MULTI, multi_class="ovr", average="macro"),
        ),
        ("log_loss", Y_MULTI, P_MULTI, skm.log_loss(Y_MULTI, P_MULTI)),
        (
            "f1",
            Y_BIN,
            np.where(P_BIN[:, 1] > 0.5, "yes", "no"),
            skm.f1_score(Y_BIN, np.where(P_BIN[:, 1] > 0.5, "yes", "no"), pos_label="yes"),
        ),
        (
            "f1",
            Y_MULTI,
            np.roll(Y_MULTI, 1),
            skm.f1_score(Y_MULTI, np.roll(Y_MULTI, 1), average="macro"),
        ),
        ("accuracy", Y_MULTI, np.roll(Y_MULTI, 3), 1.0),
    ],
)
def test_classification_scores_match_sklearn(
    name: str, y: np.ndarray, pred: np.ndarray, expected: float
) -> None:
    labels = np.unique(y)
    assert score(_metric(name), y, pred, labels=labels) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("rmse", skm.root_mean_squared_error(Y_REG, P_REG)),
        ("mae", skm.mean_absolute_error(Y_REG, P_REG)),
        ("r2", skm.r2_score(Y_REG, P_REG)),
    ],
)
def test_regression_scores_match_sklearn(name: str, expected: float) -> None:
    assert _metric(name, "regression").score(Y_REG, P_REG) == pytest.approx(expected)


def test_log_loss_scores_a_fold_missing_a_class_with_the_models_labels() -> None:
    y = np.array(["a", "b", "a", "b"])
    proba = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1]])
    expected = skm.log_loss(y, proba, labels=["a", "b", "c"])
    assert score(_metric("log_loss"), y, proba, labels=["a", "b", "c"]) == pytest.approx(expected)


def test_probability_metric_rejects_a_shape_that_does_not_match_the_classes() -> None:
    with pytest.raises(InvalidInputError, match=r"one probability column per class \(3\)"):
        score(_metric("roc_auc"), Y_BIN, P_BIN, labels=["a", "b", "c"])


@pytest.mark.parametrize(
    ("values", "dtype", "expected"),
    [
        (["a", "b", None], "str", "classification"),
        ([True, False, True], "bool", "classification"),
        (["x", "y", "x"], "category", "classification"),
        ([0, 1, 2, 1], "int64", "classification"),
        ([0, 1, None, 1], "Int64", "classification"),
        ([0.0, 1.0, np.nan, 1.0], "float64", "classification"),
        (list(range(21)), "int64", "regression"),
        ([0.5, 1.25, 2.0], "float64", "regression"),
    ],
)
def test_infer_task(values: list[object], dtype: str, expected: str) -> None:
    assert infer_task(pd.Series(values, dtype=dtype)) == expected
