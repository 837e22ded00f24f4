"""Faults on the team deployment: each test breaks something mid-cycle and checks the aftermath.

The deployment is ``deploy/team-server.sh`` on a fresh PostgreSQL database with the gate plugin,
basic-auth, and artifacts proxied to moto S3 through a proxy that can fail requests. Clients are
separate ``mlflow-retrain`` processes. Every test ends with nothing lost and the registry
consistent: no version without its cycle, no alias half moved, and a re-run that finishes.

The tests share one server (and database) and each works on a model of its own, as the teams of
one server do; a test that breaks something restores it before the next begins.

The server runs without the basic-auth app here (``MLFLOW_RETRAIN_AUTH=none``): its password
check costs about 0.1 s of CPU per request, which would double these tests' time, and no fault
here concerns authentication (``test_team_server.py`` covers it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import optuna
import psycopg
import pytest
import yaml
from helpers.examples import credit_month
from helpers.registry import aliases, audit_records, version_numbers
from mlflow.tracking import MlflowClient
from teamserver import (
    ADMIN_PASSWORD,
    DB_PASSWORD,
    S3FaultProxy,
    TeamServer,
    run_client,
    running,
    with_password,
    write_signed_evidence,
)

from mlflow_retrain import lineage

pytestmark = [pytest.mark.integration, pytest.mark.fault]

#: Client retries kept short where a fault is meant to fail the step, not to be waited out.
FAIL_FAST = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}


def _s3(moto_server: str) -> Any:
    return boto3.client("s3", endpoint_url=moto_server, aws_access_key_id="setup",
                        aws_secret_access_key="setup", region_name="us-east-1")  # fmt: skip


@pytest.fixture(scope="module")
def data_bucket(moto_server: str) -> str:
    bucket = f"data-{uuid.uuid4().hex[:12]}"
    s3 = _s3(moto_server)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="batches/month_01.csv", Body=credit_month(1))
    return bucket


@pytest.fixture(scope="module")
def module_proxy(moto_server: str) -> Iterator[S3FaultProxy]:
    with S3FaultProxy(moto_server) as fault_proxy:
        yield fault_proxy


@pytest.fixture
def proxy(module_proxy: S3FaultProxy) -> Iterator[S3FaultProxy]:
    """The server's S3 proxy, forwarding everything again when the test ends."""
    module_proxy.fail_when, module_proxy.failed = None, 0
    yield module_proxy
    module_proxy.fail_when = None


@pytest.fixture(scope="module")
def team(
    module_postgres_url: str, moto_server: str, module_proxy: S3FaultProxy,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TeamServer]:  # fmt: skip
    """The module's team server, whose S3 traffic passes through ``module_proxy``."""
    bucket = f"artifacts-{uuid.uuid4().hex[:12]}"
    _s3(moto_server).create_bucket(Bucket=bucket)
    server = TeamServer(db_uri=with_password(module_postgres_url, DB_PASSWORD), bucket=bucket,
                        s3_endpoint=module_proxy.url, workdir=tmp_path_factory.mktemp("team"),
                        auth="none")  # fmt: skip
    with running(server):
        yield server


@pytest.fixture
def model() -> str:
    """A model of the test's own on the shared server."""
    return f"credit-faults-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def admin(team: TeamServer, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
    return MlflowClient(tracking_uri=team.url)


def _config(tmp_path: Path, data_bucket: str, model: str, **tuning: Any) -> Path:
    config = {
        "model_name": model,
        "target": "default",
        "timestamp": "application_date",
        "history": {"source": f"s3://{data_bucket}/batches/", "pattern": "month_*.csv"},
        "tuning": {"n_trials": 2, "estimators": ["linear"], "cv_folds": 2, **tuning},
        "model": {"create": True},  # each fault starts from a model of its own
    }
    path = tmp_path / "retrain.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _cycles(client: MlflowClient, model: str) -> list[Any]:
    experiments = [e.experiment_id for e in client.search_experiments()]
    query = f"tags.`{lineage.TAG_STEP}` = 'run' and tags.`{lineage.TAG_MODEL_NAME}` = '{model}'"
    return list(client.search_runs(experiments, filter_string=query))


def _error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("mlflow-retrain: error:")]
    assert len(lines) == 1, stderr[-3000:]
    return lines[0]


