"""The gate enforced by the registry store plugin, client side (retrain+sqlite).

The server-side mode (``mlflow server --registry-store-uri retrain+...``), REST and UI paths,
basic-auth and concurrency on PostgreSQL are covered by issue 5's server tests; the REST plugin
and a PostgreSQL store by ``tests/integration/test_registry_store_remote.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from helpers.cli import invoke
from helpers.registry import aliases, audit_records, register_versions, write_evidence
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage
from mlflow_retrain.registry.store import RetrainSqlAlchemyStore

MODEL = "fraud"


@pytest.fixture
def client(
    tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MlflowClient]:
    registry_uri = "retrain+" + tracking_uri
    # set_registry_uri also exports MLFLOW_REGISTRY_URI, and set_registry_uri(None) leaves it
    # behind; monkeypatch removes it again, or later tests would register into this store.
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", registry_uri)
    mlflow.set_registry_uri(registry_uri)
    try:
        yield MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)
    finally:
        mlflow.set_registry_uri(None)


def test_the_plugin_is_the_registry_store(client: MlflowClient) -> None:
    assert isinstance(client._get_registry_client().store, RetrainSqlAlchemyStore)


def test_champion_without_evidence_is_refused_and_nothing_changes(client: MlflowClient) -> None:
    (v1,) = register_versions(client, MODEL, 1, create=True)

    with pytest.raises(MlflowException, match=r"Promotion gate: Version 1 has no comparison"):
        client.set_registered_model_alias(MODEL, "champion", v1)

    assert aliases(client, MODEL) == {}


def test_first_deployment_then_promotion_moves_every_alias(client: MlflowClient) -> None:
    v1, v2 = register_versions(client, MODEL, 2, create=True)
    write_evidence(client, MODEL, v1, baseline="none")
    client.set_registered_model_alias(MODEL, "champion", v1)
    client.set_registered_model_alias(MODEL, "challenger", v2)
    write_evidence(client, MODEL, v2, baseline=v1)

    client.set_registered_model_alias(MODEL, "champion", v2)

    assert aliases(client, MODEL) == {"champion": v2, "previous-champion": v1}
    assert client.get_model_version(MODEL, v2).tags[lineage.TAG_STATUS] == "promoted"
    assert client.get_model_version(MODEL, v1).tags[lineage.TAG_STATUS] == "retired"
    assert [(a["from"], a["to"], a["kind"]) for a in audit_records(client, MODEL)] == [
        (None, v1, "first_deployment"),
        (v1, v2, "promotion"),
    ]


def test_stale_evidence_is_refused(client: MlflowClient) -> None:
    v1, v2, v3 = register_versions(client, MODEL, 3, create=True)
    write_evidence(client, MODEL, v1, baseline="none")
    client.set_registered_model_alias(MODEL, "champion", v1)
    write_evidence(client, MODEL, v2, baseline=v1)
    write_evidence(client, MODEL, v3, baseline=v1)
    client.set_registered_model_alias(MODEL, "champion", v2)

    with pytest.raises(MlflowException, match=r"computed against version 1, but the champion "
                                              r"is now 2: it is stale"):  # fmt: skip
        client.set_registered_model_alias(MODEL, "champion", v3)

    assert aliases(client, MODEL)["champion"] == v2


def test_rollback_and_override(client: MlflowClient) -> None:
    v1, v2, v3 = register_versions(client, MODEL, 3, create=True)
    write_evidence(client, MODEL, v1, baseline="none")
    client.set_registered_model_alias(MODEL, "champion", v1)
    write_evidence(client, MODEL, v2, baseline=v1)
    client.set_registered_model_alias(MODEL, "champion", v2)

    client.set_registered_model_alias(MODEL, "champion", v1)  # rollback to previous-champion
    assert aliases(client, MODEL) == {"champion": v1, "previous-champion": v2}
    assert client.get_model_version(MODEL, v2).tags[lineage.TAG_STATUS] == "rolled_back"

    client.set_model_version_tag(MODEL, v3, lineage.TAG_OVERRIDE_REASON, "incident 42 hotfix")
    client.set_registered_model_alias(MODEL, "champion", v3)
    assert aliases(client, MODEL)["champion"] == v3


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.delete_registered_model_alias(MODEL, "champion"), r"cannot be removed"),
        (lambda c: c.set_registered_model_alias(MODEL, "previous-champion", "2"),
         r"kept by the promotion gate"),
    ],
    ids=["delete_champion", "set_previous"],
)  # fmt: skip
def test_gated_aliases_cannot_be_forced(client: MlflowClient, call, message: str) -> None:
    v1, _ = register_versions(client, MODEL, 2, create=True)
    write_evidence(client, MODEL, v1, baseline="none")
    client.set_registered_model_alias(MODEL, "champion", v1)

    with pytest.raises(MlflowException, match=message):
        call(client)

    assert aliases(client, MODEL) == {"champion": v1}


def test_other_operations_behave_like_the_stock_store(client: MlflowClient) -> None:
    v1, v2 = register_versions(client, MODEL, 2, create=True)
    client.set_registered_model_alias(MODEL, "challenger", v2)
    client.set_registered_model_alias(MODEL, "challenger", v1)
    client.delete_registered_model_alias(MODEL, "challenger")
    client.set_model_version_tag(MODEL, v1, "k", "v")

    assert aliases(client, MODEL) == {}
    assert client.get_model_version(MODEL, v1).tags["k"] == "v"
    assert len(client.search_model_versions(f"name = '{MODEL}'")) == 2


def test_cli_promote_rollback_and_override_go_through_the_gate(
    tracking_uri: str, tmp_path: Path
) -> None:
    # A plain (ungated) registry URI: the commands still apply the gate.
    plain = MlflowClient(tracking_uri)
    plain.create_registered_model(MODEL)
    with mlflow.start_run() as run:
        mlflow.log_text("model", "model/weights.txt")
    source = f"runs:/{run.info.run_id}/model"
    v1, v2, v3 = (str(plain.create_model_version(MODEL, source).version) for _ in range(3))
    plain.set_registered_model_alias(MODEL, "challenger", v1)

    code, _, stderr = invoke("promote", "--model", MODEL)
    assert code == 1
    assert "Promotion gate: Version 1 has no comparison evidence" in stderr
    assert plain.get_registered_model(MODEL).aliases == {"challenger": 1}

    write_evidence(plain, MODEL, v1, baseline="none")
    out = tmp_path / "move.json"
    code, stdout, _ = invoke("promote", "--model", MODEL, "--json-out", str(out))
    assert code == 0
    assert stdout.startswith(f"{MODEL}: champion is version 1 (first_deployment).")
    assert json.loads(out.read_text())["kind"] == "first_deployment"

    code, stdout, _ = invoke("override", "--model", MODEL, "--version", v2,
                              "--reason", "vendor model mandated")  # fmt: skip
    assert code == 0
    assert "champion is version 2, previous-champion is version 1 (override)" in stdout
    assert lineage.TAG_OVERRIDE_REASON not in plain.get_model_version(MODEL, v2).tags

    code, stdout, _ = invoke("rollback", "--model", MODEL, "--reason", "latency regression")
    assert code == 0
    assert "champion is version 1, previous-champion is version 2 (rollback)" in stdout
    assert "latency regression" in stdout

    code, _, stderr = invoke("promote", "--model", MODEL, "--version", v3)
    assert code == 1
    assert "Version 3 has no comparison evidence" in stderr


def test_cli_rollback_without_a_previous_champion_is_a_clear_error(tracking_uri: str) -> None:
    MlflowClient(tracking_uri).create_registered_model(MODEL)

    code, _, stderr = invoke("rollback", "--model", MODEL, "--reason", "x")

    assert code == 1
    assert "has no previous champion to roll back to" in stderr
