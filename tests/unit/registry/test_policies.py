"""The model's promotion policy: stored on the model, else retrain.yaml's, else the default."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage
from mlflow_retrain.exceptions import InvalidConfigError
from mlflow_retrain.policy import PromotionPolicy, default_policy
from mlflow_retrain.registry.policies import (
    ModelPolicy,
    load_policy,
    policy_from_config,
    policy_from_file,
    read_policy,
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
    with pytest.raises(
        InvalidConfigError,
        match=r"^Policy alpha must be in \(0, 0\.5\), got 3\.0\. Set a significance level such "
        r"as alpha: 0\.05\.$",
    ):
        policy_from_config("classification", {"alpha": 3})


def test_a_blank_policy_tag_is_no_policy() -> None:
    assert stored_policy({lineage.TAG_POLICY: ""}) is None
    assert stored_policy({}) is None


def test_one_read_of_the_policy_serves_every_task(client: MlflowClient, model: str) -> None:
    read = read_policy(client, model, config_policy=CONFIG)

    for task in ("classification", "regression"):
        assert read.for_task(task) == load_policy(client, model, task=task, config_policy=CONFIG)
    stored = PromotionPolicy.from_dict({"task": "classification", "alpha": 0.2})
    store_policy(client, model, stored)
    # A stored policy is what the registry holds, whatever the task asked for.
    assert read_policy(client, model).for_task("regression") == PromotionPolicy.from_json(
        stored.to_json()
    )


def test_a_policy_just_stored_is_known_without_a_read() -> None:
    stored = PromotionPolicy.from_dict({"task": "classification", "alpha": 0.2})

    known = ModelPolicy(config_policy=CONFIG).with_stored(stored)

    # As a read of the model would give it: the stored JSON, not the configuration.
    assert known.stored == stored.to_json()
    assert known.for_task("regression") == PromotionPolicy.from_json(stored.to_json())


def test_a_policy_file_is_read_and_validated(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("task: regression\nalpha: 0.01\n")

    policy = policy_from_file(str(path))

    assert (policy.task, policy.alpha) == ("regression", 0.01)


def test_an_empty_policy_file_is_the_default_policy(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("")

    assert policy_from_file(str(path)) == PromotionPolicy.from_dict({})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("primary: [", r"^Policy file '.*' is not valid YAML or JSON at line 1\. Fix the syntax"),
        (b"alpha: \xff\n", r"is not valid YAML or JSON\. Fix the syntax"),
        ("alpha: 7\n", r"^Policy file '.*': Policy alpha must be in .* lists every key\)"),
    ],
)
def test_a_bad_policy_file_names_the_problem_and_the_fix(
    tmp_path: Path, content: str | bytes, message: str
) -> None:
    path = tmp_path / "policy.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)

    with pytest.raises(InvalidConfigError, match=message):
        policy_from_file(str(path))
