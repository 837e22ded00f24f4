"""The team deployment end to end: ``deploy/team-server.sh`` with PostgreSQL, S3 and basic-auth.

The server is the README's script on a fresh PostgreSQL database, with the gate plugin as its
registry store, artifacts proxied to S3 (moto) and MLflow's basic-auth app. Clients are
separate ``mlflow-retrain`` processes holding only the server's URL, a user's credentials and
their own S3 key for the batches, which they read from ``s3://``. Results are checked through
MLflow's client. The module ends by searching everything the deployment stored or printed for
the passwords and keys it was given.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
import yaml
from helpers.evidence import evidence_tags
from helpers.examples import credit_month
from helpers.registry import aliases, audit_records
from mlflow.tracking import MlflowClient
from teamserver import (
    ADMIN_PASSWORD,
    CLIENT_OUTPUT,
    DB_PASSWORD,
    EDITOR_PASSWORD,
    OWNER_PASSWORD,
    PIPELINE_PASSWORD,
    SCRIPT,
    SECRETS,
    USER_PASSWORD,
    TeamServer,
    run_client,
    running,
    with_password,
)

from mlflow_retrain import lineage

pytestmark = pytest.mark.integration

MODEL = "credit-team"
ERROR = "mlflow-retrain: error:"


def _bucket(moto_server: str, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_server, aws_access_key_id="setup",
                 aws_secret_access_key="setup", region_name="us-east-1",
                 ).create_bucket(Bucket=name)  # fmt: skip
    return name


def _s3(moto_server: str) -> Any:
    return boto3.client("s3", endpoint_url=moto_server, aws_access_key_id="setup",
                        aws_secret_access_key="setup", region_name="us-east-1")  # fmt: skip


@pytest.fixture(scope="module")
def data_bucket(moto_server: str) -> str:
    """A bucket of monthly batches, as a data team's pipeline would leave them."""
    bucket = _bucket(moto_server, "data")
    s3 = _s3(moto_server)
    for month in (1, 2):
        key = f"batches/month_{month:02d}.csv"
        s3.put_object(Bucket=bucket, Key=key, Body=credit_month(month))
    return bucket


@pytest.fixture(scope="module")
def team(
    module_postgres_url: str, moto_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TeamServer]:
    server = TeamServer(
        db_uri=with_password(module_postgres_url, DB_PASSWORD),
        bucket=_bucket(moto_server, "artifacts"),
        s3_endpoint=moto_server,
        workdir=tmp_path_factory.mktemp("team-server"),
    )
    with running(server):
        yield server


