"""Descriptions a reviewer reads after promotions, rollbacks and overrides (local SQLite store).

``promote``, ``rollback`` and ``override`` move ``champion`` through the gate, then refresh the
registered model's description (policy and alias history) and the status line of every
version whose aliases changed. Writing a description can fail; the move must stand anyway.
"""

from __future__ import annotations

import logging

import pytest
from helpers.registry import register_versions, write_evidence
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage
from mlflow_retrain.registry import lifecycle
from mlflow_retrain.report.markdown import CELL_GAP, section_text

MODEL = "fraud"
#: The evidence of ``compare`` on a classifier.
EVIDENCE_TAGS = {lineage.TAG_EVIDENCE_SOURCE: "compare", lineage.TAG_TASK: "classification"}


def _history_rows(history: str) -> list[list[str]]:
    """The alias-history table's rows (time first), each cell as the UI shows it."""
    return [
        [cell.strip().removesuffix(CELL_GAP).strip() for cell in line.strip("| ").split(" | ")]
        for line in history.splitlines()
        if " UTC" in line and line.startswith("| ")
    ]


def _judge(client: MlflowClient, version: str, *, baseline: str) -> None:
    """Write ``compare``'s passing evidence for ``version`` against ``baseline``."""
    write_evidence(
        client, MODEL, version, baseline=baseline, run_id=f"run-{version}", tags=EVIDENCE_TAGS
    )


def _owned_model(tracking_uri: str, n: int) -> tuple[MlflowClient, list[str]]:
    """Create ``MODEL`` with a person's description and ``n`` versions; judge the first as a
    first deployment. Returns the client and the versions' numbers."""
    client = MlflowClient(tracking_uri)
    versions = register_versions(
        client,
        MODEL,
        n,
        create=True,
        description="Owned by the risk team.",
        experiment_id=client.get_experiment_by_name("test").experiment_id,
    )
    _judge(client, versions[0], baseline="none")
    return client, versions


@pytest.fixture
def promoted(tracking_uri: str) -> MlflowClient:
    """Version 1 deployed first, then version 2 promoted over it."""
    client, (v1, v2, _) = _owned_model(tracking_uri, 3)
    lifecycle.promote(MODEL, version=v1)
    _judge(client, v2, baseline=v1)
    lifecycle.promote(MODEL, version=v2)
    return client


def test_a_promotion_writes_the_alias_history_and_keeps_a_persons_text(
    promoted: MlflowClient,
) -> None:
    description = promoted.get_registered_model(MODEL).description

    history = section_text(description, "aliases")
    assert history is not None
    assert "Now: `champion` → version 2, `previous-champion` → version 1." in history
    rows = _history_rows(history)
    assert [r[1:3] for r in rows] == [["promotion", "1 → 2"], ["first_deployment", "— → 1"]]
    policy = section_text(description, "policy")
    assert policy is not None
    assert "roc_auc" in policy
    assert description.rstrip().endswith("Owned by the risk team.")


def test_a_promotion_rewrites_the_status_of_both_versions(promoted: MlflowClient) -> None:
    new = section_text(promoted.get_model_version(MODEL, "2").description, "status")
    old = section_text(promoted.get_model_version(MODEL, "1").description, "status")

    assert new is not None
    assert old is not None
    assert new.startswith("**Status: promoted** · aliases: `champion`")
    assert "replaced version 1" in new
    assert old.startswith("**Status: retired** · aliases: `previous-champion`")
    assert "Replaced as champion by version 2" in old


def test_a_rollback_and_an_override_enter_the_history_with_their_reasons(
    promoted: MlflowClient,
) -> None:
    lifecycle.rollback(MODEL, reason="latency doubled")
    lifecycle.override(MODEL, version="3", reason="hotfix approved by Ana")

    history = section_text(promoted.get_registered_model(MODEL).description, "aliases")

    assert history is not None
    rows = _history_rows(history)
    assert rows[0][1:3] == ["override", "1 → 3"]
    assert rows[1][1:3] == ["rollback", "2 → 1"]
    assert "latency doubled" in rows[1][3]
    status = section_text(promoted.get_model_version(MODEL, "2").description, "status")
    assert status is not None
    assert status.startswith("**Status: rolled back** · no alias ·")


