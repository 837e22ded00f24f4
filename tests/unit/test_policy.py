"""The promotion policy: parsing, validation, defaults, JSON round trip."""

from __future__ import annotations

import pytest

from mlflow_retrain.exceptions import InvalidConfigError
from mlflow_retrain.policy import (
    GuardrailRule,
    MetricRule,
    PromotionPolicy,
    ShadowRule,
    default_policy,
)


def test_defaults_follow_the_task() -> None:
    assert default_policy("classification").primary == (MetricRule("roc_auc"),)
    assert default_policy("regression").primary == (MetricRule("rmse"),)
    assert default_policy("classification").primary[0].test_name == "delong"
    # The mean-loss metrics default to 'auto': the paired t, or the bootstrap-t under skew.
    assert default_policy("regression").primary[0].test_name == "auto"


def test_a_full_policy_round_trips_through_json() -> None:
    policy = PromotionPolicy.from_dict(
        {
            "task": "classification",
            "primary": [{"metric": "roc_auc", "min_improvement": 0.01}, "accuracy"],
            "guardrails": [{"metric": "log_loss", "margin": 0.02}],
            "alpha": 0.01,
            "floor": {"roc_auc": 0.7},
            "mode": "both",
            "shadow": {"loss": "log_loss", "min_improvement": 0.002, "max_rows": 50000},
        }
    )

    again = PromotionPolicy.from_json(policy.to_json())

    assert again == policy
    assert again.primary[1] == MetricRule("accuracy", "mcnemar")
    assert again.guardrails == (GuardrailRule("log_loss", 0.02, "auto"),)
    assert again.floor == {"roc_auc": 0.7}
    assert again.shadow == ShadowRule(loss="log_loss", min_improvement=0.002, max_rows=50000)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"primary": ["rmse"]}, r"Policy metric 'rmse' does not fit a classification model"),
        ({"primary": ["auc"]}, r"Unknown policy metric 'auc'"),
        ({"primary": [{"metric": "f1", "test": "t"}]}, r"needs a per-row metric"),
        ({"primary": [{"metric": "f1", "test": "bootstrap-t"}]}, r"needs a per-row metric"),
        (
            {"task": "regression", "primary": [{"metric": "mae", "test": "wilcoxon"}]},
            r"'wilcoxon' tests a median shift of the per-row losses, and 'mae' is a mean; use "
            r"test 'auto', 't' or 'bootstrap-t'",
        ),
        ({"guardrails": [{"metric": "log_loss"}]}, r"Guardrail 'log_loss' needs a 'margin'"),
        ({"guardrails": [{"metric": "log_loss", "margin": 0}]}, r"needs a margin > 0"),
        ({"alpha": 0.7}, r"alpha must be in \(0, 0.5\)"),
        ({"mode": "live"}, r"Policy mode must be one of"),
        ({"primary": [{"metric": "roc_auc", "tset": "delong"}]}, r"Unknown key 'tset'"),
        ({"primry": []}, r"Unknown policy key 'primry'"),
        ({"task": "ranking"}, r"task must be classification or regression"),
        ({"n_resamples": 10}, r"n_resamples must be at least 200"),
        ({"floor": {"rmse": 1.0}}, r"Policy floor 'rmse' does not fit"),
        ({"shadow": {"loss": "squared_error"}}, r"shadow loss 'squared_error' does not fit"),
        ({"shadow": {"min_improvment": 0.1}}, r"Unknown key 'min_improvment' in policy shadow"),
        ({"shadow": {"min_improvement": -0.1}}, r"min_improvement must be >= 0"),
        ({"shadow": {"expected_effect": 0}}, r"expected_effect must be > 0"),
        ({"shadow": {"min_rows": 1}}, r"min_rows must be at least 2"),
        ({"shadow": {"max_batches": 0}}, r"max_batches must be at least 1"),
        ({"shadow": {"min_rows": 500, "max_rows": 100}}, r"max_rows must be at least min_rows"),
        ({"shadow": "fast"}, r"Policy 'shadow' must be a mapping"),
        ({"shadow": {"unit": "day"}}, r"shadow unit must be one of batch, row, got 'day'"),
    ],
)
def test_invalid_policies_say_what_to_fix(data: dict, message: str) -> None:
    with pytest.raises(InvalidConfigError, match=message):
        PromotionPolicy.from_dict(data)


def test_the_shadow_unit_defaults_to_the_batch_and_round_trips() -> None:
    assert PromotionPolicy.from_dict({}).shadow.unit == "batch"
    rows = PromotionPolicy.from_dict({"shadow": {"unit": "row"}})
    assert PromotionPolicy.from_json(rows.to_json()).shadow.unit == "row"


def test_stored_policy_that_is_not_json_is_a_clear_error() -> None:
    with pytest.raises(InvalidConfigError, match=r"not valid JSON .*policy set"):
        PromotionPolicy.from_json("{oops")


@pytest.mark.parametrize(
    ("task", "primary", "has_scores", "loss"),
    [
        ("classification", ["roc_auc"], True, "brier"),
        ("classification", ["roc_auc"], False, "zero_one"),
        ("classification", ["log_loss"], True, "log_loss"),
        ("classification", ["log_loss"], False, "zero_one"),
        ("regression", ["rmse"], False, "squared_error"),
        ("regression", ["mae"], False, "absolute_error"),
    ],
)
def test_the_shadow_loss_follows_the_primary_metric(
    task: str, primary: list[str], has_scores: bool, loss: str
) -> None:
    policy = PromotionPolicy.from_dict({"task": task, "primary": primary})

    assert policy.shadow.loss_for(task, policy.primary, has_scores=has_scores) == loss


@pytest.mark.parametrize(
    ("data", "floor"),
    [
        ({}, {"roc_auc": 0.5}),
        ({"task": "regression"}, {"r2": 0.0}),
        ({"floor": {"accuracy": 0.8}}, {"accuracy": 0.8}),
        ({"floor": {}}, {}),
        ({"floor": None}, {}),
    ],
    ids=["classification_default", "regression_default", "own_floor", "empty", "null"],
)
def test_a_policy_without_a_floor_key_gets_the_task_default(
    data: dict, floor: dict[str, float]
) -> None:
    assert dict(PromotionPolicy.from_dict(data).floor) == floor


def test_a_floor_must_be_a_mapping() -> None:
    with pytest.raises(InvalidConfigError, match=r"Policy floor must map metrics to values"):
        PromotionPolicy.from_dict({"floor": 0.5})


def test_a_named_holdout_digest_round_trips_and_is_left_out_when_unset() -> None:
    policy = PromotionPolicy.from_dict({"holdout_digest": "3f2a9c1d"})

    assert PromotionPolicy.from_json(policy.to_json()).holdout_digest == "3f2a9c1d"
    assert "holdout_digest" not in default_policy("classification").to_dict()


def test_a_holdout_digest_must_be_text() -> None:
    with pytest.raises(InvalidConfigError, match="holdout_digest must be a dataset digest"):
        PromotionPolicy.from_dict({"holdout_digest": 12})
