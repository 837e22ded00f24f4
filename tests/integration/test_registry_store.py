"""The gate enforced by the registry store plugin, client side (retrain+sqlite).

The server-side mode (``mlflow server --registry-store-uri retrain+...``), REST and UI paths,
basic-auth and concurrency on PostgreSQL are covered by issue 5's server tests.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
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


def _versions(client: MlflowClient, n: int) -> list[str]:
    client.create_registered_model(MODEL)
    with mlflow.start_run() as run:
        mlflow.log_text("model", "model/weights.txt")
    source = f"runs:/{run.info.run_id}/model"
    return [str(client.create_model_version(MODEL, source).version) for _ in range(n)]


def _evidence(client: MlflowClient, version: str, *, baseline: str, decision: str = "promote"):
    for key, value in {
        lineage.TAG_DECISION: decision,
        lineage.TAG_EVIDENCE_BASELINE: baseline,
        lineage.TAG_EVIDENCE_TIME: str(int(time.time() * 1000)),
        lineage.TAG_EVIDENCE_RUN: "run-x",
    }.items():
        client.set_model_version_tag(MODEL, version, key, value)


def _aliases(client: MlflowClient) -> dict[str, str]:
    return {k: str(v) for k, v in client.get_registered_model(MODEL).aliases.items()}


def test_the_plugin_is_the_registry_store(client: MlflowClient) -> None:
    assert isinstance(client._get_registry_client().store, RetrainSqlAlchemyStore)


def test_champion_without_evidence_is_refused_and_nothing_changes(client: MlflowClient) -> None:
    (v1,) = _versions(client, 1)

    with pytest.raises(MlflowException, match=r"Promotion gate: Version 1 has no comparison"):
        client.set_registered_model_alias(MODEL, "champion", v1)

    assert _aliases(client) == {}


def test_first_deployment_then_promotion_moves_every_alias(client: MlflowClient) -> None:
    v1, v2 = _versions(client, 2)
    _evidence(client, v1, baseline="none")
    client.set_registered_model_alias(MODEL, "champion", v1)
    client.set_registered_model_alias(MODEL, "challenger", v2)
    _evidence(client, v2, baseline=v1)

    client.set_registered_model_alias(MODEL, "champion", v2)

    assert _aliases(client) == {"champion": v2, "previous-champion": v1}
    assert client.get_model_version(MODEL, v2).tags[lineage.TAG_STATUS] == "promoted"
    assert client.get_model_version(MODEL, v1).tags[lineage.TAG_STATUS] == "retired"
    audit = [
        json.loads(v)
        for k, v in sorted(client.get_registered_model(MODEL).tags.items())
        if k.startswith("mlflow_retrain.audit.")
    ]
    assert [(a["from"], a["to"], a["kind"]) for a in audit] == [
        (None, v1, "first_deployment"),
        (v1, v2, "promotion"),
    ]


def test_stale_evidence_is_refused(client: MlflowClient) -> None:
    v1, v2, v3 = _versions(client, 3)
    _evidence(client, v1, baseline="none")
    client.set_registered_model_alias(MODEL, "champion", v1)
    _evidence(client, v2, baseline=v1)
    _evidence(client, v3, baseline=v1)
    client.set_registered_model_alias(MODEL, "champion", v2)

    with pytest.raises(MlflowException, match=r"computed against version 1, but the champion "
                                              r"is now 2: it is stale"):  # fmt: skip
        client.set_registered_model_alias(MODEL, "champion", v3)

    assert _aliases(client)["champion"] == v2


def test_rollback_and_override(client: MlflowClient) -> None:
    v1, v2, v3 = _versions(client, 3)
    _evidence(client, v1, baseline="none")
    client.set_registered_model_alias(MODEL, "champion", v1)
    _evidence(client, v2, baseline=v1)
    client.set_registered_model_alias(MODEL, "champion", v2)

    client.set_registered_model_alias(MODEL, "champion", v1)  # rollback to previous-champion
    assert _aliases(client) == {"champion": v1, "previous-champion": v2}
    assert client.get_model_version(MODEL, v2).tags[lineage.TAG_STATUS] == "rolled_back"

    client.set_model_version_tag(MODEL, v3, lineage.TAG_OVERRIDE_REASON, "incident 42 hotfix")
    client.set_registered_model_alias(MODEL, "champion", v3)
    assert _aliases(client)["champion"] == v3


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
    v1, _ = _versions(client, 2)
    _evidence(client, v1, baseline="none")
    client.set_registered_model_alias(MODEL, "champion", v1)

    with pytest.raises(MlflowException, match=message):
        call(client)

    assert _aliases(client) == {"champion": v1}


def test_other_operations_behave_like_the_stock_store(client: MlflowClient) -> None:
    v1, v2 = _versions(client, 2)
    client.set_registered_model_alias(MODEL, "challenger", v2)
    client.set_registered_model_alias(MODEL, "challenger", v1)
    client.delete_registered_model_alias(MODEL, "challenger")
    client.set_model_version_tag(MODEL, v1, "k", "v")

    assert _aliases(client) == {}
    assert client.get_model_version(MODEL, v1).tags["k"] == "v"
    assert len(client.search_model_versions(f"name = '{MODEL}'")) == 2


def _invoke(*args: str) -> tuple[int, str, str]:
    from click.testing import CliRunner

    from mlflow_retrain.cli import main

    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


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

    code, _, stderr = _invoke("promote", "--model", MODEL)
    assert code == 1
    assert "Promotion gate: Version 1 has no comparison evidence" in stderr
    assert plain.get_registered_model(MODEL).aliases == {"challenger": 1}

    _evidence(plain, v1, baseline="none")
    out = tmp_path / "move.json"
    code, stdout, _ = _invoke("promote", "--model", MODEL, "--json-out", str(out))
    assert code == 0
    assert stdout.startswith(f"{MODEL}: champion is version 1 (first_deployment).")
    assert json.loads(out.read_text())["kind"] == "first_deployment"

    code, stdout, _ = _invoke("override", "--model", MODEL, "--version", v2,
                              "--reason", "vendor model mandated")  # fmt: skip
    assert code == 0
    assert "champion is version 2, previous-champion is version 1 (override)" in stdout
    assert lineage.TAG_OVERRIDE_REASON not in plain.get_model_version(MODEL, v2).tags

    code, stdout, _ = _invoke("rollback", "--model", MODEL, "--reason", "latency regression")
    assert code == 0
    assert "champion is version 1, previous-champion is version 2 (rollback)" in stdout
    assert "latency regression" in stdout

    code, _, stderr = _invoke("promote", "--model", MODEL, "--version", v3)
    assert code == 1
    assert "Version 3 has no comparison evidence" in stderr


def test_cli_rollback_without_a_previous_champion_is_a_clear_error(tracking_uri: str) -> None:
    MlflowClient(tracking_uri).create_registered_model(MODEL)

    code, _, stderr = _invoke("rollback", "--model", MODEL, "--reason", "x")

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
    for key, value in {
        lineage.TAG_DECISION: "promote",
        lineage.TAG_EVIDENCE_BASELINE: v1,
        lineage.TAG_EVIDENCE_TIME: str(int(time.time() * 1000)),
    }.items():
        plain.set_model_version_tag(name, v2, key, value)
    gated.set_registered_model_alias(name, "champion", v2)

    model = plain.get_registered_model(name)
    assert {k: str(v) for k, v in model.aliases.items()} == {
        "champion": v2,
        "previous-champion": v1,
    }
    audit = [json.loads(v) for k, v in model.tags.items() if k.startswith("mlflow_retrain.audit.")]
    assert sorted(a["kind"] for a in audit) == ["override", "promotion"]
    assert all(a["client_side"] for a in audit)
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
        _invoke("-vv", "drift", "--reference", str(batch), "--current", str(batch)),
        _invoke("-vv", "promote", "--model", MODEL, "--version", v1),  # refused: no evidence
        _invoke("-vv", "promote", "--model", MODEL, "--version", "99"),  # no such version
        _invoke("-vv", "override", "--model", MODEL, "--version", v1, "--reason", "bootstrap"),
        _invoke("-vv", "override", "--model", MODEL, "--version", v2, "--reason", "hotfix",
                "--json-out", str(out)),
        _invoke("-vv", "rollback", "--model", MODEL, "--reason", "latency"),
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
