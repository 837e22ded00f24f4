"""The Optuna objective: runs, fails non-converging fits, prunes, and tunes the window."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from _tuning_frames import CATEGORICAL, NUMERIC, mixed_frame
from optuna.trial import TrialState

from mlflow_retrain.exceptions import InvalidInputError
from mlflow_retrain.tuning import (
    Objective,
    TrialFailedError,
    build_pipeline,
    cv_splits,
    get_metric,
    score,
)
from mlflow_retrain.tuning import objective as objective_module

optuna.logging.set_verbosity(optuna.logging.WARNING)

FAST = {
    "random_forest": {"n_estimators": {"low": 10, "high": 30}},
    "hist_gradient_boosting": {"max_iter": {"low": 10, "high": 40}},
}


def _objective(task: str = "classification", **kwargs: Any) -> Objective:
    data = mixed_frame(task=task)
    splits = cv_splits(data, y=data["y"], timestamp="ts", task=task, n_splits=3)
    defaults: dict[str, Any] = {
        "numeric": NUMERIC,
        "categorical": CATEGORICAL,
        "task": task,
        "metric": get_metric(None, task=task, n_classes=2),
        "splits": splits,
        "estimators": ("hist_gradient_boosting", "random_forest", "linear"),
        "random_state": 0,
    }
    merged = {**defaults, **kwargs}
    merged.setdefault("overrides", {k: v for k, v in FAST.items() if k in merged["estimators"]})
    return Objective(data[NUMERIC + CATEGORICAL], data["y"], **merged)


def _study(objective: Objective, **kwargs: Any) -> optuna.Study:
    kwargs.setdefault("sampler", optuna.samplers.TPESampler(seed=0))
    return optuna.create_study(direction=objective.direction, **kwargs)


def test_study_finds_a_finite_best_value() -> None:
    objective = _objective()
    study = _study(objective)
    study.optimize(objective, n_trials=5)
    assert math.isfinite(study.best_value)
    assert 0.5 < study.best_value <= 1.0
    best = study.best_trial
    assert best.user_attrs["estimator"] in ("hist_gradient_boosting", "random_forest", "linear")
    assert len(best.user_attrs["fold_scores"]) == 3
    assert len(best.user_attrs["fit_seconds"]) == 3
    assert best.value == pytest.approx(np.mean(best.user_attrs["fold_scores"]))


def test_every_fold_score_is_reported() -> None:
    objective = _objective("regression", estimators=("linear",))
    study = _study(objective, pruner=optuna.pruners.NopPruner())
    study.optimize(objective, n_trials=2)
    for trial in study.trials:
        assert sorted(trial.intermediate_values) == [0, 1, 2]
        assert list(trial.intermediate_values.values()) == trial.user_attrs["fold_scores"]


def test_non_converging_fit_fails_the_trial_with_the_reason() -> None:
    objective = _objective(
        estimators=("linear",),
        overrides={"linear": {"C": {"low": 1e3, "high": 1e3}, "max_iter": {"choices": [1]}}},
    )
    study = _study(objective)
    study.optimize(objective, n_trials=1, catch=(TrialFailedError,))
    trial = study.trials[0]
    assert trial.state == TrialState.FAIL
    reason = trial.user_attrs["fail_reason"]
    assert "did not converge" in reason
    assert "ConvergenceWarning" in reason


def test_non_finite_score_fails_the_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(objective_module, "score", lambda *args, **kwargs: float("nan"))
    objective = _objective(estimators=("linear",))
    study = _study(objective)
    study.optimize(objective, n_trials=1, catch=(TrialFailedError,))
    assert study.trials[0].state == TrialState.FAIL
    assert "not finite" in study.trials[0].user_attrs["fail_reason"]


def test_median_pruner_stops_a_clearly_worse_trial_after_the_first_fold() -> None:
    objective = _objective("regression", estimators=("linear",))
    study = _study(
        objective, pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    )
    for alpha in (1e-3, 1e-2, 1e3):
        study.enqueue_trial({"linear__alpha": alpha})
    study.optimize(objective, n_trials=3)
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED]
    assert list(study.trials[2].intermediate_values) == [0]
    assert len(study.trials[2].user_attrs["fold_scores"]) == 1


def test_window_tuning_trains_on_recent_rows_and_validates_on_the_last_fold() -> None:
    objective = _objective(estimators=("linear",), window_fractions=(0.5,))
    study = _study(objective)
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.params["window_fraction"] == 0.5
    assert trial.user_attrs["validated_folds"] == [2]
    assert list(trial.intermediate_values) == [0]
    train_idx, valid_idx = objective.splits[-1]
    recent = train_idx[len(train_idx) // 2 :]
    model = build_pipeline(
        "linear",
        {"C": trial.params["linear__C"]},
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        task="classification",
    ).fit(objective.X.iloc[recent], objective.y.iloc[recent])
    expected = score(
        objective.metric,
        objective.y.iloc[valid_idx],
        model.predict_proba(objective.X.iloc[valid_idx]),
        labels=model.classes_,
    )
    assert trial.value == pytest.approx(expected)


def test_sample_weights_are_used_in_the_fits() -> None:
    data = mixed_frame(task="regression")
    weights = np.linspace(0.01, 1.0, len(data))
    values = []
    for sample_weight in (None, weights):
        objective = _objective("regression", estimators=("linear",), sample_weight=sample_weight)
        study = _study(objective)
        study.enqueue_trial({"linear__alpha": 1.0})
        study.optimize(objective, n_trials=1)
        values.append(study.best_value)
    assert values[0] != pytest.approx(values[1])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"overrides": {"linear": {"gamma": {"low": 1, "high": 2}}}}, r"Known parameters: C"),
        ({"window_fractions": (0.0, 1.0)}, r"Window shares must be in \(0, 1\]"),
        ({"splits": []}, r"at least one validation fold"),
        ({"sample_weight": np.ones(3)}, r"sample_weight has 3 values"),
        (
            {"metric": get_metric("rmse", task="regression")},
            r"Metric 'rmse' is for regression but the task is classification",
        ),
    ],
)
def test_objective_rejects_bad_arguments_before_any_trial(
    kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidInputError, match=match):
        _objective(estimators=("linear",), **kwargs)


def test_single_class_training_share_fails_the_trial() -> None:
    data = pd.DataFrame(
        {"x": np.arange(40.0), "y": ["no"] * 10 + ["yes", "no"] * 5 + ["yes"] * 20}
    )
    splits = [(np.arange(30), np.arange(30, 40))]
    objective = Objective(
        data[["x"]],
        data["y"],
        numeric=["x"],
        categorical=[],
        task="classification",
        metric=get_metric("accuracy", task="classification"),
        splits=splits,
        estimators=("linear",),
        window_fractions=(0.25,),
    )
    study = _study(objective)
    study.optimize(objective, n_trials=1, catch=(TrialFailedError,))
    assert "single class" in study.trials[0].user_attrs["fail_reason"]


def test_single_class_validation_fold_fails_an_auc_trial_with_the_reason() -> None:
    data = pd.DataFrame({"x": np.arange(40.0), "y": ["no", "yes"] * 15 + ["yes"] * 10})
    objective = Objective(
        data[["x"]],
        data["y"],
        numeric=["x"],
        categorical=[],
        task="classification",
        metric=get_metric("roc_auc", task="classification"),
        splits=[(np.arange(30), np.arange(30, 40))],
        estimators=("linear",),
    )
    study = _study(objective)
    study.optimize(objective, n_trials=1, catch=(TrialFailedError,))
    assert "ROC AUC is undefined" in study.trials[0].user_attrs["fail_reason"]
