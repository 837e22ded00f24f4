"""Signed evidence on a real ``mlflow server`` whose gate holds an evidence key.

The server runs the plugin (``--registry-store-uri retrain+sqlite``) with a key file of two
keys (``k2`` signs, ``k1`` still verifies: a rotation). The pipeline side is this process:
``run_compare`` against the server, with ``MLFLOW_RETRAIN_EVIDENCE_KEY`` set or not. Every
attack goes through the paths a team member with EDIT has: MlflowClient, the REST API and the
UI's ``/ajax-api``.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests
from helpers.churn import register_churn
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LogisticRegression

from mlflow_retrain import lineage
from mlflow_retrain.pipeline.compare import run_compare
from mlflow_retrain.pipeline.steps import frame_digest
from mlflow_retrain.registry.signing import ENV_KEY, EvidenceRecord

pytestmark = [pytest.mark.integration, pytest.mark.security]

K1 = "1" * 64  # the old key: evidence signed with it must stay valid
K2 = "2" * 64  # the new signing key
REST = "/api/2.0/mlflow/registered-models/alias"
AJAX = "/ajax-api/2.0/mlflow/registered-models/alias"
TIMEOUT_S = 30


@pytest.fixture(scope="module")
def server(start_module_mlflow_server: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("signed")
    keys = folder / "evidence.keys"
    keys.write_text(f"k2 {K2}\nk1 {K1}\n", encoding="utf-8")
    keys.chmod(0o600)
    backend = f"sqlite:///{folder / 'mlflow.db'}"
    return start_module_mlflow_server(
        backend_store_uri=backend,
        extra_args=("--registry-store-uri", "retrain+" + backend),
        env={"MLFLOW_RETRAIN_EVIDENCE_KEY_FILE": str(keys)},
    )


@pytest.fixture
def client(server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> MlflowClient:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(server)
    mlflow.set_experiment(f"signed-{uuid.uuid4().hex[:8]}")
    try:
        yield MlflowClient(server)
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(None)  # the server stops with the module; later tests own theirs


def _data(seed: int, n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=(2, n))
    y = (rng.random(n) < 1 / (1 + np.exp(-2 * x1))).astype(int)
    return pd.DataFrame({"x1": x1, "x2": x2, "label": y})


def _version(client: MlflowClient, name: str, tmp_path: Path, *, good: bool = True) -> str:
    """Register a trained model with its gate split recorded, as `retrain` does."""
    train, gate = _data(1), _data(2)
    # A worse model: trained without the informative column (x1 blanked out).
    features = train[["x1", "x2"]] if good else train[["x1", "x2"]].assign(x1=0.0)
    model = LogisticRegression().fit(features, train["label"])
    gate_path = tmp_path / f"gate-{uuid.uuid4().hex[:6]}.csv"
    gate.to_csv(gate_path, index=False)
    tags = {
        lineage.TAG_GATE_URI: str(gate_path),
        lineage.TAG_GATE_DIGEST: frame_digest(gate),
        lineage.TAG_TARGET: "label",
        lineage.TAG_TASK: "classification",
        lineage.TAG_STATUS: lineage.STATUS_CANDIDATE,
    }
    return register_churn(client, model, name=name, tags=tags)


def _forge(client: MlflowClient, name: str, version: str, *, baseline: str = "none") -> None:
    """What a team member with EDIT could write by hand: the three tags the gate read."""
    for key, value in {
        lineage.TAG_DECISION: "promote",
        lineage.TAG_EVIDENCE_BASELINE: baseline,
        lineage.TAG_EVIDENCE_TIME: str(int(time.time() * 1000)),
    }.items():
        client.set_model_version_tag(name, version, key, value)


def _set(server: str, name: str, version: str, endpoint: str) -> requests.Response:
    body = {"name": name, "alias": "champion", "version": version}
    return requests.post(server + endpoint, json=body, timeout=TIMEOUT_S)


def _champion(client: MlflowClient, name: str) -> str | None:
    aliases = client.get_registered_model(name).aliases
    return None if "champion" not in aliases else str(aliases["champion"])


def _move(server: str, client: MlflowClient, name: str, version: str, how: str) -> str:
    """Try to make ``version`` champion; the refusal's message ("" when it was allowed)."""
    if how == "client":
        try:
            client.set_registered_model_alias(name, "champion", version)
        except MlflowException as err:
            return str(err.message)
        return ""
    response = _set(server, name, version, REST if how == "rest" else AJAX)
    if response.status_code == 200:
        return ""
    assert response.status_code == 400, response.text
    return str(response.json()["message"])


HOW = pytest.mark.parametrize("how", ["client", "rest", "ajax"])


