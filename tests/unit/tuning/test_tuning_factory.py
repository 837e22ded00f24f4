"""Your own model in the tuner: a factory (``tuning.model``) and declarative classes.

The factories are reached by import path (``helpers.factories:<name>``), as a team's are; the
declarative entries name LightGBM, a third-party estimator used through its scikit-learn API.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
import pytest
from _tuning_frames import mixed_frame
from helpers import factories
from sklearn.pipeline import Pipeline

from mlflow_retrain.config import RetrainConfig
from mlflow_retrain.exceptions import InvalidConfigError, InvalidInputError
from mlflow_retrain.pipeline.retrain import fit_best
from mlflow_retrain.tuning import make_objective, prepare_data
from mlflow_retrain.tuning.factory import (
    FeatureColumns,
    import_object,
    model_packages,
    pickled_modules,
    weight_params,
)
from mlflow_retrain.tuning.study import TRIAL_ERRORS, make_source, run_trials

optuna.logging.set_verbosity(optuna.logging.WARNING)

LIGHTGBM = {
    "class": "lightgbm.LGBMClassifier",
    "preprocess": "ordinal",
    "params": {"verbose": -1, "n_jobs": 1, "n_estimators": 20},
    "space": {"num_leaves": {"low": 4, "high": 32, "log": True}},
}


def _config(**tuning: Any) -> RetrainConfig:
    settings = {"cv_folds": 2, "pruner": "none", **tuning}
    return RetrainConfig.from_dict({"target": "y", "timestamp": "ts", "tuning": settings})


def _study(config: RetrainConfig, n_trials: int = 3, **window: Any) -> tuple[Any, optuna.Study]:
    if window:
        config = config.with_overrides({f"window.{k}": v for k, v in window.items()})
    prepared = prepare_data(mixed_frame(), target="y", timestamp="ts", config=config)
    objective = make_objective(prepared, target="y", config=config)
    study = optuna.create_study(direction=objective.direction,
                                sampler=optuna.samplers.TPESampler(seed=0))  # fmt: skip
    run_trials(study, objective, n_trials=n_trials, timeout=None, trial_logger=None)
    return prepared, study


@pytest.fixture(autouse=True)
def _fresh_records() -> None:
    factories.RECORDED.clear()
    factories.WEIGHTS.clear()


def test_a_factory_samples_its_own_space_and_the_refit_replays_the_best_trial() -> None:
    config = _config(model="helpers.factories:recording")
    prepared, study = _study(config)

    assert [set(t.params) for t in study.trials] == [{"C"}] * 3
    assert {t.user_attrs["estimator"] for t in study.trials} == {"RecordingLogistic"}
    model = fit_best(prepared, study.best_params, target="y", config=config)
    assert isinstance(model, Pipeline)
    assert study.best_params["C"] == model.steps[-1][1].C
    assert model.predict_proba(prepared.gate[prepared.features]).shape == (len(prepared.gate), 2)


def test_recency_weights_reach_the_final_step_of_a_factorys_pipeline() -> None:
    config = _config(model="helpers.factories:recording")
    _study(config, n_trials=1, kind="half_life", half_life_days=2.0)

    assert factories.WEIGHTS
    assert all(w is not None and w.min() < w.max() <= 1.0 for w in factories.WEIGHTS)


def test_an_estimator_without_sample_weight_is_fitted_unweighted() -> None:
    config = _config(model="helpers.factories:unweighted")
    _, study = _study(config, n_trials=1, kind="half_life", half_life_days=2.0)

    assert study.trials[0].state == optuna.trial.TrialState.COMPLETE
    assert weight_params(factories.unweighted(study.trials[0], task="classification",
                                              columns=FeatureColumns(("num_a",), ())),
                         np.ones(3)) == {}  # fmt: skip


def test_a_declarative_class_is_tuned_in_the_packages_preprocessing() -> None:
    config = _config(estimators=["linear", LIGHTGBM])
    prepared, study = _study(config, n_trials=4)

    names = {t.params.get("estimator") for t in study.trials}
    assert names <= {"linear", "LGBMClassifier"}
    lgbm = [t for t in study.trials if t.params.get("estimator") == "LGBMClassifier"]
    assert lgbm, "TPE's start-up trials sample both"
    assert set(lgbm[0].params) == {"estimator", "LGBMClassifier__num_leaves"}
    model = fit_best(prepared, lgbm[0].params, target="y", config=config)
    assert type(model.steps[-1][1]).__name__ == "LGBMClassifier"
    assert model.steps[-1][1].num_leaves == lgbm[0].params["LGBMClassifier__num_leaves"]
    assert model.steps[-1][1].n_estimators == 20
    assert "lightgbm" in model_packages(model)


def test_tuning_space_extends_a_declarative_entry_by_its_name() -> None:
    entry = {**LIGHTGBM, "name": "lgbm"}
    extra = {"lgbm": {"min_child_samples": {"low": 5, "high": 20}}}
    config = _config(estimators=[entry], space=extra)
    _, study = _study(config, n_trials=1)

    assert set(study.trials[0].params) == {"lgbm__num_leaves", "lgbm__min_child_samples"}
    assert isinstance(study.trials[0].params["lgbm__min_child_samples"], int)


@pytest.mark.parametrize(
    ("tuning", "message"),
    [
        ({"model": "no_such_module:build"},
         r"module 'no_such_module' is not on the Python path or in the project folder"),
        ({"model": "helpers.factories:nothing"},
         r"module 'helpers.factories' has no 'nothing'\. Fix the name after the colon"),
        ({"model": "helpers.factories:RECORDED"}, r"is a list, not a function"),
        ({"estimators": [{"class": "lightgbm.NoSuchModel"}]},
         r"module 'lightgbm' has no 'NoSuchModel'"),
        ({"estimators": [{"class": "sklearn.linear_model.Ridge"}]},
         r"gives a regressor \(Ridge\) but the task is classification"),
        ({"estimators": [{**LIGHTGBM, "space": {"leaves": {"low": 2, "high": 4}}}]},
         r"'tuning.estimators\[0\].space.leaves' is not a parameter of lightgbm.LGBMClassifier"),
        ({"estimators": [{"class": "sklearn.svm.SVC"}]},
         r"has no predict_proba, but the metric scores probabilities"),
    ],
)  # fmt: skip
def test_a_broken_model_source_fails_before_any_trial(tuning: dict, message: str) -> None:
    config = _config(**tuning)
    prepared = prepare_data(mixed_frame(), target="y", timestamp="ts", config=config)

    with pytest.raises(InvalidInputError, match=message) as caught:
        make_source(prepared, config=config)
    assert "\n" not in str(caught.value.message)


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        ("raises", r"The model factory helpers.factories:raises raised KeyError: 'n_leaves' "
                   r"\(trial 0\)\. Fix the factory"),
        ("not_an_estimator", r"returned a dict, which is not an estimator"),
        ("regressor", r"gives a regressor \(LinearRegression\) but the task is classification"),
    ],
)  # fmt: skip
def test_a_factory_that_misbehaves_stops_the_study_at_its_first_trial(
    factory: str, message: str
) -> None:
    config = _config(model=f"helpers.factories:{factory}")

    with pytest.raises(InvalidInputError, match=message) as caught:
        _study(config, n_trials=5)
    assert "\n" not in str(caught.value.message)
    assert not isinstance(caught.value.__cause__, TRIAL_ERRORS)


def test_a_diverging_trial_fails_and_the_study_goes_on() -> None:
    config = _config(model="helpers.factories:diverging")
    _, study = _study(config, n_trials=8)

    states = {t.number: t.state for t in study.trials}
    failed = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert failed, states  # C above 1 scores NaN
    assert all(t.params["C"] > 1.0 for t in failed)
    assert "NaN" in failed[0].user_attrs["fail_reason"]
    assert any(s == optuna.trial.TrialState.COMPLETE for s in states.values())
    assert study.best_params["C"] <= 1.0


def test_the_config_refuses_a_malformed_entry_with_the_key() -> None:
    space = {"linear": {"C": {"low": 1, "high": 2}}}
    with pytest.raises(InvalidConfigError, match=r"'tuning.space' cannot be combined"):
        _config(model="helpers.factories:recording", space=space)
    with pytest.raises(InvalidConfigError, match=r"lists 'LGBMClassifier' twice"):
        _config(estimators=[LIGHTGBM, LIGHTGBM])
    with pytest.raises(InvalidConfigError, match=r"'tuning.estimators\[0\].preprocess'"):
        _config(estimators=[{**LIGHTGBM, "preprocess": "magic"}])


def test_pickled_modules_names_every_class_and_function_the_model_refers_to() -> None:
    config = _config(estimators=[LIGHTGBM])
    prepared, study = _study(config, n_trials=1)
    model = fit_best(prepared, study.best_params, target="y", config=config)

    modules = pickled_modules(model)
    assert "mlflow_retrain_runtime" in modules  # the converters, shipped with every model
    assert any(m.startswith("lightgbm") for m in modules)
    assert any(m.startswith("sklearn") for m in modules)
    assert not any(m.startswith("mlflow_retrain.") for m in modules)
    assert "lightgbm" not in model_packages(model, shipped=["lightgbm"])


def test_import_object_finds_a_module_in_the_working_directory(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "team_models_here.py").write_text("def build(trial, *, task, columns):\n"
                                                  "    return None\n")  # fmt: skip
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", [p for p in __import__("sys").path if p not in ("", ".")])

    assert callable(import_object("team_models_here:build", key="tuning.model"))
