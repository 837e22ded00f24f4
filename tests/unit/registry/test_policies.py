"""The model's promotion policy: stored on the model, else retrain.yaml's, else the default."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage
from mlflow_retrain.exceptions import InvalidConfigError
from mlflow_retrain.policy import PromotionPolicy, default_policy
from mlflow_retrain.registry.policies import (
    load_policy,
    policy_from_config,
    store_policy,
    stored_policy,
    unstored_policy,
)

CONFIG = {"alpha": 0.01}


def test_a_model_without_a_policy_gets_the_task_default(client: MlflowClient, model: str) -> None:
    assert load_policy(client, model, task="regression") == default_policy("regression")


def test_a_model_without_a_policy_gets_the_configured_one(
    client: MlflowClient, model: str
) -> None:
    policy = load_policy(client, model, task="classification", config_policy=CONFIG)

    assert policy.alpha == 0.01
    assert policy == policy_from_config("classification", CONFIG)


def test_the_stored_policy_wins_over_the_configured_one(client: MlflowClient, model: str) -> None:
    stored = PromotionPolicy.from_dict({"task": "classification", "alpha": 0.2})

    store_policy(client, model, stored)

    tags = client.get_registered_model(model).tags
    assert stored_policy(tags) == tags[lineage.TAG_POLICY] == stored.to_json()
    loaded = load_policy(client, model, task="classification", config_policy=CONFIG)
    assert loaded == PromotionPolicy.from_json(stored.to_json())
    assert loaded.alpha == 0.2


@pytest.mark.parametrize("config", [None, {}])
def test_an_empty_policy_section_is_no_policy(config: dict | None) -> None:
    assert policy_from_config("classification", config) is None
    assert unstored_policy("classification", config) == default_policy("classification")


def test_a_bad_configured_policy_fails() -> None:
    with pytest.raises(InvalidConfigError, match=r"alpha"):
        policy_from_config("classification", {"alpha": 3})


def test_a_blank_policy_tag_is_no_policy() -> None:
    assert stored_policy({lineage.TAG_POLICY: ""}) is None
    assert stored_policy({}) is None
