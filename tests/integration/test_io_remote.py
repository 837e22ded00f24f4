"""Loading tables from S3 (a moto server) and from a real MLflow tracking server."""

from __future__ import annotations

import gzip
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from helpers.servers import free_port
from helpers.tables import CSV, assert_table, parquet_bytes
from mlflow import MlflowClient
from mlflow.entities import Run

from mlflow_retrain.data import load_table, read_bytes
from mlflow_retrain.exceptions import InvalidInputError

pytestmark = pytest.mark.integration

ENDPOINT_VARS = ("MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


# --- S3 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "body"),
    [
        ("batch.csv", CSV),
        ("nested/dir/batch.csv.gz", gzip.compress(CSV, mtime=0)),
        ("batch.parquet", parquet_bytes()),
        ("exports/batch-no-extension", parquet_bytes()),
    ],
    ids=["csv", "csv-gz", "parquet", "sniffed-parquet"],
)
def test_load_table_reads_s3_object(s3_env: str, s3_client: Any, key: str, body: bytes) -> None:
    s3_client.put_object(Bucket=s3_env, Key=key, Body=body)
    assert_table(load_table(f"s3://{s3_env}/{key}"))


def test_read_bytes_reads_s3_object(s3_env: str, s3_client: Any) -> None:
    s3_client.put_object(Bucket=s3_env, Key="model.json", Body=b'{"a": 1}')
    assert read_bytes(f"s3://{s3_env}/model.json") == b'{"a": 1}'


def test_load_table_rejects_missing_s3_key(s3_env: str) -> None:
    message = (
        f"'s3://{s3_env}/nope.csv' does not exist: bucket '{s3_env}' has no object with key "
        "'nope.csv'. Check the key"
    )
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        load_table(f"s3://{s3_env}/nope.csv")


def test_load_table_rejects_missing_s3_bucket(s3_env: str) -> None:
    bucket = f"missing-{uuid.uuid4().hex[:12]}"
    with pytest.raises(
        InvalidInputError,
        match=re.escape(f"there is no bucket '{bucket}' at this endpoint. Check"),
    ):
        load_table(f"s3://{bucket}/batch.csv")


def test_load_table_rejects_empty_s3_object(s3_env: str, s3_client: Any) -> None:
    s3_client.put_object(Bucket=s3_env, Key="batch.csv", Body=b"")
    with pytest.raises(InvalidInputError, match=r"batch.csv' is empty \(0 bytes\)"):
        load_table(f"s3://{s3_env}/batch.csv")


@pytest.mark.parametrize("key", ["", "exports/"])
def test_load_table_rejects_s3_prefix(s3_env: str, key: str) -> None:
    with pytest.raises(InvalidInputError, match="names a bucket or prefix, not an object"):
        load_table(f"s3://{s3_env}/{key}")


@pytest.fixture
def iam_key(moto_server: str) -> tuple[str, str]:
    """An access key of a new moto IAM user without any policy: (key ID, secret)."""
    iam = boto3.client("iam", endpoint_url=moto_server)
    user = f"user-{uuid.uuid4().hex[:12]}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


@pytest.mark.parametrize(
    ("credentials", "code"),
    [
        ("unknown-key", "InvalidAccessKeyId"),
        ("wrong-secret", "SignatureDoesNotMatch"),
        ("no-permission", "AccessDenied"),
    ],
)
def test_load_table_reports_rejected_s3_credentials_without_echoing_them(
    s3_env: str,
    s3_client: Any,
    iam_key: tuple[str, str],
    moto_enforce_auth: Callable[[], None],
    monkeypatch: pytest.MonkeyPatch,
    credentials: str,
    code: str,
) -> None:
    s3_client.put_object(Bucket=s3_env, Key="batch.csv", Body=CSV)
    key_id, secret = {
        "unknown-key": ("AKIAUNKNOWNKEY000000", "unknown-secret-value"),
        "wrong-secret": (iam_key[0], "wrong-secret-value"),
        "no-permission": iam_key,
    }[credentials]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    moto_enforce_auth()
    with pytest.raises(
        InvalidInputError,
        match=f"S3 refused to read 's3://{s3_env}/batch.csv' \\({code}: .*Check the credentials "
        "in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
    ) as info:
        load_table(f"s3://{s3_env}/batch.csv")
    assert key_id not in str(info.value)
    assert secret not in str(info.value)


