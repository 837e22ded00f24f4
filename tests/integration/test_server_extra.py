"""The ``server`` extra holds everything ``deploy/team-server.sh`` needs, and nothing more.

A fresh virtual environment gets ``pip install ".[server]"`` alone, as the README's team-server
walk-through says, and the script starts from it with PostgreSQL, S3 (moto) and basic-auth: the
server answers, wants a login, and its registry store is the promotion gate.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest
import requests
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from teamserver import ADMIN_PASSWORD, DB_PASSWORD, TeamServer, running, with_password

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def test_a_fresh_venv_with_only_the_server_extra_starts_the_team_server(
    postgres_url: str, moto_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = tmp_path / "server-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    # --no-compile: the install is what this test checks, and byte-compiling MLflow's files
    # would be half its time (the server then compiles only what it imports).
    installed = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--no-compile", f"{REPO}[server]"],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]
    bucket = f"extra-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_server, aws_access_key_id="setup",
                 aws_secret_access_key="setup", region_name="us-east-1",
                 ).create_bucket(Bucket=bucket)  # fmt: skip
    server = TeamServer(
        db_uri=with_password(postgres_url, DB_PASSWORD),
        bucket=bucket,
        s3_endpoint=moto_server,
        workdir=tmp_path,
        bin_dir=venv / "bin",
        workers=1,  # one process to start; the workers' count is not what is tested here
    )

    with running(server):
        anonymous = requests.get(f"{server.url}/api/2.0/mlflow/experiments/search",
                                 params={"max_results": 1}, timeout=30)  # fmt: skip
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
        admin = MlflowClient(tracking_uri=server.url)
        admin.create_registered_model("extra")
        run = admin.create_run("0")
        version = admin.create_model_version(
            "extra", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id
        ).version
        with pytest.raises(MlflowException, match="has no signed evidence record") as refused:
            admin.set_registered_model_alias("extra", "champion", version)
        aliases = admin.get_registered_model("extra").aliases
    log = "".join(p.read_text(errors="replace") for p in server.logs)

    assert "Flask-WTF" not in log
    assert anonymous.status_code == 401  # basic-auth is on
    # The registry store in that environment is the promotion gate (HTTP 400, nothing moved).
    assert refused.value.get_http_status_code() == 400
    assert aliases == {}