def test_s3_down_while_the_model_is_uploaded(
    team: TeamServer, admin: MlflowClient, proxy: S3FaultProxy, data_bucket: str,
    moto_server: str, model: str, tmp_path: Path,
) -> None:  # fmt: skip
    env = {**team.client_env(data_s3=moto_server), **FAIL_FAST}
    args = ("run", "--config", str(_config(tmp_path, data_bucket, model)))
    # Every upload of a logged model's files fails, as during an S3 outage; the step's reports
    # and the training window (other paths) still go through.
    proxy.fail_when = lambda method, path: method in ("PUT", "POST") and "/models/m-" in path

    failed = run_client(env, *args, cwd=tmp_path)

    assert proxy.failed > 0, "the model upload never reached S3"
    assert failed.code == 1, failed.stderr[-3000:]
    _error_line(failed.stderr)
    assert version_numbers(admin, model) == []
    assert aliases(admin, model, missing_ok=True) == {}
    (cycle,) = _cycles(admin, model)
    assert cycle.info.status == "FAILED"
    assert cycle.data.tags[lineage.TAG_FAILURE_REASON]

    proxy.fail_when = None
    again = run_client(env, *args, cwd=tmp_path)

    assert again.code == 0, again.stderr[-3000:]
    assert again.data is not None
    assert (again.data["outcome"], again.data["champion_version"]) == ("promoted", "1")
    assert version_numbers(admin, model) == ["1"]
    assert aliases(admin, model, missing_ok=True) == {"champion": "1"}
    resumed = admin.get_run(str(again.data["run_id"]))
    assert resumed.data.tags[lineage.TAG_CYCLE] == cycle.info.run_id


def test_the_tracking_server_restarts_mid_cycle(
    team: TeamServer, admin: MlflowClient, data_bucket: str, moto_server: str, model: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    env = team.client_env(data_s3=moto_server)  # the default client retries, as users have
    config = _config(tmp_path, data_bucket, model, n_trials=6)
    command = [sys.executable, "-m", "mlflow_retrain.cli", "run", "--config", str(config)]
    client = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)  # fmt: skip
    started = len(_trial_runs(admin))  # other tests' trials share the server
    try:
        deadline = time.monotonic() + 300
        while len(_trial_runs(admin)) == started:
            assert client.poll() is None, client.communicate()[1].decode()[-3000:]
            assert time.monotonic() < deadline, "tuning never started"
            time.sleep(0.2)
        team.stop(signal.SIGKILL)  # a crash, not a clean shutdown
        time.sleep(2)
        team.start()
        _, err = client.communicate(timeout=600)
    finally:
        if client.poll() is None:
            client.kill()
    first_code = client.returncode
    if first_code != 0:  # the cycle may fail on the outage; then the next run resumes it
        again = run_client(env, "run", "--config", str(config), cwd=tmp_path)
        assert again.code == 0, again.stderr[-3000:]

    assert first_code in (0, 1), err.decode()[-3000:]
    assert version_numbers(admin, model) == ["1"]
    assert aliases(admin, model, missing_ok=True) == {"champion": "1"}
    (record,) = audit_records(admin, model)
    assert record["kind"] == "first_deployment"
    finished = [r for r in _cycles(admin, model) if r.info.status == "FINISHED"]
    assert [r.data.tags[lineage.TAG_OUTCOME] for r in finished] == ["promoted"]


def _trial_runs(client: MlflowClient) -> list[Any]:
    experiments = [e.experiment_id for e in client.search_experiments()]
    return list(
        client.search_runs(experiments, filter_string="tags.`mlflow_retrain.step` = 'trial'")
    )