def test_load_table_reports_missing_s3_credentials(
    s3_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(InvalidInputError, match="No complete AWS credentials were found"):
        load_table(f"s3://{s3_env}/batch.csv")


def test_load_table_reports_unknown_aws_profile(
    s3_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    with pytest.raises(InvalidInputError, match="The AWS profile 'no-such-profile' named by"):
        load_table(f"s3://{s3_env}/batch.csv")


@pytest.mark.parametrize("variable", ENDPOINT_VARS)
def test_load_table_names_unreachable_s3_endpoint_and_its_variable(
    s3_env: str, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    for name in ENDPOINT_VARS:
        monkeypatch.delenv(name, raising=False)
    endpoint = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv(variable, endpoint)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # connection refused is retried otherwise
    host = endpoint.removeprefix("http://")
    with pytest.raises(
        InvalidInputError,
        match=f"Cannot reach the S3 endpoint {host} \\(from {variable}\\) .*or fix {variable}",
    ):
        load_table(f"s3://{s3_env}/batch.csv")


def test_load_table_hides_credentials_in_unreachable_endpoint(
    s3_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = f"http://minio:hunter2@127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(
        InvalidInputError, match=r"Cannot reach the S3 endpoint 127\.0\.0\.1"
    ) as info:
        load_table(f"s3://{s3_env}/batch.csv")
    assert "hunter2" not in str(info.value)


def test_mlflow_s3_endpoint_takes_precedence_over_aws_endpoint(
    s3_env: str, s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3_client.put_object(Bucket=s3_env, Key="batch.csv", Body=CSV)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
    assert_table(load_table(f"s3://{s3_env}/batch.csv"))


# --- MLflow tracking server ----------------------------------------------------------------------


@pytest.fixture
def served_run(mlflow_server: str, tmp_path: Path) -> Run:
    """A run on the tracking server with ``data/ref.csv`` and ``data/ref.parquet`` logged."""
    client = MlflowClient(tracking_uri=mlflow_server)
    experiment_id = client.create_experiment(f"io-{uuid.uuid4().hex[:12]}")
    run = client.create_run(experiment_id)
    upload = tmp_path / "upload"
    upload.mkdir()
    (upload / "ref.csv").write_bytes(CSV)
    (upload / "ref.parquet").write_bytes(parquet_bytes())
    client.log_artifacts(run.info.run_id, str(upload), artifact_path="data")
    client.set_terminated(run.info.run_id)
    return client.get_run(run.info.run_id)


def test_served_run_stores_artifacts_behind_the_server(served_run: Run) -> None:
    assert served_run.info.artifact_uri.startswith("mlflow-artifacts:/")


@pytest.mark.parametrize("name", ["ref.csv", "ref.parquet"])
def test_load_table_reads_run_artifact_through_server(
    served_run: Run, mlflow_server: str, name: str
) -> None:
    uri = f"runs:/{served_run.info.run_id}/data/{name}"
    assert_table(load_table(uri, tracking_uri=mlflow_server))


def test_load_table_reads_mlflow_artifacts_uri(served_run: Run, mlflow_server: str) -> None:
    uri = f"{served_run.info.artifact_uri}/data/ref.parquet"
    assert_table(load_table(uri, tracking_uri=mlflow_server))


def test_load_table_reads_mlflow_artifacts_uri_from_the_host_it_names(
    served_run: Run, mlflow_server: str
) -> None:
    path = served_run.info.artifact_uri.removeprefix("mlflow-artifacts:")
    host = mlflow_server.removeprefix("http://")
    uri = f"mlflow-artifacts://{host}{path}/data/ref.csv"
    # MLflow takes only the scheme from the tracking URI here; nothing listens on this one.
    assert_table(load_table(uri, tracking_uri=f"http://127.0.0.1:{free_port()}"))


def test_load_table_uses_tracking_uri_from_environment(
    served_run: Run, mlflow_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    assert_table(load_table(f"{served_run.info.artifact_uri}/data/ref.csv"))


def test_load_table_reads_file_of_registered_model_through_server(
    served_run: Run, mlflow_server: str
) -> None:
    client = MlflowClient(tracking_uri=mlflow_server)
    name = f"model-{uuid.uuid4().hex[:12]}"
    client.create_registered_model(name)
    client.create_model_version(
        name, source=f"{served_run.info.artifact_uri}/data", run_id=served_run.info.run_id
    )
    client.set_registered_model_alias(name, "champion", "1")
    assert_table(load_table(f"models:/{name}@champion/ref.csv", tracking_uri=mlflow_server))


@pytest.mark.parametrize(
    ("template", "detail"),
    [
        ("runs:/{run_id}/data/missing.csv", "ensure that the path is correct"),
        ("{artifact_uri}/data/missing.csv", "the tracking server answered 404 Not Found"),
        ("runs:/0123456789abcdef0123456789abcdef/data/ref.csv", "Run with id=.* not found"),
    ],
    ids=["runs", "mlflow-artifacts", "missing-run"],
)
def test_load_table_rejects_missing_artifact_on_server(
    served_run: Run, mlflow_server: str, template: str, detail: str
) -> None:
    uri = template.format(run_id=served_run.info.run_id, artifact_uri=served_run.info.artifact_uri)
    with pytest.raises(InvalidInputError, match=f"does not exist \\(.*{detail}"):
        load_table(uri, tracking_uri=mlflow_server)


def test_load_table_reads_run_artifact_proxied_to_s3(
    start_mlflow_server: Callable[..., str], s3_env: str, s3_client: Any, tmp_path: Path
) -> None:
    server = start_mlflow_server(artifacts_destination=f"s3://{s3_env}/mlartifacts")
    client = MlflowClient(tracking_uri=server)
    run = client.create_run(client.create_experiment("s3-proxied"))
    (tmp_path / "ref.csv").write_bytes(CSV)
    client.log_artifact(run.info.run_id, str(tmp_path / "ref.csv"), artifact_path="data")
    keys = [obj["Key"] for obj in s3_client.list_objects_v2(Bucket=s3_env)["Contents"]]
    assert any(key.endswith(f"{run.info.run_id}/artifacts/data/ref.csv") for key in keys)
    assert_table(load_table(f"runs:/{run.info.run_id}/data/ref.csv", tracking_uri=server))
