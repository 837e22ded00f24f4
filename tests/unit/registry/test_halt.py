"""The loop's safety state the registry keeps: consecutive rejections, the halt, resume."""

from __future__ import annotations

import pytest
from helpers.registry import model_tags
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage
from mlflow_retrain.exceptions import CircuitBreakerOpen, InvalidInputError
from mlflow_retrain.registry.halt import (
    check_not_halted,
    count_rejection,
    reset_rejections,
    resume,
)


def test_the_limit_of_rejections_in_a_row_halts_the_model(
    client: MlflowClient, model: str
) -> None:
    halted = [count_rejection(client, model, limit=3) for _ in range(3)]

    assert halted == [False, False, True]
    tags = model_tags(client, model)
    assert tags[lineage.TAG_REJECTIONS] == "3"
    assert tags[lineage.TAG_HALTED] == "3 challengers in a row were not better than the champion."
    with pytest.raises(CircuitBreakerOpen, match=rf"mlflow-retrain resume --model {model}"):
        check_not_halted(client, model)


def test_a_successful_challenger_starts_the_count_again(client: MlflowClient, model: str) -> None:
    count_rejection(client, model, limit=3)
    count_rejection(client, model, limit=3)

    reset_rejections(client, model)

    assert count_rejection(client, model, limit=3) is False
    assert model_tags(client, model)[lineage.TAG_REJECTIONS] == "1"


def test_a_model_not_registered_yet_is_not_halted(client: MlflowClient) -> None:
    check_not_halted(client, "not-registered-yet")


def test_resume_clears_the_halt_and_keeps_a_record(
    client: MlflowClient, model: str, registry_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry_uri)
    for _ in range(2):
        count_rejection(client, model, limit=2)

    result = resume(model)

    tags = model_tags(client, model)
    assert lineage.TAG_HALTED not in tags
    assert tags[lineage.TAG_REJECTIONS] == "0"
    assert tags[f"{lineage.TAG_RESUMED_PREFIX}{result.resumed_at_ms}"] == result.was_halted_because
    assert result.to_dict()["model_name"] == model
    check_not_halted(client, model)


def test_resuming_a_model_that_is_not_halted_is_an_error(
    model: str, registry_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry_uri)

    with pytest.raises(InvalidInputError, match=r"is not halted"):
        resume(model)


@pytest.mark.parametrize("planted", ["-1000", "abc", "1.5", "\u0663"])
def test_a_rejection_counter_that_is_not_a_count_halts_the_model(
    client: MlflowClient, model: str, planted: str
) -> None:
    client.set_registered_model_tag(model, lineage.TAG_REJECTIONS, planted)

    assert count_rejection(client, model, limit=3) is True

    assert "not a count" in model_tags(client, model)[lineage.TAG_HALTED]
    with pytest.raises(CircuitBreakerOpen, match="halted"):
        check_not_halted(client, model)
