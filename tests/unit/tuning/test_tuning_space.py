"""Default search spaces, the conditional sampling, and tuning.space overrides."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from mlflow_retrain.exceptions import InvalidConfigError
from mlflow_retrain.tuning import (
    ESTIMATORS,
    params_from_trial,
    resolve_space,
    space_summary,
    suggest,
    validate_overrides,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _ask(**kwargs: Any) -> tuple[optuna.Trial, str, dict[str, Any]]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    trial = study.ask()
    estimator, params = suggest(trial, **kwargs)
    return trial, estimator, params


def test_space_summary_lists_every_estimator_and_task() -> None:
    summary = space_summary()
    assert list(summary) == list(ESTIMATORS)
    assert summary["linear"]["classification"]["C"] == {"low": 1e-4, "high": 1e3, "log": True}
    assert "alpha" in summary["linear"]["regression"]
    assert summary["linear"]["regression"]["max_iter"] == {"value": 1000}
    hgb = summary["hist_gradient_boosting"]["classification"]
    assert hgb["learning_rate"] == {"low": 0.01, "high": 0.3, "log": True}
    assert set(hgb) == {
        "learning_rate", "max_iter", "max_leaf_nodes", "max_depth", "min_samples_leaf",
        "l2_regularization",
    }  # fmt: skip
    assert summary["random_forest"]["regression"]["max_features"]["choices"][:2] == [
        "sqrt",
        "log2",
    ]


def test_single_estimator_is_not_sampled_and_params_are_prefixed() -> None:
    trial, estimator, params = _ask(estimators=["random_forest"], task="regression")
    assert estimator == "random_forest"
    assert "estimator" not in trial.params
    assert set(trial.params) == {f"random_forest__{name}" for name in params}


def test_several_estimators_sample_only_the_chosen_ones_params() -> None:
    trial, estimator, params = _ask(estimators=list(ESTIMATORS), task="classification")
    assert trial.params["estimator"] == estimator
    others = [k for k in trial.params if k != "estimator" and not k.startswith(estimator)]
    assert others == []
    assert len(params) == len(trial.params) - 1


def test_override_replaces_a_default_range() -> None:
    trial, _, params = _ask(
        estimators=["random_forest"],
        task="classification",
        overrides={"random_forest": {"max_depth": {"low": 3, "high": 5}}},
    )
    assert trial.distributions["random_forest__max_depth"] == IntDistribution(3, 5)
    assert 3 <= params["max_depth"] <= 5


def test_override_with_choices_makes_a_categorical() -> None:
    trial, _, params = _ask(
        estimators=["hist_gradient_boosting"],
        task="regression",
        overrides={"hist_gradient_boosting": {"learning_rate": {"choices": [0.1]}}},
    )
    dist = trial.distributions["hist_gradient_boosting__learning_rate"]
    assert dist == CategoricalDistribution([0.1])
    assert params["learning_rate"] == 0.1


def test_overriding_a_fixed_parameter_samples_it() -> None:
    trial, _, params = _ask(
        estimators=["linear"],
        task="classification",
        overrides={"linear": {"max_iter": {"choices": [1]}}},
    )
    assert params["max_iter"] == 1
    assert "linear__max_iter" in trial.params


def test_float_bounds_on_an_integer_parameter_give_a_float_range() -> None:
    space = resolve_space(
        "random_forest",
        task="classification",
        overrides={"max_features": {"low": 0.2, "high": 0.8}},
    )
    study = optuna.create_study()
    trial = study.ask()
    space["max_features"].suggest(trial, "f")
    assert isinstance(trial.distributions["f"], FloatDistribution)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"linear": {"alpha": {"low": 1, "high": 2}}}, r"Known parameters: C, max_iter"),
        ({"linear": {"C": {"low": 2, "high": 1}}}, r"low 2 above high 1"),
        ({"linear": {"C": {"low": 0, "high": 1, "log": True}}}, r"low must be > 0"),
        ({"linear": {"C": {"low": 1}}}, r"Give both low and high"),
        ({"linear": {"C": {"choices": []}}}, r"non-empty list"),
        ({"linear": {"C": {"choices": [{"a": 1}]}}}, r"choices must be numbers"),
        ({"linear": {"C": 3}}, r"must be \{low, high, log\}"),
        ({"random_forest": {"max_depth": {"low": 3, "high": 5}}}, r"not in tuning.estimators"),
    ],
)
def test_bad_overrides_are_rejected(overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidConfigError, match=match):
        validate_overrides(overrides, estimators=["linear"], task="classification")


def test_unknown_estimator_is_rejected() -> None:
    with pytest.raises(InvalidConfigError, match=r"Unknown estimator 'svm'"):
        validate_overrides({}, estimators=["svm"], task="classification")


@pytest.mark.parametrize("estimators", [["linear"], list(ESTIMATORS)])
def test_params_from_trial_inverts_suggest(estimators: list[str]) -> None:
    trial, estimator, params = _ask(estimators=estimators, task="regression")
    recovered = params_from_trial({**trial.params, "window_fraction": 0.5})
    assert recovered == (estimator, params)


def test_params_from_trial_needs_the_estimator_when_it_cannot_tell() -> None:
    with pytest.raises(InvalidConfigError, match="Cannot tell the estimator"):
        params_from_trial({"window_fraction": 0.5})
    assert params_from_trial({}, estimators=["linear"]) == ("linear", {})
