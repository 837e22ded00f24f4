"""The gate enforced by the registry store plugin, client side (retrain+sqlite).

The server-side mode (``mlflow server --registry-store-uri retrain+...``), REST and UI paths,
basic-auth and concurrency on PostgreSQL are covered by issue 5's server tests.
"""

from __future__ import annotations

import json
import logging
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

pytestmark = pytest.mark.integration

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


def test_the_rest_plugin_gates_a_server_without_the_plugin(mlflow_server: str) -> None:
    name = "rest-gated"
    plain = MlflowClient(mlflow_server)
    gated = MlflowClient(tracking_uri=mlflow_server, registry_uri="retrain+" + mlflow_server)
    plain.create_registered_model(name)
    run = plain.create_run(plain.create_experiment("rest-gate")).info.run_id
    v1, v2 = (
        str(plain.create_model_version(name, f"runs:/{run}/model", run_id=run).version)
        for _ in range(2)
    )

    with pytest.raises(MlflowException, match=r"Promotion gate: Version 1 has no comparison"):
        gated.set_registered_model_alias(name, "champion", v1)
    assert plain.get_registered_model(name).aliases == {}

    plain.set_model_version_tag(name, v1, lineage.TAG_OVERRIDE_REASON, "bootstrap the model")
    gated.set_registered_model_alias(name, "champion", v1)
    plain.set_registered_model_alias(name, "challenger", v2)
    write_evidence(plain, name, v2, baseline=v1)
    gated.set_registered_model_alias(name, "champion", v2)

    assert aliases(plain, name) == {"champion": v2, "previous-champion": v1}
    records = audit_records(plain, name)
    assert sorted(a["kind"] for a in records) == ["override", "promotion"]
    assert all(a["client_side"] for a in records)
    assert lineage.TAG_OVERRIDE_REASON not in plain.get_model_version(name, v1).tags
    with pytest.raises(MlflowException, match=r"cannot be removed"):
        gated.delete_registered_model_alias(name, "champion")


def test_the_database_password_is_never_logged_or_echoed(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    secret = "pw-Secr3t-9f1c"
    uri = postgres_url.replace("postgres@", f"postgres:{secret}@", 1)  # trust auth ignores it
    assert secret in uri
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    caplog.set_level(logging.DEBUG)
    plain = MlflowClient(uri)
    plain.create_registered_model(MODEL)
    v1, v2 = (str(plain.create_model_version(MODEL, str(tmp_path)).version) for _ in range(2))
    out = tmp_path / "move.json"
    batch = tmp_path / "batch.csv"
    batch.write_text("amount,channel\n" + "".join(f"{i % 17},web\n" for i in range(200)))

    outputs = [
        invoke("-vv", "drift", "--reference", str(batch), "--current", str(batch)),
        invoke("-vv", "promote", "--model", MODEL, "--version", v1),  # refused: no evidence
        invoke("-vv", "promote", "--model", MODEL, "--version", "99"),  # no such version
        invoke("-vv", "override", "--model", MODEL, "--version", v1, "--reason", "bootstrap"),
        invoke("-vv", "override", "--model", MODEL, "--version", v2, "--reason", "hotfix",
                "--json-out", str(out)),
        invoke("-vv", "rollback", "--model", MODEL, "--reason", "latency"),
    ]  # fmt: skip

    assert [code for code, _, _ in outputs] == [0, 1, 1, 0, 0, 0], outputs
    assert "mlflow ui --backend-store-uri postgresql://***@" in outputs[0][1]
    assert plain.get_registered_model(MODEL).aliases == {"champion": 1, "previous-champion": 2}
    texts = [text for _, stdout, stderr in outputs for text in (stdout, stderr)]
    texts += [caplog.text, out.read_text()]
    texts += list(plain.get_registered_model(MODEL).tags.values())
    texts += [str(plain.get_model_version(MODEL, v).tags) for v in (v1, v2)]
    assert "Promotion gate" in texts[3]  # the refusal was reported (stderr)
    leaks = [text for text in texts if secret in text]
    assert not leaks, leaks
