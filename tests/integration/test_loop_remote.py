"""The retraining loop (`mlflow-retrain run`) across processes and servers.

A cycle killed mid-retrain resumes without a duplicate version; a history in S3 is listed and
read from there; a cycle against a tracking server registers and promotes. The in-process
tests of the loop are in ``tests/unit/pipeline/test_loop.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.pipeline import run_cycle, write_loop_project
from helpers.registry import version_numbers
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.integration

MODEL = "credit-default"


@pytest.fixture
def project(tracking_uri: str, tmp_path: Path) -> Path:
    """The loop's ``retrain.yaml`` over months 1 and 2, with a private tracking store."""
    return write_loop_project(tmp_path, MODEL)


def test_a_cycle_killed_mid_retrain_resumes_without_a_duplicate_version(
    tracking_uri: str, project: Path
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    first = str(project.parent / "data" / "month_01.csv")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    # The same experiment as the run that resumes it: the loop trusts only its own experiment.
    env["MLFLOW_EXPERIMENT_NAME"] = "test"
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow_retrain.cli", "run", "--config", str(project),
         "--batch", first],
        env=env, cwd=project.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = MlflowClient(tracking_uri)
    deadline = time.monotonic() + 120
    try:
        # Kill it the moment the version is registered: mid-cycle, before compare and promote.
        while (
            not version_numbers(client, MODEL)
            and process.poll() is None
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        assert process.poll() is None, "the cycle ended before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert len(version_numbers(client, MODEL)) == 1
    (killed,) = client.search_runs(
        [client.get_experiment_by_name("test").experiment_id],
        filter_string="tags.`mlflow_retrain.step` = 'run'",
    )
    assert killed.info.status == "RUNNING"  # it died; nobody closed it

    code, data, stderr = run_cycle(project, "--batch", first)

    assert code == 0, stderr
    assert data is not None
    assert data["outcome"] == "promoted"
    assert len(version_numbers(client, MODEL)) == 1  # the version of the killed attempt was reused
    resumed = client.get_run(data["run_id"])
    assert resumed.data.tags["mlflow_retrain.cycle_id"] == killed.info.run_id
    assert {k: str(v) for k, v in client.get_registered_model(MODEL).aliases.items()} == {
        "champion": "1"
    }


def test_a_history_in_s3_is_listed_in_time_order_and_read_from_there(
    tracking_uri: str, project: Path, s3_env: str, s3_client: Any
) -> None:
    from mlflow_retrain.config import HistoryConfig
    from mlflow_retrain.pipeline.loop import list_batches

    for month in (1, 2):
        body = (project.parent / "data" / f"month_{month:02d}.csv").read_bytes()
        s3_client.put_object(Bucket=s3_env, Key=f"credit/month_{month:02d}.csv", Body=body)
    s3_client.put_object(Bucket=s3_env, Key="credit/README.txt", Body=b"not a batch")
    s3_client.put_object(Bucket=s3_env, Key="other/month_03.csv", Body=b"x")

    history = HistoryConfig(source=f"s3://{s3_env}/credit/", pattern="month_*.csv")

    assert list_batches(history) == [
        f"s3://{s3_env}/credit/month_01.csv",
        f"s3://{s3_env}/credit/month_02.csv",
    ]
    config = yaml.safe_load(project.read_text())
    config["history"] = {"source": f"s3://{s3_env}/credit/", "pattern": "month_*.csv"}
    project.write_text(yaml.safe_dump(config))
    code, data, stderr = run_cycle(project)  # the newest batch: month 2, with month 1 as history
    assert code == 0, stderr
    assert data is not None
    assert data["batch"] == f"s3://{s3_env}/credit/month_02.csv"
    assert data["trigger"] == "first_deployment"


def test_a_cycle_against_a_tracking_server_registers_and_promotes(
    project: Path, mlflow_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    # A server checks that a ``models:/<id>`` source comes with its model id; a local store
    # does not, so only this path caught a registration that forgot it.
    from mlflow.tracking import fluent

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.setattr(fluent, "_active_experiment_id", None)  # the local store's experiment
    mlflow.set_tracking_uri(mlflow_server)
    config = yaml.safe_load(project.read_text())
    config["model_name"] = "credit-default-served"
    project.write_text(yaml.safe_dump(config))

    code, data, stderr = run_cycle(
        project, "--batch", str(project.parent / "data" / "month_01.csv")
    )

    assert code == 0, stderr
    assert data is not None
    assert (data["outcome"], data["champion_version"]) == ("promoted", "1")
    client = MlflowClient(mlflow_server)
    version = client.get_model_version("credit-default-served", "1")
    assert version.source.startswith("models:/m-")
    assert version.aliases == ["champion"]
