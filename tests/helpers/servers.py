"""Servers for tests: free ports, server processes that always stop, ``mlflow server``, and
fresh PostgreSQL databases.

Every server binds to 127.0.0.1 on a free port and logs to a file; the fixtures in
``tests/integration/conftest.py`` and ``tests/ui/conftest.py`` start them through these.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

_STARTUP_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 10.0
_START_ATTEMPTS = 3  # a port picked as free can be taken before the server binds it
_LOG_TAIL_CHARS = 6000


#: The log file of each server started here, by its URL (see the ``server_log`` fixture).
SERVER_LOGS: dict[str, Path] = {}


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (nothing listens on it now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(
    extra: Mapping[str, str] | None = None, *, keep_mlflow_vars: bool = False
) -> dict[str, str]:
    """The current environment plus ``extra``, by default without MLFLOW_* variables.

    Session- and module-scoped servers start before the autouse fixture that clears a
    developer's MLFLOW_* variables, so they drop them here. Function-scoped servers keep them:
    by then every MLFLOW_* variable was set by the test on purpose (``s3_env``, say).
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if keep_mlflow_vars or not key.startswith("MLFLOW_")
    }
    env.update(extra or {})
    return env


def _log_tail(log_path: Path) -> str:
    try:
        return log_path.read_text(errors="replace")[-_LOG_TAIL_CHARS:]
    except OSError:
        return "<no log>"


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop ``process`` and the children it spawned (mlflow server runs uvicorn as a child)."""
    # On POSIX signal the whole process group we created, even when the leader has already
    # exited: its children may still run.
    with contextlib.suppress(ProcessLookupError):
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGTERM)
        elif process.poll() is None:
            process.terminate()
    try:
        process.wait(timeout=_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            if os.name == "posix":
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
        process.wait(timeout=_STOP_TIMEOUT_S)


@contextlib.contextmanager
def run_server(
    make_command: Callable[[int], Sequence[str]],
    *,
    ready_path: str,
    log_path: Path,
    env: Mapping[str, str],
    name: str,
) -> Iterator[str]:
    """Start ``make_command(port)``, wait until ``ready_path`` answers 200, yield the base URL.

    Fails the test with the server's log if it exits or does not answer within the timeout.
    """
    failure = ""
    for _ in range(_START_ATTEMPTS):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                list(make_command(port)),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env),
                start_new_session=True,  # own process group, so _stop reaches its children
            )
        try:
            failure = _wait_until_ready(process, url + ready_path)
            if not failure:
                SERVER_LOGS[url] = log_path
                yield url
                return
        finally:
            _stop(process)
        if "timed out" in failure:
            break
    pytest.fail(f"{name} did not start: {failure}. Server log:\n{_log_tail(log_path)}")


def _wait_until_ready(process: subprocess.Popen[bytes], url: str) -> str:
    """Poll ``url``; return ``""`` once it answers 200, else why the server is not ready."""
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"it exited with code {process.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return ""
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    return f"{url} timed out after {_STARTUP_TIMEOUT_S:.0f}s"


def run_mlflow_server(
    workdir: Path,
    *,
    backend_store_uri: str | None = None,
    artifacts_destination: str | None = None,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    keep_mlflow_vars: bool = False,
) -> contextlib.AbstractContextManager[str]:
    """Run ``mlflow server`` in ``workdir`` (its log, and by default its store and artifacts).

    Args:
        workdir: Holds ``server.log``, and ``mlflow.db`` and ``artifacts/`` unless given.
        backend_store_uri: The store; by default a SQLite file in ``workdir``.
        artifacts_destination: Where proxied artifacts go; by default a folder in ``workdir``.
        extra_args: More ``mlflow server`` options (``--registry-store-uri``, ``--workers``).
        env: Added to the server's environment.
        keep_mlflow_vars: Pass the test's MLFLOW_* variables on (see ``server_env``).

    Returns:
        A context manager that yields the server's URL and stops it on exit.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    backend = backend_store_uri or f"sqlite:///{workdir / 'mlflow.db'}"
    artifacts = artifacts_destination or str(workdir / "artifacts")

    def command(port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            backend,
            "--artifacts-destination",
            artifacts,
            "--workers",
            "1",
            *extra_args,
        ]

    # The job runner starts a fleet of huey consumers and slows startup; no test needs it.
    environment = server_env(
        {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(env or {})},
        keep_mlflow_vars=keep_mlflow_vars,
    )
    return run_server(
        command,
        ready_path="/health",
        log_path=workdir / "server.log",
        env=environment,
        name="mlflow server",
    )


# --- PostgreSQL ---------------------------------------------------------------------------------

POSTGRES_ADMIN_URL = os.environ.get(
    "MLFLOW_RETRAIN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """Create a fresh, empty PostgreSQL database; yield its URL; drop it afterwards.

    Skips the test where PostgreSQL is unreachable, except under ``CI=true``, where it must
    run. ``MLFLOW_RETRAIN_TEST_POSTGRES`` names the server's admin database.
    """
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dev dependency
        pytest.skip("psycopg is not installed (pip install '.[dev]')")
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as err:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"PostgreSQL is unreachable: {err.__class__.__name__}")
    name = f"mlflow_retrain_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
        try:
            yield f"{base}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


MYSQL_ADMIN_URL = os.environ.get(
    "MLFLOW_RETRAIN_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/mysql"
)


@contextlib.contextmanager
def mysql_database() -> Iterator[str]:
    """Create a fresh MySQL/MariaDB database; yield its URL; drop it afterwards.

    The server's default collation applies (MariaDB 10.11: ``utf8mb4_general_ci``, which
    compares without case or accents). Skips the test where MySQL is unreachable, except
    under ``CI=true``, where it must run. ``MLFLOW_RETRAIN_TEST_MYSQL`` names the server's
    admin database.
    """
    import sqlalchemy

    engine = sqlalchemy.create_engine(MYSQL_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        connection = engine.connect()
    except sqlalchemy.exc.OperationalError as err:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"MySQL is unreachable: {err.__class__.__name__}")
    name = f"mlflow_retrain_{uuid.uuid4().hex[:12]}"
    try:
        with connection:
            connection.execute(sqlalchemy.text(f"CREATE DATABASE `{name}`"))
            try:
                yield f"{MYSQL_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
            finally:
                connection.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS `{name}`"))
    finally:
        engine.dispose()