@HOW
def test_hand_written_evidence_is_refused_and_changes_nothing(
    server: str, client: MlflowClient, tmp_path: Path, how: str
) -> None:
    name = f"fraud-{uuid.uuid4().hex[:8]}"
    version = _version(client, name, tmp_path)
    _forge(client, name, version)
    before = client.get_registered_model(name).tags

    message = _move(server, client, name, version, how)

    assert "Promotion gate: The evidence for version 1 cannot be trusted" in message
    assert "no signed evidence record" in message
    assert _champion(client, name) is None
    assert client.get_registered_model(name).tags == before


def test_genuine_signed_comparison_promotes(
    server: str, client: MlflowClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_KEY, f"k2:{K2}")
    name = f"fraud-{uuid.uuid4().hex[:8]}"
    version = _version(client, name, tmp_path)

    result = run_compare(name, challenger=version)

    assert result.decision == "promote"
    tags = client.get_model_version(name, version).tags
    assert tags[lineage.TAG_EVIDENCE_SIGNATURE].startswith("v1:k2:")
    assert _move(server, client, name, version, "rest") == ""
    assert _champion(client, name) == version


def test_evidence_signed_with_the_previous_key_stays_valid_after_a_rotation(
    server: str, client: MlflowClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_KEY, f"k1:{K1}")  # the pipeline still has the old key
    name = f"fraud-{uuid.uuid4().hex[:8]}"
    version = _version(client, name, tmp_path)
    run_compare(name, challenger=version)

    assert client.get_model_version(name, version).tags[
        lineage.TAG_EVIDENCE_SIGNATURE
    ].startswith("v1:k1:")  # fmt: skip
    assert _move(server, client, name, version, "ajax") == ""


def test_unsigned_evidence_from_a_pipeline_without_a_key_is_refused(
    server: str, client: MlflowClient, tmp_path: Path
) -> None:
    name = f"fraud-{uuid.uuid4().hex[:8]}"
    version = _version(client, name, tmp_path)
    run_compare(name, challenger=version)

    message = _move(server, client, name, version, "client")

    assert "its evidence is unsigned" in message
    assert "MLFLOW_RETRAIN_EVIDENCE_KEY" in message
    assert _champion(client, name) is None


def _tamper(client: MlflowClient, name: str, version: str, what: str, tmp_path: Path) -> None:
    tags = client.get_model_version(name, version).tags
    if what == "record":
        record = EvidenceRecord.from_json(tags[lineage.TAG_EVIDENCE_RECORD])
        forged = dataclasses.replace(record, decision="promote", baseline="none")
        client.set_model_version_tag(name, version, lineage.TAG_EVIDENCE_RECORD, forged.to_json())
    elif what == "gate_split":
        client.set_model_version_tag(name, version, lineage.TAG_GATE_DIGEST, "0ther")
    elif what == "policy":
        client.set_registered_model_tag(
            name, lineage.TAG_POLICY, '{"primary": [{"metric": "accuracy"}]}'
        )
    else:  # the artifacts: overwrite the model file in the logged model's artifacts
        model_id = client.get_model_version(name, version).source.split("/")[-1]
        (tmp_path / "MLmodel").write_text("tampered", encoding="utf-8")
        client.log_model_artifact(model_id, str(tmp_path / "MLmodel"))


@HOW
@pytest.mark.parametrize(
    ("what", "fragment"),
    [
        ("record", "forged or tampered"),
        ("gate_split", "neither the version's gate split nor the policy's holdout_digest"),
        ("policy", "is stale: it was judged under another policy"),
        ("artifacts", "is stale: it was computed for other artifacts"),
    ],
)
def test_tampered_or_stale_signed_evidence_is_refused(
    server: str,
    client: MlflowClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
    what: str,
    fragment: str,
) -> None:
    monkeypatch.setenv(ENV_KEY, f"k2:{K2}")
    name = f"fraud-{uuid.uuid4().hex[:8]}"
    version = _version(client, name, tmp_path, good=what != "record")
    run_compare(name, challenger=version)
    _tamper(client, name, version, what, tmp_path)

    message = _move(server, client, name, version, how)

    assert fragment in message, message
    assert "\n" not in message
    assert _champion(client, name) is None


def test_a_server_without_a_key_warns_that_evidence_is_trusted_as_written(
    start_mlflow_server: Any, tmp_path: Path
) -> None:
    backend = f"sqlite:///{tmp_path / 'keyless.db'}"
    url = start_mlflow_server(
        backend_store_uri=backend, extra_args=("--registry-store-uri", "retrain+" + backend)
    )
    MlflowClient(url).search_registered_models()  # a worker builds its store

    logs = "".join(p.read_text() for p in tmp_path.glob("mlflow-server-*/server.log"))

    assert "no evidence key" in logs
    assert "trusts evidence tags as written" in logs
