"""Looking versions up: by number or alias, by tag; a missing model, version or alias."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from mlflow_retrain.exceptions import InvalidInputError
from mlflow_retrain.registry.versions import (
    alias_version,
    find_version,
    model_exists,
    require_model_exists,
    resolve_version,
)


def test_a_version_is_found_by_number_or_alias(client: MlflowClient, model: str) -> None:
    client.set_registered_model_alias(model, "challenger", "2")

    assert str(resolve_version(client, model, "3").version) == "3"
    assert str(resolve_version(client, model, "challenger").version) == "2"
    assert alias_version(client, model, "champion") is None


@pytest.mark.parametrize(
    ("ref", "message"),
    [("9", r"has no version 9\."), ("champion", r"has no version with the alias 'champion'")],
)
def test_a_missing_version_or_alias_is_named(
    client: MlflowClient, model: str, ref: str, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        resolve_version(client, model, ref)


@pytest.mark.parametrize("ref", ["1", "challenger"])
def test_a_missing_model_is_named_as_such(client: MlflowClient, ref: str) -> None:
    with pytest.raises(InvalidInputError, match=r"Registered model 'nope' does not exist"):
        resolve_version(client, "nope", ref)


def test_whether_a_model_exists(client: MlflowClient, model: str) -> None:
    assert model_exists(client, model)
    assert not model_exists(client, "nope")
    require_model_exists(client, model)
    with pytest.raises(InvalidInputError, match=r"does not exist"):
        require_model_exists(client, "nope")


def test_the_newest_version_with_a_tag_is_found(client: MlflowClient, model: str) -> None:
    for version in ("1", "2"):
        client.set_model_version_tag(model, version, "run", "r1")

    found = find_version(client, model, tag="run", value="r1")

    assert found is not None
    assert str(found.version) == "2"
    assert find_version(client, model, tag="run", value="r2") is None
