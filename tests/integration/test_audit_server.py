"""`audit` and `verify` against a real ``mlflow server`` whose gate holds the evidence key.

One server for the module (``--registry-store-uri retrain+sqlite``, the team deployment's
key). Each test registers its own model: logged-model versions with a small artifact, signed
evidence written as the pipeline writes it (``teamserver.write_signed_evidence``), and moves
through the server's gate. Tampering goes straight to the server's database, the way past
the store's guard.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import invoke
from helpers.registry import model_tags, version_tags
from mlflow.tracking import MlflowClient
from teamserver import EVIDENCE_KEY, write_signed_evidence

from mlflow_retrain import lineage
from mlflow_retrain.registry.signing import ENV_KEY, ENV_KEY_FILE, EvidenceRecord

pytestmark = [pytest.mark.integration, pytest.mark.security]

KEY_ID = EVIDENCE_KEY.split(":", 1)[0]


@dataclasses.dataclass(frozen=True)
class Server:
    url: str
    db: Path


@pytest.fixture(scope="module")
def server(start_module_mlflow_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Server:
    db = tmp_path_factory.mktemp("audit") / "mlflow.db"
    backend = f"sqlite:///{db}"
    url = start_module_mlflow_server(
        backend_store_uri=backend,
        extra_args=("--registry-store-uri", "retrain+" + backend),
        env={ENV_KEY: EVIDENCE_KEY},
    )
    return Server(url, db)


@pytest.fixture
def client(server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> MlflowClient:
    """A client of the server; this process holds the pipeline's key (the CLI's too)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv(ENV_KEY, EVIDENCE_KEY)
    monkeypatch.chdir(tmp_path)
    return MlflowClient(server.url)


def _version(client: MlflowClient, name: str, tmp_path: Path) -> tuple[str, str]:
    """A new version of ``name`` from a new logged model with one artifact; (version, id)."""
    experiment = client.get_experiment_by_name("audit") or client.get_experiment(
        client.create_experiment("audit")
    )
    model = client.create_logged_model(experiment.experiment_id)
    artifact = tmp_path / "MLmodel"
    artifact.write_text(f"flavors: {{}}\nid: {model.model_id}\n", encoding="utf-8")
    client.log_model_artifact(model.model_id, str(artifact))
    version = client.create_model_version(
        name, f"models:/{model.model_id}", model_id=model.model_id
    )
    return str(version.version), model.model_id


@pytest.fixture
def promoted(client: MlflowClient, tmp_path: Path) -> tuple[str, list[str]]:
    """A model whose version 1 was deployed first and version 2 promoted over it."""
    name = f"audit-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    versions = []
    run = client.create_run(client.create_experiment(f"evidence-{name}"))
    for baseline in ("none", "1"):
        version, _ = _version(client, name, tmp_path)
        write_signed_evidence(client, name, version, baseline=baseline, run_id=run.info.run_id)
        client.set_registered_model_alias(name, "champion", version)  # through the server's gate
        versions.append(version)
    return name, versions


def _tamper(server: Server, name: str, version: str, key: str, value: str) -> None:
    """Rewrite a version tag in the server's database, as someone with database access could."""
    with sqlite3.connect(server.db) as conn:
        done = conn.execute(
            "UPDATE model_version_tags SET value = ? WHERE name = ? AND version = ? AND key = ?",
            (value, name, int(version), key),
        )
        assert done.rowcount == 1


def _registry(client: MlflowClient, name: str, versions: list[str]) -> Any:
    model = client.get_registered_model(name)
    return (model_tags(client, name), dict(model.aliases),
            [version_tags(client, name, v) for v in versions])  # fmt: skip


def test_a_genuine_promotion_is_listed_and_its_signature_verifies(
    client: MlflowClient, promoted: tuple[str, list[str]], tmp_path: Path
) -> None:
    name, _ = promoted
    out = tmp_path / "audit.json"

    code, stdout, stderr = invoke("audit", "--model", name, "--json-out", str(out))

    assert code == 0, stderr
    lines = stdout.splitlines()
    assert len(lines) == 3
    assert " | first_deployment | champion | none -> 1 | no user | First deployment" in lines[0]
    assert " | promotion | champion | 1 -> 2 | no user | Version 2 is significantly" in lines[1]
    assert all(line.endswith(f"signature ok (key id {KEY_ID})") for line in lines[:2])
    assert lines[2] == "2 record(s), oldest first; 2 promotion(s) checked: 2 ok."
    data = json.loads(out.read_text())
    assert data["verified"] is True
    assert [r["signature"]["status"] for r in data["records"]] == ["ok", "ok"]
    assert [(r["from_version"], r["version"]) for r in data["records"]] == [
        (None, "1"),
        ("1", "2"),
    ]


def test_verify_accepts_the_champion_whose_artifacts_match_its_evidence_and_writes_nothing(
    client: MlflowClient, promoted: tuple[str, list[str]], tmp_path: Path
) -> None:
    name, versions = promoted
    model_id = client.get_model_version(name, "2").source.split("/")[-1]
    before = _registry(client, name, versions)
    out = tmp_path / "verify.json"

    code, stdout, stderr = invoke("verify", "--model", f"{name}@champion", "--json-out", str(out))

    assert code == 0, stderr
    data = json.loads(out.read_text())
    assert stdout == (
        f"verified: {name} version 2 (model id {model_id}, artifacts {data['artifact_digest']})"
        f" matches its evidence signed with key {KEY_ID}\n"
    )
    assert data["artifact_digest"].startswith("sha256:")
    assert data["evidence"]["artifact_digest"] == data["artifact_digest"]
    assert _registry(client, name, versions) == before