def _tune_workers(pid: int) -> list[int]:
    """The ``tune-worker`` processes that process ``pid`` started."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == pid and b"tune-worker" in command:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the worker process through /proc")
def test_a_tuning_worker_killed_with_sigkill_leaves_the_study_to_finish(
    team: TeamServer, admin: MlflowClient, data_bucket: str, moto_server: str, model: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    config = _config(tmp_path, data_bucket, model, n_trials=12, workers=2, heartbeat_interval=1,
                     pruner="none", storage=storage)  # fmt: skip
    env = team.client_env(data_s3=moto_server)
    command = [sys.executable, "-m", "mlflow_retrain.cli", "retrain", "--config", str(config),
               "--train", f"s3://{data_bucket}/batches/month_01.csv", "--model", model,
               "--target", "default", "--study-name", "killed-worker"]  # fmt: skip
    main = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        worker: int | None = None
        while worker is None or _complete(storage) < 2:
            assert main.poll() is None, main.communicate()[1].decode()[-3000:]
            assert time.monotonic() < deadline, "the study never got going"
            worker = worker or next(iter(_tune_workers(main.pid)), None)
            time.sleep(0.1)
        os.kill(worker, signal.SIGKILL)
        killed_at = _complete(storage)
        _, err = main.communicate(timeout=600)
    finally:
        if main.poll() is None:
            main.kill()

    assert main.returncode == 0, err.decode()[-3000:]
    assert killed_at < 12, "the worker was killed after the study had finished"
    trials = optuna.load_study(study_name="killed-worker", storage=storage).get_trials()
    states = [t.state.name for t in trials]
    assert states.count("COMPLETE") >= 12
    assert "RUNNING" not in states  # a trial the kill interrupted is failed as stale
    assert version_numbers(admin, model) == ["1"]


def _complete(storage: str) -> int:
    try:
        study = optuna.load_study(study_name="killed-worker", storage=storage)
    except KeyError:
        return 0
    return sum(t.state.name == "COMPLETE" for t in study.get_trials(deepcopy=False))


def test_two_pipeline_runs_at_once_promote_at_most_once(
    team: TeamServer, admin: MlflowClient, data_bucket: str, moto_server: str, model: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    env = team.client_env(data_s3=moto_server)
    config = _config(tmp_path, data_bucket, model)
    outs = [tmp_path / f"cycle-{i}.json" for i in range(2)]
    processes = [
        subprocess.Popen([sys.executable, "-m", "mlflow_retrain.cli", "run", "--config",
                          str(config), "--json-out", str(out)], env=env, cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for out in outs
    ]  # fmt: skip
    errors = [p.communicate(timeout=600)[1].decode() for p in processes]

    assert [p.returncode for p in processes] == [0, 0], [e[-2000:] for e in errors]
    outcomes = sorted(json.loads(out.read_text())["outcome"] for out in outs)
    assert outcomes == ["busy", "promoted"]
    assert version_numbers(admin, model) == ["1"]
    assert aliases(admin, model, missing_ok=True) == {"champion": "1"}
    assert len(audit_records(admin, model)) == 1
    # The run that stepped back does not count as having processed the batch.
    again = run_client(env, "run", "--config", str(config), cwd=tmp_path)
    assert again.data is not None
    assert again.data["outcome"] == "already_processed"


_DROP_ON_AUDIT = """
CREATE OR REPLACE FUNCTION drop_connection() RETURNS trigger AS $$
BEGIN
  IF NEW.name = '{model}' AND NEW.key LIKE 'mlflow_retrain.audit.%' THEN
    PERFORM pg_terminate_backend(pg_backend_pid());
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER drop_connection BEFORE INSERT ON registered_model_tags
  FOR EACH ROW EXECUTE FUNCTION drop_connection();
"""


def test_the_database_connection_drops_during_a_promotion(
    team: TeamServer, admin: MlflowClient, model: str, tmp_path: Path
) -> None:
    admin.create_registered_model(model)
    run = admin.create_run("0")
    admin.log_text(run.info.run_id, "flavors: {}", "model/MLmodel")  # artifacts to bind to
    v1, v2 = (str(admin.create_model_version(model, f"runs:/{run.info.run_id}/model",
                                             run_id=run.info.run_id).version)
              for _ in range(2))  # fmt: skip
    for version, baseline in ((v1, "none"), (v2, v1)):
        write_signed_evidence(admin, model, version, baseline=baseline, run_id=run.info.run_id)
    admin.set_registered_model_alias(model, "champion", v1)
    before = (
        aliases(admin, model, missing_ok=True),
        admin.get_model_version(model, v2).tags,
        audit_records(admin, model),
    )
    database = team.db_uri.replace(f":{DB_PASSWORD}", "")
    with psycopg.connect(database, autocommit=True) as conn:
        # The last write of this model's promotion kills its connection.
        conn.execute(_DROP_ON_AUDIT.replace("{model}", model).encode())
    env = {**team.client_env(), **FAIL_FAST}

    try:
        failed = run_client(env, "promote", "--model", model, "--version", v2, cwd=tmp_path)
    finally:
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute("DROP TRIGGER drop_connection ON registered_model_tags")

    assert failed.code == 1, failed.stderr[-3000:]
    _error_line(failed.stderr)
    # The alias moves and status tags written before the drop were rolled back with it.
    assert (
        aliases(admin, model, missing_ok=True),
        admin.get_model_version(model, v2).tags,
        audit_records(admin, model),
    ) == before

    again = run_client(env, "promote", "--model", model, "--version", v2, cwd=tmp_path)

    assert again.code == 0, again.stderr[-3000:]
    assert aliases(admin, model, missing_ok=True) == {"champion": v2, "previous-champion": v1}
    assert [r["kind"] for r in audit_records(admin, model)][-1] == "promotion"
    assert len(audit_records(admin, model)) == len(before[2]) + 1
