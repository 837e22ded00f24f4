"""The registry store plugins against real servers: the REST plugin, and a PostgreSQL store.

The client-side behaviour on SQLite is covered by ``tests/unit/registry/test_store.py``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from helpers.cli import invoke
from helpers.registry import aliases, audit_records, write_evidence
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage

pytestmark = pytest.mark.integration

MODEL = "fraud"


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