def test_verify_by_version_number_checks_that_version(
    client: MlflowClient, promoted: tuple[str, list[str]]
) -> None:
    name, _ = promoted

    code, stdout, _ = invoke("verify", "--model", f"{name}/1")

    assert code == 0
    assert stdout.startswith(f"verified: {name} version 1 (")


@pytest.mark.parametrize("key", [lineage.TAG_EVIDENCE_RECORD, lineage.TAG_EVIDENCE_SIGNATURE])
def test_evidence_tampered_in_the_database_fails_audit_and_verify(
    server: Server, client: MlflowClient, promoted: tuple[str, list[str]], key: str
) -> None:
    name, _ = promoted
    tags = version_tags(client, name, "2")
    if key == lineage.TAG_EVIDENCE_RECORD:
        record = EvidenceRecord.from_json(tags[key])
        value = dataclasses.replace(record, baseline="none").to_json()
    else:
        value = tags[key][:-4] + ("0000" if not tags[key].endswith("0000") else "1111")
    _tamper(server, name, "2", key, value)

    code, stdout, stderr = invoke("audit", "--model", name)

    assert code == 1
    lines = stdout.splitlines()
    assert lines[0].endswith(f"signature ok (key id {KEY_ID})")
    assert lines[1].endswith("forged/tampered")
    assert stderr.count("\n") == 1
    assert stderr.startswith("mlflow-retrain: error: The evidence of 1 of 2 promotion record(s)")
    assert "version 2 (forged/tampered)" in stderr

    code, stdout, stderr = invoke("verify", "--model", f"{name}@champion")

    assert code == 1
    assert stdout == ""
    assert stderr == (
        f"mlflow-retrain: error: Version 2 of '{name}' carries evidence whose signature does "
        "not match it: forged or tampered. Do not serve it; see `mlflow-retrain audit --model "
        f"{name}`.\n"
    )


def test_verify_fails_when_the_artifacts_differ_from_the_signed_digest(
    client: MlflowClient, promoted: tuple[str, list[str]], tmp_path: Path
) -> None:
    name, _ = promoted
    model_id = client.get_model_version(name, "2").source.split("/")[-1]
    swapped = tmp_path / "swap" / "MLmodel"
    swapped.parent.mkdir()
    swapped.write_text("flavors: {}\nsomething: else\n", encoding="utf-8")
    client.log_model_artifact(model_id, str(swapped))  # the artifacts change after the judgement

    code, stdout, stderr = invoke("verify", "--model", f"{name}@champion")

    assert code == 1
    assert stdout == ""
    assert stderr.count("\n") == 1
    assert f"Version 2 of '{name}' does not match its evidence: its artifacts are sha256:" in (
        stderr
    )
    assert ", but its signed evidence is for sha256:" in stderr
    # The signature itself still holds: audit checks signatures, verify the artifacts.
    assert invoke("audit", "--model", name)[0] == 0


def test_verify_fails_on_a_version_without_signed_evidence(
    client: MlflowClient, promoted: tuple[str, list[str]], tmp_path: Path
) -> None:
    name, _ = promoted
    version, _ = _version(client, name, tmp_path)

    code, _, stderr = invoke("verify", "--model", f"{name}/{version}")

    assert code == 1
    assert f"Version {version} of '{name}' has no signed evidence" in stderr


def test_verify_without_a_key_names_both_variables_and_exits_1(
    client: MlflowClient, promoted: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    name, _ = promoted
    monkeypatch.delenv(ENV_KEY)

    code, stdout, stderr = invoke("verify", "--model", f"{name}@champion")

    assert code == 1
    assert stdout == ""
    assert stderr.count("\n") == 1
    assert ENV_KEY in stderr
    assert ENV_KEY_FILE in stderr


def test_audit_without_a_key_lists_the_records_it_cannot_verify(
    client: MlflowClient, promoted: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    name, _ = promoted
    monkeypatch.delenv(ENV_KEY)

    code, stdout, _ = invoke("audit", "--model", name)

    assert code == 0
    lines = stdout.splitlines()
    assert all(line.endswith("no key here to verify") for line in lines[:2])
    assert lines[2].endswith(f"2 no key (set {ENV_KEY} or {ENV_KEY_FILE} to verify signatures).")


def test_audit_lists_protected_changes_beside_the_moves(
    client: MlflowClient, promoted: tuple[str, list[str]]
) -> None:
    name, _ = promoted
    client.set_model_version_tag(name, "1", lineage.TAG_ROLLBACK_REASON, "v2 drops recall")
    client.set_registered_model_alias(name, "champion", "1")  # the rollback

    code, stdout, _ = invoke("audit", "--model", name)

    assert code == 0
    lines = stdout.splitlines()
    assert len(lines) == 5
    assert (
        f" | tag_set | - | version 1 | no user | set {lineage.TAG_ROLLBACK_REASON} = "
        "'v2 drops recall'"
    ) in lines[2]
    assert (
        " | rollback | champion | 2 -> 1 | no user | Rollback to the previous champion"
        in (lines[3])
    )
    assert "signature" not in lines[3]


def test_audit_of_a_model_without_records_says_so(client: MlflowClient) -> None:
    name = f"quiet-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)

    code, stdout, _ = invoke("audit", "--model", name)

    assert code == 0
    assert stdout == (
        f"'{name}' has no audit records: no move of champion and no protected change was "
        "recorded on it.\n"
    )