@pytest.fixture
def admin(team: TeamServer, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    """MLflow's client in this test process, logged in as the admin."""
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
    return MlflowClient(tracking_uri=team.url)


def _config(workdir: Path, data_bucket: str, model: str = MODEL, *, create: bool = False) -> Path:
    config = {
        "model": {"create": create},
        "model_name": model,
        "target": "default",
        "timestamp": "application_date",
        "history": {"source": f"s3://{data_bucket}/batches/", "pattern": "month_*.csv"},
        "tuning": {"n_trials": 2, "estimators": ["linear"], "cv_folds": 2},
    }
    path = workdir / f"{model}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.security  # the pipeline's account still promotes under the guard
def test_a_pipeline_account_with_the_documented_grants_runs_the_full_cycle(
    team: TeamServer, admin: MlflowClient, data_bucket: str, moto_server: str, tmp_path: Path
) -> None:
    from mlflow.server.auth.client import AuthServiceClient

    # The README's "Permissions" set-up, verbatim in substance: the admin creates the
    # experiment and the model; the pipeline account gets EDIT on both and nothing else.
    auth = AuthServiceClient(team.url)
    auth.create_user("pipeline", PIPELINE_PASSWORD)
    experiment_id = admin.create_experiment(MODEL)
    admin.create_registered_model(MODEL)
    env = {**team.client_env(user="pipeline", password=PIPELINE_PASSWORD, data_s3=moto_server),
           "MLFLOW_EXPERIMENT_NAME": MODEL}  # fmt: skip
    config = _config(tmp_path, data_bucket)
    month_1 = f"s3://{data_bucket}/batches/month_01.csv"

    # Without EDIT on the experiment, the 403 names the experiment (not the model).
    denied = run_client(env, "run", "--config", str(config), "--batch", month_1, cwd=tmp_path)
    lines = [li for li in denied.stderr.splitlines() if li.startswith(ERROR)]
    assert denied.code == 1, denied.stderr[-3000:]
    assert len(lines) == 1, denied.stderr[-3000:]
    assert "lacks EDIT on the experiment" in lines[0], lines[0]

    auth.grant_user_permission("pipeline", "experiment", experiment_id, "EDIT")
    auth.grant_user_permission("pipeline", "registered_model", MODEL, "EDIT")
    first = run_client(env, "run", "--config", str(config), "--batch", month_1, cwd=tmp_path)

    assert first.code == 0, first.stderr[-3000:]
    assert first.data is not None
    assert (first.data["outcome"], first.data["champion_version"]) == ("promoted", "1")
    assert aliases(admin, MODEL) == {"champion": "1"}
    version = admin.get_model_version(MODEL, "1")
    assert version.tags[lineage.TAG_STATUS] == lineage.STATUS_PROMOTED
    (record,) = audit_records(admin, MODEL)
    assert (record["to"], record["kind"], record["user"]) == ("1", "first_deployment", "pipeline")
    # EDIT is not MANAGE: the pipeline account cannot force a version past the gate.
    other = admin.create_model_version(
        MODEL,
        version.source,
        run_id=version.run_id,
        model_id=version.source.removeprefix("models:/"),
    ).version
    forced = run_client(env, "override", "--model", MODEL, "--version", str(other),
                        "--reason", "x", cwd=tmp_path)  # fmt: skip
    assert forced.code == 1, forced.stderr[-3000:]
    assert "MANAGE" in forced.stderr, forced.stderr[-3000:]
    assert aliases(admin, MODEL) == {"champion": "1"}
    # The artifacts went through the server to S3, under the configured prefix.
    keys = [o["Key"] for o in _s3(moto_server).list_objects_v2(
        Bucket=team.bucket, Prefix="mlflow/").get("Contents", [])]  # fmt: skip
    assert any(key.endswith("/MLmodel") for key in keys), keys[:20]
    assert any(key.endswith("drift_report.html") or "window/" in key for key in keys), keys[:20]
    # The champion loads through the server and scores the next month.
    import io

    import mlflow
    import pandas as pd

    mlflow.set_tracking_uri(team.url)
    try:
        model = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
        batch = pd.read_csv(io.BytesIO(credit_month(2, rows=50)))
        predictions = model.predict(batch.drop(columns=["default"]))
    finally:
        mlflow.set_tracking_uri(None)
    assert len(predictions) == 50

    # The next month (the newest in the S3 history) is checked against that champion.
    second = run_client(env, "run", "--config", str(config), cwd=tmp_path)

    assert second.code == 0, second.stderr[-3000:]
    assert second.data is not None
    assert second.data["batch"] == f"s3://{data_bucket}/batches/month_02.csv"
    assert second.data["drift_detected"] is not None  # a champion existed, so drift was checked
    run = admin.get_run(str(second.data["run_id"]))
    assert run.info.status == "FINISHED"
    assert run.data.tags[lineage.TAG_OUTCOME] == second.data["outcome"]


def _model_with_a_champion(admin: MlflowClient, prefix: str) -> tuple[str, str, str, str]:
    """A new model with versions 1 (champion, by the admin's audited override) and 2: the
    model, the two versions and their run."""
    model = f"{prefix}-{uuid.uuid4().hex[:6]}"
    admin.create_registered_model(model)
    run = admin.create_run("0")
    source = f"runs:/{run.info.run_id}/model"
    v1, v2 = (str(admin.create_model_version(model, source, run_id=run.info.run_id).version)
              for _ in range(2))  # fmt: skip
    admin.set_model_version_tag(model, v1, lineage.TAG_OVERRIDE_REASON, "first model")
    admin.set_registered_model_alias(model, "champion", v1)
    return model, v1, v2, run.info.run_id


@pytest.mark.security
def test_a_reader_cannot_move_champion(
    team: TeamServer, admin: MlflowClient, tmp_path: Path
) -> None:
    from mlflow.server.auth.client import AuthServiceClient

    model, v1, v2, run_id = _model_with_a_champion(admin, "guarded")
    for key, value in evidence_tags(v1, run_id=run_id).items():
        admin.set_model_version_tag(model, v2, key, value)  # evidence the gate would accept
    AuthServiceClient(team.url).create_user("bob", USER_PASSWORD)  # READ by default
    bob = team.client_env(user="bob", password=USER_PASSWORD, signs=False)

    refused = [
        run_client(bob, "override", "--model", model, "--version", v2, "--reason", "x",
                   cwd=tmp_path),
        run_client(bob, "promote", "--model", model, "--version", v2, cwd=tmp_path),
    ]  # fmt: skip
    ajax = requests.post(f"{team.url}/ajax-api/2.0/mlflow/registered-models/alias",
                         json={"name": model, "alias": "champion", "version": v2},
                         auth=("bob", USER_PASSWORD), timeout=30)  # fmt: skip

    for result in refused:
        assert result.code == 1, (result.code, result.stderr[-2000:])
        lines = [li for li in result.stderr.splitlines() if li.startswith(ERROR)]
        assert len(lines) == 1, result.stderr[-3000:]
        assert "denied permission (HTTP 403" in lines[0], lines[0]
        assert "on the registered model. Ask an admin to grant it" in lines[0], lines[0]
    assert ajax.status_code == 403, ajax.text
    assert aliases(admin, model) == {"champion": v1}


def _registry_state(admin: MlflowClient, model: str) -> dict[str, Any]:
    held = admin.get_registered_model(model)
    return {
        "aliases": {k: str(v) for k, v in held.aliases.items()},
        "tags": dict(held.tags),
        "versions": {
            str(v.version): dict(v.tags) for v in admin.search_model_versions(f"name = '{model}'")
        },
    }


@pytest.mark.security
def test_an_editor_cannot_walk_around_the_gate_and_an_owners_override_is_audited(
    team: TeamServer, admin: MlflowClient
) -> None:
    from mlflow.server.auth.client import AuthServiceClient

    # The README's script itself: an editor (EDIT on the model) tries the routes of the
    # hostile-insider suite (tests/integration/test_guard_server.py runs all of them) through
    # the REST API and the UI's ajax API; an owner (MANAGE) then overrides.
    model, v1, v2, _ = _model_with_a_champion(admin, "insider")
    auth = AuthServiceClient(team.url)
    for user, password, permission in (("eve", EDITOR_PASSWORD, "EDIT"),
                                       ("alice", OWNER_PASSWORD, "MANAGE")):  # fmt: skip
        auth.create_user(user, password)
        auth.grant_user_permission(user, "registered_model", model, permission)
    before = _registry_state(admin, model)
    now = str(int(time.time() * 1000))
    forged = [
        ("model-versions/set-tag", {"version": v2, "key": lineage.TAG_DECISION,
                                    "value": "promote"}, "evidence the gate reads"),
        ("model-versions/set-tag", {"version": v2, "key": lineage.TAG_EVIDENCE_TIME,
                                    "value": now}, "evidence the gate reads"),
        ("model-versions/set-tag", {"version": v2, "key": lineage.TAG_EVIDENCE_RECORD,
                                    "value": "{}"}, "evidence the gate reads"),
        ("registered-models/set-tag", {"key": lineage.TAG_POLICY,
                                       "value": '{"primary_metric": "accuracy"}'},
         "promotion policy"),
        ("registered-models/set-tag", {"key": lineage.TAG_AUDIT_PREFIX + now, "value": "{}"},
         "append-only"),
        ("model-versions/set-tag", {"version": v2, "key": lineage.TAG_OVERRIDE_REASON,
                                    "value": "trust me"}, "override of the promotion gate"),
        ("registered-models/rename", {"new_name": model + "-old"}, "structure change"),
        ("registered-models/alias", {"alias": "champion", "version": v2}, "Promotion gate"),
    ]  # fmt: skip

    for prefix in ("/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/"):
        for path, body, words in forged:
            answer = requests.post(team.url + prefix + path, json={"name": model, **body},
                                   auth=("eve", EDITOR_PASSWORD), timeout=30)  # fmt: skip
            message = answer.json().get("message", answer.text)
            assert answer.status_code in (400, 403), (path, answer.status_code, message)
            assert words in message, (path, message)
            assert "\n" not in message.strip(), (path, message)
    assert _registry_state(admin, model) == before

    # The owner's override goes through, spent on use and recorded with the owner's name.
    alice = team.client_env(user="alice", password=OWNER_PASSWORD, signs=False)
    done = run_client(alice, "override", "--model", model, "--version", v2, "--reason",
                      "hotfix signed off by risk", cwd=Path(team.workdir))  # fmt: skip

    assert done.code == 0, done.stderr[-3000:]
    assert aliases(admin, model) == {"champion": v2, "previous-champion": v1}
    record = audit_records(admin, model)[-1]
    assert (record["kind"], record["user"], record["to"]) == ("override", "alice", v2)
    assert lineage.TAG_OVERRIDE_REASON not in admin.get_model_version(model, v2).tags


def test_direct_artifact_mode_writes_from_the_client_to_s3(
    postgres_url: str, moto_server: str, data_bucket: str, tmp_path: Path
) -> None:
    server = TeamServer(
        db_uri=with_password(postgres_url, DB_PASSWORD),
        bucket=_bucket(moto_server, "direct"),
        s3_endpoint=moto_server,
        workdir=tmp_path,
        mode="direct",
    )
    with running(server):
        env = server.client_env(data_s3=moto_server)  # the client writes artifacts itself
        result = run_client(env, "run", "--config",
                            str(_config(tmp_path, data_bucket, create=True)),
                            "--batch", f"s3://{data_bucket}/batches/month_01.csv",
                            cwd=tmp_path)  # fmt: skip
        server_log = "".join(log.read_text(errors="replace") for log in server.logs)

    assert result.code == 0, result.stderr[-3000:]
    assert result.data is not None
    assert result.data["outcome"] == "promoted"
    keys = [o["Key"] for o in _s3(moto_server).list_objects_v2(
        Bucket=server.bucket, Prefix="mlflow/").get("Contents", [])]  # fmt: skip
    assert any(key.endswith("/MLmodel") for key in keys), keys[:20]
    # No artifact passed through the server: it never served an artifact route.
    assert "mlflow-artifacts/artifacts" not in server_log


def _stored_text(team: TeamServer, client: MlflowClient, moto_server: str) -> dict[str, str]:
    """Everything the deployment stored or printed, by where it came from."""
    found: dict[str, str] = {"client output": "\n".join(CLIENT_OUTPUT)}
    found["server logs"] = "".join(p.read_text(errors="replace") for p in team.logs)
    parts = []
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id], max_results=5000):
            parts.append(json.dumps({"params": run.data.params, "tags": run.data.tags,
                                     "name": run.info.run_name}))  # fmt: skip
    found["run params and tags"] = "\n".join(parts)
    parts = []
    for model in client.search_registered_models():
        parts.append(json.dumps({"tags": model.tags, "description": model.description}))
        for version in client.search_model_versions(f"name = '{model.name}'"):
            parts.append(json.dumps({"tags": version.tags, "description": version.description,
                                     "source": version.source}))  # fmt: skip
    found["registry"] = "\n".join(parts)
    s3 = _s3(moto_server)
    parts = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=team.bucket):
        for obj in page.get("Contents", []):
            if obj["Size"] < 5_000_000:
                body = s3.get_object(Bucket=team.bucket, Key=obj["Key"])["Body"].read()
                parts.append(body.decode("utf-8", errors="replace"))
    found[f"S3 artifacts ({len(parts)} objects)"] = "\n".join(parts)
    dump = shutil.which("pg_dump")
    if dump is not None:
        database = team.db_uri.replace(f":{DB_PASSWORD}", "")
        done = subprocess.run([dump, "--data-only", database], capture_output=True, timeout=120,
                              check=True)  # fmt: skip
        found["database dump"] = done.stdout.decode(errors="replace")
    return found


