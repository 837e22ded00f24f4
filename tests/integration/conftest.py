"""Real servers for integration tests: a moto S3 server and MLflow tracking servers.

Every server binds to 127.0.0.1 on a free port, logs to a file, and is always stopped.

* ``moto_server`` (session): the endpoint URL of a standalone moto server (S3 over HTTP).
* ``s3_env`` (function): points boto3 and MLflow at moto with test credentials; yields a fresh,
  empty bucket's name. ``s3_client`` is a boto3 client for it, to put test objects.
* ``moto_enforce_auth`` (function): call it to make moto check credentials until the test ends.
* ``mlflow_server`` (module): the URI of an ``mlflow server`` with a SQLite store and proxied
  local artifacts (``mlflow-artifacts:/``); tests share it, so give experiments unique names.
* ``start_mlflow_server`` (function): start servers with other stores, artifact destinations,
  arguments or environment; each is stopped when the test ends.
* ``server_log`` (function): read the log of a server these fixtures started, by its URL.
"""

from __future__ import annotations

import contextlib
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest
from helpers.servers import (
    SERVER_LOGS,
    mysql_database,
    postgres_database,
    run_mlflow_server,
    run_server,
    server_env,
)

# --- S3 (moto) ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A standalone moto server (real S3 protocol over HTTP); yields its endpoint URL."""
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    with run_server(
        lambda port: [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        ready_path="/moto-api/",
        log_path=log_path,
        env=server_env(),
        name="moto server",
    ) as url:
        yield url


@pytest.fixture
def s3_env(moto_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3 and MLflow at moto with test credentials; return a fresh bucket's name.

    Sets ``MLFLOW_S3_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID=testing``,
    ``AWS_SECRET_ACCESS_KEY=testing`` and ``AWS_DEFAULT_REGION=us-east-1``, and hides the
    developer's AWS profile, config files and other endpoint variables.
    """
    import boto3

    for key in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
    ):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config-absent"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials-absent"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    bucket = f"test-{uuid.uuid4().hex[:16]}"
    boto3.client("s3", endpoint_url=moto_server).create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture
def s3_client(s3_env: str, moto_server: str) -> Any:
    """A boto3 S3 client for the moto server, with the test credentials of ``s3_env``."""
    import boto3

    return boto3.client("s3", endpoint_url=moto_server)


def _post(url: str, body: bytes) -> None:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "text/plain"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


@pytest.fixture
def moto_enforce_auth(moto_server: str) -> Iterator[Callable[[], None]]:
    """Yield a function that makes moto check credentials (IAM) until the test ends.

    By default moto accepts any credentials. Set up buckets and objects first, then call the
    function: from then on unknown keys get ``InvalidAccessKeyId``, a wrong secret
    ``SignatureDoesNotMatch`` and a known key without a policy ``AccessDenied``.
    """

    def enforce() -> None:
        _post(f"{moto_server}/moto-api/reset-auth", b"0")

    try:
        yield enforce
    finally:
        _post(f"{moto_server}/moto-api/reset-auth", b"inf")


# --- MLflow tracking servers ---------------------------------------------------------------------


class StartMlflowServer(Protocol):
    """Signature of the ``start_mlflow_server`` fixture's value."""

    def __call__(
        self,
        *,
        backend_store_uri: str | None = None,
        artifacts_destination: str | None = None,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> str: ...


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``mlflow server`` (SQLite store, proxied local artifacts); yields its URI.

    Shared by the tests of a module: create experiments and models with unique names.
    """
    with run_mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as url:
        yield url


@pytest.fixture
def start_mlflow_server(tmp_path: Path) -> Iterator[StartMlflowServer]:
    """Yield a function that starts an ``mlflow server`` and returns its URI.

    Keyword arguments: ``backend_store_uri`` (default: a SQLite file in ``tmp_path``),
    ``artifacts_destination`` (default: a folder in ``tmp_path``; e.g. ``s3://<bucket>`` with
    ``s3_env``), ``extra_args`` for the CLI and ``env``, added to the test's environment (which
    the server inherits, ``MLFLOW_S3_ENDPOINT_URL`` included). Servers stop when the test ends.
    """
    with contextlib.ExitStack() as stack:
        count = 0

        def start(
            *,
            backend_store_uri: str | None = None,
            artifacts_destination: str | None = None,
            extra_args: Sequence[str] = (),
            env: Mapping[str, str] | None = None,
        ) -> str:
            nonlocal count
            count += 1
            return stack.enter_context(
                run_mlflow_server(
                    tmp_path / f"mlflow-server-{count}",
                    backend_store_uri=backend_store_uri,
                    artifacts_destination=artifacts_destination,
                    extra_args=extra_args,
                    env=env,
                    keep_mlflow_vars=True,
                )
            )

        yield start


@pytest.fixture
def server(mlflow_server: str, monkeypatch: pytest.MonkeyPatch, request: Any) -> Iterator[Any]:
    """A client of the module's tracking server, which is the process default meanwhile, in
    an experiment of this test's own (``MLFLOW_EXPERIMENT_NAME``)."""
    import mlflow
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", request.node.name)
    mlflow.set_tracking_uri(mlflow_server)
    try:
        yield MlflowClient(mlflow_server)
    finally:
        mlflow.set_tracking_uri(None)


@pytest.fixture
def server_log() -> Callable[[str], str]:
    """A function returning what the server at a URL (started by these fixtures) has logged."""

    def read(url: str) -> str:
        return SERVER_LOGS[url].read_text(errors="replace")

    return read


# --------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards.

    Skips where PostgreSQL is unreachable, except under ``CI=true``, where it must run.
    """
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def module_postgres_url() -> Iterator[str]:
    """Like ``postgres_url``, but one fresh database shared by the tests of a module."""
    with postgres_database() as url:
        yield url


# --------------------------------------------------------------------------------------------
# MySQL / MariaDB
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def module_mysql_url() -> Iterator[str]:
    """A fresh MySQL/MariaDB database shared by the tests of a module (``mysql_database``)."""
    with mysql_database() as url:
        yield url


@pytest.fixture(scope="module")
def start_module_mlflow_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[StartMlflowServer]:
    """Like ``start_mlflow_server``, but the servers live until the module's tests end.

    The servers start without the developer's MLFLOW_* variables; pass what they need in
    ``env``. Share them between tests with unique experiment and model names.
    """
    with contextlib.ExitStack() as stack:

        def start(
            *,
            backend_store_uri: str | None = None,
            artifacts_destination: str | None = None,
            extra_args: Sequence[str] = (),
            env: Mapping[str, str] | None = None,
        ) -> str:
            return stack.enter_context(
                run_mlflow_server(
                    tmp_path_factory.mktemp("mlflow-server"),
                    backend_store_uri=backend_store_uri,
                    artifacts_destination=artifacts_destination,
                    extra_args=extra_args,
                    env=env,
                )
            )

        yield start