def test_a_description_that_cannot_be_written_never_blocks_a_promotion(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    client, (v1,) = _owned_model(tracking_uri, 1)

    def refuse(*args: object, **kwargs: object) -> None:
        raise MlflowException("the registry is read-only for descriptions")

    monkeypatch.setattr(MlflowClient, "update_registered_model", refuse)
    monkeypatch.setattr(MlflowClient, "update_model_version", refuse)
    with caplog.at_level(logging.WARNING, logger="mlflow_retrain.registry.describe"):
        move = lifecycle.promote(MODEL, version=v1)

    assert (move.champion, move.kind) == (v1, "first_deployment")
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == v1
    assert client.get_registered_model(MODEL).description == "Owned by the risk team."
    assert "Could not update the description of registered model 'fraud'" in caplog.text


def _challenger(client: MlflowClient, *, status: str = lineage.STATUS_CANDIDATE) -> str:
    """Register a version the way ``retrain`` does (status, challenger alias)."""
    run = client.create_run(client.get_experiment_by_name("test").experiment_id)
    version = lifecycle.register_challenger(
        client,
        MODEL,
        model_uri=f"runs:/{run.info.run_id}/model",
        run_id=run.info.run_id,
        tags={lineage.TAG_STATUS: status},
        idempotency_key=(lineage.TAG_TRAINING_RUN, run.info.run_id),
    )
    from mlflow_retrain.registry.describe import describe_status

    describe_status(client, MODEL, [version.version])
    return version.version


@pytest.mark.parametrize("waiting", [lineage.STATUS_CANDIDATE, lineage.STATUS_SHADOW])
def test_a_newer_challenger_supersedes_one_still_waiting(tracking_uri: str, waiting: str) -> None:
    client = MlflowClient(tracking_uri)
    old = _challenger(client, status=waiting)
    assert section_text(client.get_model_version(MODEL, old).description, "status") == (
        f"**Status: {waiting}** · aliases: `challenger`."
    )

    new = _challenger(client)

    assert str(client.get_model_version_by_alias(MODEL, "challenger").version) == new
    version = client.get_model_version(MODEL, old)
    assert version.tags[lineage.TAG_STATUS] == lineage.STATUS_SUPERSEDED == "superseded"
    status = section_text(version.description, "status")
    assert status is not None
    assert status.startswith("**Status: superseded** · no alias.")
    assert f"Superseded as `challenger` by version {new} on " in status
    assert client.get_model_version(MODEL, new).tags[lineage.TAG_STATUS] == "candidate"


def test_a_decided_challenger_keeps_its_status_when_a_newer_one_arrives(
    tracking_uri: str,
) -> None:
    client = MlflowClient(tracking_uri)
    old = _challenger(client, status=lineage.STATUS_REJECTED)

    new = _challenger(client)

    version = client.get_model_version(MODEL, old)
    assert version.tags[lineage.TAG_STATUS] == lineage.STATUS_REJECTED
    status = section_text(version.description, "status")
    assert status is not None
    assert status.startswith("**Status: rejected** · no alias.")
    assert f"The `challenger` alias moved to version {new} on " in status


def test_registering_the_same_run_again_supersedes_nothing(tracking_uri: str) -> None:
    client = MlflowClient(tracking_uri)
    run = client.create_run(client.get_experiment_by_name("test").experiment_id)
    key = (lineage.TAG_TRAINING_RUN, run.info.run_id)
    register = lambda: lifecycle.register_challenger(  # noqa: E731
        client, MODEL, model_uri=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id,
        tags={lineage.TAG_STATUS: lineage.STATUS_CANDIDATE}, idempotency_key=key,
    )  # fmt: skip
    first = register()

    again = register()

    assert (again.version, again.reused) == (first.version, True)
    assert client.get_model_version(MODEL, first.version).tags[lineage.TAG_STATUS] == "candidate"