def test_no_secret_appears_in_anything_the_deployment_logged(
    team: TeamServer, admin: MlflowClient, moto_server: str, tmp_path: Path
) -> None:
    # A login with a wrong password fails with a message that does not echo it.
    failing = run_client(team.client_env(user="admin", password=USER_PASSWORD),
                         "promote", "--model", MODEL, cwd=tmp_path)  # fmt: skip
    assert failing.code == 1, failing.stderr[-2000:]
    assert "HTTP 401" in failing.stderr
    stored = _stored_text(team, admin, moto_server)
    assert len(stored["run params and tags"]) > 1000  # the cycles above were all recorded
    assert any(key.startswith("S3 artifacts") and len(text) > 10_000
               for key, text in stored.items())  # fmt: skip

    leaks = [(secret, where) for where, text in stored.items() for secret in SECRETS
             if secret in text]  # fmt: skip

    assert leaks == []


def test_the_script_refuses_to_start_without_an_evidence_key(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "MLFLOW_RETRAIN_DB_URI": "postgresql://u:p@127.0.0.1:1/db",
        "MLFLOW_RETRAIN_ARTIFACTS": "s3://bucket/prefix",
        "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "x" * 32,
    }

    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True,
                          timeout=30, cwd=tmp_path)  # fmt: skip

    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "set MLFLOW_RETRAIN_EVIDENCE_KEY_FILE (or MLFLOW_RETRAIN_EVIDENCE_KEY" in done.stderr
